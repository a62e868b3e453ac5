/**
 * The decision flow's outputs, digested: runs bench/decisions.bench.ts's workload (same world,
 * seed and events) embedded and prints, per topic of the log, the record count and a digest of
 * every record (partition, offset, key, timestamp, headers, value bytes), and one digest over all
 * of them. Two builds that print the same digests wrote the same records in the same order, on
 * every topic (decisions, suppressions, exposures, stats, model, repartition hops). It also
 * prints the main thread's CPU time per event of the run, with commits every 40,000 records and
 * none by the wall clock (`runtime.commitIntervalMs` and `sweepIntervalMs` out of reach): the same
 * work however loaded the machine is, which the bench's wall-clock commits are not.
 *
 *   npx tsx bench/decisions-digest.ts [--users N] [--days N] [--packed-seconds-per-hour N] [--backend rocksdb|memory] [--topics]
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import materialStats from '../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../topologies/push-decisions.ts'
import { benchEvents, buildWorld, configRecords } from '../scripts/hermes-workload.ts'
import { openRunner } from './harness.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    days: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'rocksdb' },
    topics: { type: 'boolean', default: false },
    'packed-seconds-per-hour': { type: 'string' },
  },
})
const start = Date.UTC(2026, 10, 2)
const world = buildWorld({ users: Number(args.users), seed: 7 })
const dir = mkdtempSync(join(tmpdir(), 'hermes-decisions-digest-'))
const config = validateConfig({
  runtime: { stateDir: dir, stateBackend: args.backend, commitIntervalMs: 1_000_000_000, commitEveryRecords: 40_000, sweepIntervalMs: 1_000_000_000 },
  observability: { http: { enabled: false } },
})
const log = EmbeddedLog.inMemory()
const env = { settings: {} }
const runner = await openRunner({ topologies: [pushDecisions(env), materialStats(env)], config, log, backend: args.backend as string, dir })
const append = (topic: string, key: string, value: object, ts: number): void => {
  log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
}
for (const r of configRecords(world, TOPICS)) append(r.topic, r.key, r.value, 0)
await runner.run()
let events = 0
const packed = args['packed-seconds-per-hour'] === undefined ? undefined : Number(args['packed-seconds-per-hour'])
for (const e of benchEvents(world, start, Number(args.days), packed)) {
  append(TOPICS.events, e.userId as string, e, e.ts as number)
  events++
}
// (Node 22.19+; this project's @types/node predates it, as in decisions.bench.ts.)
const threadCpu = (process as unknown as { threadCpuUsage(prev?: NodeJS.CpuUsage): NodeJS.CpuUsage }).threadCpuUsage.bind(process)
const thread0 = threadCpu()
const stats = await runner.run()
const thread = threadCpu(thread0)
await runner.close()
rmSync(dir, { recursive: true, force: true })
const all = createHash('sha256')
const topics: { [topic: string]: string } = {}
for (const topic of [...log.topicNames()].sort()) {
  const h = createHash('sha256')
  let n = 0
  for (let p = 0; p < log.partitions(topic); p++) {
    for (let o = 0; o < log.endOffset(topic, p); o++) {
      const e = log.read(topic, p, o)
      if (!e) continue
      h.update(JSON.stringify([p, o, e.key, e.timestamp, e.headers ?? null]))
      h.update(e.value ?? Buffer.alloc(0))
      n++
    }
  }
  const d = `${n} ${h.digest('hex').slice(0, 16)}`
  topics[topic] = d
  all.update(`${topic} ${d}\n`)
}
process.stdout.write(
  `${JSON.stringify({
    users: Number(args.users),
    days: Number(args.days),
    ...(packed === undefined ? {} : { packedSecondsPerHour: packed }),
    behaviorEvents: events,
    recordsProcessed: stats.records,
    timersFired: stats.timersFired,
    commits: stats.commits,
    mainThreadCpuUsPerEvent: +((thread.user + thread.system) / events).toFixed(1),
    digest: all.digest('hex').slice(0, 16),
    ...(args.topics ? { topics } : {}),
  })}\n`,
)
