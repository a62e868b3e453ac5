/**
 * Engine benchmark: a keyed stateful topology (per-user counters in a value store plus a sliding
 * window store, RocksDB state) run embedded over pre-loaded events. Prints throughput, sampled
 * per-record latency percentiles and peak RSS. Figures only: nothing here asserts a speed.
 *
 *   npm run bench -- [--events N] [--users N] [--backend rocksdb|memory]
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { TopologyBuilder, jsonSerde, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { Processor, ProcessorContext } from '../pipeline/api/index.ts'
import { validateConfig } from '../pipeline/config/load.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import { mulberry32 } from '../operators/ids.ts'
import { drain, latencyUs, openRunner, trackPeakRss } from './harness.ts'

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
const rand = mulberry32(7)
const t0 = Date.UTC(2026, 10, 1)
const loadStart = performance.now()
for (let i = 0; i < EVENTS; i++) {
  const userId = `u${Math.floor(rand() * USERS)}`
  const ev: Ev = { eventId: `e${i}`, userId, type: 'view', ts: t0 + i * 10 }
  log.append('events', partitionFor(userId, PARTITIONS), userId, Buffer.from(JSON.stringify(ev)), ev.ts)
}
const loadMs = performance.now() - loadStart

const peakRss = trackPeakRss()
const stats = await drain(await openRunner({ topologies: [topology], config, log, backend: args.backend as string, dir }), dir)
const peakRssMiB = peakRss()

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
  latencyUs: latencyUs(stats.latencySamplesUs),
  commits: stats.commits,
  peakRssMiB,
  node: process.version,
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
