/**
 * Decision-flow benchmark: the push-decisions and material-stats topologies, embedded, over a
 * synthetic world's events (users in several time zones, tasks of all three trigger types,
 * RocksDB state). Prints behavior events/s, records/s, sampled per-record latency and peak RSS.
 * Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/decisions.bench.ts [--users N] [--days N] [--packed-seconds-per-hour N] [--backend rocksdb|memory] [--log memory|file]
 *
 * `--log file` runs on a file-backed embedded log, as `hermes run` and `npm start` do; the default
 * in-memory log keeps every record of the run in the heap (it has no file to read them back from).
 * `--packed-seconds-per-hour N` packs each hour of the events into N seconds of event time
 * (scripts/hermes-workload.ts `packEvents`), as decisions-kafka.bench.ts does with the same option;
 * `outputsDigest` (bench/decisions-outputs.ts) is then comparable between the two.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import materialStats from '../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../topologies/push-decisions.ts'
import { benchEvents, buildWorld, configRecords, eventTimeDensity } from '../scripts/hermes-workload.ts'
import { perKeyDigest } from './decisions-outputs.ts'
import type { KeyedValue } from './decisions-outputs.ts'
import { latencyUs, openRunner, trackPeakRss } from './harness.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    days: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'rocksdb' },
    log: { type: 'string', default: 'memory' },
    'packed-seconds-per-hour': { type: 'string' },
  },
})
const USERS = Number(args.users)
const DAYS = Number(args.days)
const PACKED = args['packed-seconds-per-hour'] === undefined ? undefined : Number(args['packed-seconds-per-hour'])
const start = Date.UTC(2026, 10, 2)

const world = buildWorld({ users: USERS, seed: 7 })
const dir = mkdtempSync(join(tmpdir(), 'hermes-decisions-bench-'))
const config = validateConfig({ runtime: { stateDir: dir, stateBackend: args.backend }, observability: { http: { enabled: false } } })
const log = args.log === 'file' ? EmbeddedLog.open(join(dir, 'log')) : EmbeddedLog.inMemory()
const env = { settings: {} }
const topologies = [pushDecisions(env), materialStats(env)]
const peakRss = trackPeakRss()
const runner = await openRunner({ topologies, config, log, backend: args.backend as string, dir })
const append = (topic: string, key: string, value: object, ts: number): void => {
  log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
}
for (const r of configRecords(world, TOPICS)) append(r.topic, r.key, r.value, 0)
await runner.run()
let events = 0
const genStart = performance.now()
const generated = benchEvents(world, start, DAYS, PACKED)
for (const e of generated) {
  append(TOPICS.events, e.userId as string, e, e.ts as number)
  events++
}
const genMs = performance.now() - genStart
// CPU time as well as wall time: on a shared machine the wall clock measures the neighbours too.
const cpu0 = process.cpuUsage()
// The main thread's own CPU time: what a loaded machine's neighbours disturb least (no GC helper
// or RocksDB threads in it), so before/after ratios are read from it first.
// (Node 22.19+; this project's @types/node predates it.)
const threadCpu = (process as unknown as { threadCpuUsage(prev?: NodeJS.CpuUsage): NodeJS.CpuUsage }).threadCpuUsage.bind(process)
const thread0 = threadCpu()
const stats = await runner.run()
const thread = threadCpu(thread0)
await runner.close()
const cpu = process.cpuUsage(cpu0)
const peakRssMiB = peakRss()
const mem = process.memoryUsage()
// What the in-memory embedded log holds at the end: every record of the run (inputs, outputs,
// repartition and changelog-free internal topics), kept by this benchmark's in-memory log.
let logRecords = 0
let logValueBytes = 0
// Where the records went: inputs, outputs and the internal (repartition) hops between tasks.
const recordsByTopic: { [topic: string]: number } = {}
for (const topic of log.topicNames()) {
  for (let p = 0; p < log.partitions(topic); p++) {
    recordsByTopic[topic] = (recordsByTopic[topic] ?? 0) + log.endOffset(topic, p)
    for (let o = 0; o < log.endOffset(topic, p); o++) {
      logRecords++
      logValueBytes += log.read(topic, p, o)?.value?.length ?? 0
    }
  }
}
rmSync(dir, { recursive: true, force: true })
const records = (topic: string): KeyedValue[] => {
  const out: KeyedValue[] = []
  for (let p = 0; p < log.partitions(topic); p++) {
    for (let o = 0; o < log.endOffset(topic, p); o++) {
      const e = log.read(topic, p, o)
      out.push({ key: e?.key ?? null, value: e?.value ?? null })
    }
  }
  return out
}
const count = (topic: string): number => [...Array(log.partitions(topic)).keys()].reduce((n, p) => n + log.endOffset(topic, p), 0)
const decisions = count(TOPICS.decisions)
const suppressions = count(TOPICS.suppressions)
const seconds = stats.elapsedMs / 1000
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'decision flow: push-decisions + material-stats, embedded',
      backend: args.backend,
      log: args.log,
      users: USERS,
      days: DAYS,
      packedSecondsPerHour: PACKED ?? null,
      eventsPerSecondOfEventTime: eventTimeDensity(generated),
      behaviorEvents: events,
      recordsProcessed: stats.records,
      timersFired: stats.timersFired,
      decisions,
      suppressions,
      outputsDigest: { decisions: perKeyDigest(records(TOPICS.decisions)), suppressions: perKeyDigest(records(TOPICS.suppressions)) },
      generateSeconds: +(genMs / 1000).toFixed(2),
      runSeconds: +seconds.toFixed(2),
      eventsPerSecond: Math.round(events / seconds),
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      cpuUsPerEvent: +((cpu.user + cpu.system) / events).toFixed(1),
      mainThreadCpuUsPerEvent: +((thread.user + thread.system) / events).toFixed(1),
      recordsPerSecond: Math.round(stats.records / seconds),
      latencyUs: latencyUs(stats.latencySamplesUs),
      peakRssMiB,
      endRssMiB: Math.round(mem.rss / 1048576),
      endHeapUsedMiB: Math.round(mem.heapUsed / 1048576),
      logRecords,
      recordsByTopic,
      logValueMiB: +(logValueBytes / 1048576).toFixed(1),
      node: process.version,
    },
    null,
    2,
  )}\n`,
)
