/**
 * Windows benchmark: the activity-counts topology (a tumbling 1 h window and a 30 min session
 * window, both with grace, per user) run embedded over the seeded sample workload, pre-loaded into
 * an in-memory log. Every record registers timers, so this measures the window operators, the
 * timer queue and the commit of both. Prints throughput, sampled per-record latency percentiles
 * and peak RSS. Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/windows.bench.ts [--events N] [--users N] [--days N] [--backend rocksdb|memory]
 *
 * By default there are events / 40 users over 3 days: the density of `npm start`.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import { generateEvents } from '../scripts/workload.ts'
import activityCounts from '../topologies/activity-counts.ts'
import { drain, latencyUs, openRunner, trackPeakRss } from './harness.ts'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    users: { type: 'string' },
    days: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'rocksdb' },
    partitions: { type: 'string', default: '4' },
  },
})
const EVENTS = Number(args.events)
const USERS = args.users === undefined ? Math.max(1, Math.round(EVENTS / 40)) : Number(args.users)
const DAYS = Number(args.days)
const PARTITIONS = Number(args.partitions)

const topology = activityCounts({ settings: {} })
const dir = mkdtempSync(join(tmpdir(), 'hermes-windows-bench-'))
const config = validateConfig({
  runtime: { stateDir: dir, stateBackend: args.backend },
  topics: { defaultPartitions: PARTITIONS },
  observability: { http: { enabled: false } },
})

const loadStart = performance.now()
const log = EmbeddedLog.inMemory()
log.createTopic('behavior-events', PARTITIONS)
for (const line of generateEvents({ events: EVENTS, users: USERS, days: DAYS, seed: 42 })) {
  // Malformed lines keep a null key and timestamp 0, as the file loader does; they go to the DLQ.
  let key: string | null = null
  let ts = 0
  try {
    const v = JSON.parse(line) as { userId?: unknown; ts?: unknown }
    if (typeof v.userId === 'string') key = v.userId
    if (typeof v.ts === 'number') ts = v.ts
  } catch {}
  log.append('behavior-events', partitionFor(key ?? '', PARTITIONS), key, Buffer.from(line, 'utf8'), ts)
}
const loadMs = performance.now() - loadStart

const peakRss = trackPeakRss()
const stats = await drain(await openRunner({ topologies: [topology], config, log, backend: args.backend as string, dir }), dir)
const peakRssMiB = peakRss()

const out = {
  benchmark: 'windows: activity-counts (tumbling 1h + session 30m, grace 5m), embedded',
  backend: args.backend,
  events: stats.records,
  users: USERS,
  days: DAYS,
  partitions: PARTITIONS,
  loadSeconds: +(loadMs / 1000).toFixed(2),
  runSeconds: +(stats.elapsedMs / 1000).toFixed(2),
  eventsPerSecond: Math.round(stats.records / (stats.elapsedMs / 1000)),
  latencyUs: latencyUs(stats.latencySamplesUs),
  timersFired: stats.timersFired,
  deadLetters: stats.deadLetters,
  commits: stats.commits,
  peakRssMiB,
  node: process.version,
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
