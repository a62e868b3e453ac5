/**
 * Decision-flow benchmark: the push-decisions and material-stats topologies, embedded, over a
 * synthetic world's events (users in several time zones, tasks of all three trigger types,
 * RocksDB state). Prints behavior events/s, records/s, sampled per-record latency and peak RSS.
 * Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/decisions.bench.ts [--users N] [--days N] [--backend rocksdb|memory]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'hdr-histogram-js'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../pipeline/embedded/runner.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import materialStats from '../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../topologies/push-decisions.ts'
import { buildWorld, eventsForHour } from '../scripts/hermes-workload.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    days: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'rocksdb' },
  },
})
const USERS = Number(args.users)
const DAYS = Number(args.days)
const HOUR = 3_600_000
const start = Date.UTC(2026, 10, 2)

const world = buildWorld({ users: USERS, seed: 7 })
const dir = mkdtempSync(join(tmpdir(), 'hermes-decisions-bench-'))
const config = validateConfig({ runtime: { stateDir: dir, stateBackend: args.backend }, observability: { http: { enabled: false } } })
const log = EmbeddedLog.inMemory()
const env = { settings: {} }
const topologies = [pushDecisions(env), materialStats(env)]
let peakRss = process.memoryUsage().rss
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}, 50)
const runner = await EmbeddedRunner.open({
  topologies,
  config,
  log,
  state: args.backend === 'memory' ? { kind: 'memory', maps: new Map() } : { kind: 'rocksdb', dir: join(dir, 'state') },
  logger: createLogger({ level: 'error' }),
})
const append = (topic: string, key: string, value: object, ts: number): void => {
  log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
}
for (const m of world.materials) append(TOPICS.materials, m.materialId, m, 0)
for (const t of world.tasks) append(TOPICS.tasks, (t as { taskId: string }).taskId, t, 0)
for (const u of world.users) {
  append(TOPICS.users, u.userId, { userId: u.userId, timezone: u.timezone, pushEnabled: u.pushEnabled }, 0)
  for (const s of u.segments) append(TOPICS.audiences, u.userId, { userId: u.userId, segmentId: s, member: true }, 0)
}
await runner.run()
let events = 0
const genStart = performance.now()
for (let h = 0; h < DAYS * 24; h++) {
  for (const e of eventsForHour(world, start + h * HOUR, 1000 + h)) {
    append(TOPICS.events, e.userId as string, e, e.ts as number)
    events++
  }
}
const genMs = performance.now() - genStart
const stats = await runner.run()
const decisions = [0, 1, 2, 3].reduce((n, p) => n + log.endOffset(TOPICS.decisions, p), 0)
const suppressions = [0, 1, 2, 3].reduce((n, p) => n + log.endOffset(TOPICS.suppressions, p), 0)
await runner.close()
clearInterval(rssTimer)
peakRss = Math.max(peakRss, process.memoryUsage().rss)
rmSync(dir, { recursive: true, force: true })

const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: 3 })
for (const us of stats.latencySamplesUs) hist.recordValue(Math.max(1, Math.round(us * 1000)))
const seconds = stats.elapsedMs / 1000
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'decision flow: push-decisions + material-stats, embedded',
      backend: args.backend,
      users: USERS,
      days: DAYS,
      behaviorEvents: events,
      recordsProcessed: stats.records,
      timersFired: stats.timersFired,
      decisions,
      suppressions,
      generateSeconds: +(genMs / 1000).toFixed(2),
      runSeconds: +seconds.toFixed(2),
      eventsPerSecond: Math.round(events / seconds),
      recordsPerSecond: Math.round(stats.records / seconds),
      latencyUs: { p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000, p999: hist.getValueAtPercentile(99.9) / 1000 },
      peakRssMiB: Math.round(peakRss / 1048576),
      node: process.version,
    },
    null,
    2,
  )}\n`,
)
