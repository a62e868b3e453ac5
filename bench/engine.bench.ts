/**
 * Engine benchmark: a keyed stateful topology (per-user counters in a value store plus a sliding
 * window store, RocksDB state) run embedded over pre-loaded events. Prints throughput, sampled
 * per-record latency percentiles and peak RSS. Figures only: nothing here asserts a speed.
 *
 *   npm run bench -- [--events N] [--users N] [--backend rocksdb|memory]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'hdr-histogram-js'
import { TopologyBuilder, jsonSerde, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { Processor, ProcessorContext } from '../pipeline/api/index.ts'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../pipeline/embedded/runner.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '100000' },
    backend: { type: 'string', default: 'rocksdb' },
    partitions: { type: 'string', default: '4' },
    /** `false` drops the sliding-window store: a plain per-user counter. */
    window: { type: 'string', default: 'true' },
  },
})
const EVENTS = Number(args.events)
const USERS = Number(args.users)
const PARTITIONS = Number(args.partitions)
const WINDOW = args.window !== 'false'

interface Ev { eventId: string; userId: string; type: string; ts: number }
interface Out { userId: string; total: number; lastHour: number }

function counter(): Processor<Ev, Out> {
  let ctx!: ProcessorContext<Out>
  return {
    init(c) { ctx = c },
    process(r) {
      const total = ctx.valueStore<number>('total')
      const n = (total.get() ?? 0) + 1
      total.put(n)
      let lastHour = 0
      if (WINDOW) {
        const recent = ctx.windowStore('recent')
        recent.add(r.timestamp)
        lastHour = recent.sum(r.timestamp - 3_600_000, r.timestamp)
      }
      // Emit one summary per 10 events of a user, as a real aggregation would.
      if (n % 10 === 0) ctx.forward(r.withValue({ userId: r.value.userId, total: n, lastHour }))
    },
  }
}

const b = new TopologyBuilder('engine-bench')
b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
  .process('count', counter, { stores: WINDOW ? { total: valueStore(), recent: windowStore({ retentionMs: 3_600_000 }) } : { total: valueStore() } })
  .to('out', { topic: 'user-counts', serde: jsonSerde() })
const topology = b.build()

const dir = mkdtempSync(join(tmpdir(), 'hermes-bench-'))
const config = validateConfig({
  runtime: { stateDir: dir, stateBackend: args.backend },
  topics: { defaultPartitions: PARTITIONS },
  observability: { http: { enabled: false } },
})
const log = EmbeddedLog.inMemory()
log.createTopic('events', PARTITIONS)
let seed = 7
const rand = (): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const t0 = Date.UTC(2026, 10, 1)
const loadStart = performance.now()
for (let i = 0; i < EVENTS; i++) {
  const userId = `u${Math.floor(rand() * USERS)}`
  const ev: Ev = { eventId: `e${i}`, userId, type: 'view', ts: t0 + i * 10 }
  log.append('events', partitionFor(userId, PARTITIONS), userId, Buffer.from(JSON.stringify(ev)), ev.ts)
}
const loadMs = performance.now() - loadStart

let peakRss = process.memoryUsage().rss
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}, 50)
const runner = await EmbeddedRunner.open({
  topologies: [topology],
  config,
  log,
  state: args.backend === 'memory' ? { kind: 'memory', maps: new Map() } : { kind: 'rocksdb', dir: join(dir, 'state') },
  logger: createLogger({ level: 'warn' }),
})
const stats = await runner.run()
await runner.close()
clearInterval(rssTimer)
peakRss = Math.max(peakRss, process.memoryUsage().rss)
rmSync(dir, { recursive: true, force: true })

const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 })
for (const us of stats.latencySamplesUs) hist.recordValue(Math.max(1, Math.round(us * 1000))) // ns
const rate = stats.records / (stats.elapsedMs / 1000)
const out = {
  benchmark: `engine: keyed stateful topology (value store${WINDOW ? ' + sliding window store' : ''}), embedded`,
  backend: args.backend,
  events: stats.records,
  users: USERS,
  partitions: PARTITIONS,
  loadSeconds: +(loadMs / 1000).toFixed(2),
  runSeconds: +(stats.elapsedMs / 1000).toFixed(2),
  eventsPerSecond: Math.round(rate),
  latencyUs: { p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99), p999: hist.getValueAtPercentile(99.9) / 1000 },
  commits: stats.commits,
  peakRssMiB: Math.round(peakRss / 1048576),
  node: process.version,
}
out.latencyUs.p99 = out.latencyUs.p99 / 1000
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
