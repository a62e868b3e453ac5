/**
 * Kafka runner benchmark against a running broker (scripts/kafka/start.sh):
 *   npx tsx scripts/kafka/bench.ts [--events 200000] [--rate 2000] [--seconds 20] [--guarantee at_least_once|exactly_once]
 *     [--commit-interval-ms N] (default: the runtime's, 100 ms exactly-once, 5000 ms at-least-once)
 *     [--format json|avro] (avro: events as Confluent-wire Avro, schemas/behavior-event.avsc, through
 *     the schema registry of scripts/registry/start.sh)
 * 1. throughput: a backlog of events is produced first, then one process works through it
 *    (hourly windows per user, a repartition by type and a running count per type);
 * 2. latency: events are produced at a steady rate with ts = wall clock, and the time from
 *    producing an event to reading its running-count output (read_committed) is measured: once
 *    the runner is ready (`/readyz`) and the reader has joined, `--warmup-seconds` (default 5) at
 *    the same rate whose events are not counted, then `--seconds` measured; the p99 is also given
 *    per 2 s of sending, so that a pause shows. `--warmup-seconds 0`: the earlier bench (a fixed
 *    3 s after starting the runner, then measured at once, its warm-up counted);
 * 3. restore: a new instance rebuilds the state of step 1 from the changelogs.
 * Prints the numbers; nothing is asserted. `--max-ahead-ms` sets the runner's `maxAheadMs`.
 *
 * For the side-by-side run with Kafka Streams (bench/peer/compare.ts, the peer generates the same
 * events: bench/peer/workload.ts): `--input-topic T` reads an existing backlog of `--events`
 * events instead of producing one, `--measure throughput,restore,latency` picks the steps,
 * `--id ID` names this run's topics and groups, and `--json-out FILE` writes the figures as JSON
 * (bench/peer/result.ts).
 *
 * For several processes of one application (bench/peer/scale.ts): `--until-signal` keeps the
 * throughput step running until SIGTERM or SIGINT instead of stopping once idle for 200 ms. A
 * process of a group that goes idle would leave it while its peers still write to the repartition
 * partitions it holds, and the rebalance that follows would be timed as work; the driver, which
 * reads the outputs, knows when the backlog is done and stops every process then.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import type { BenchResult } from '../../bench/peer/result.ts'
import { backlogEvents, liveEvent, produceEvents } from '../../bench/peer/workload.ts'
import type { BenchEvent } from '../../bench/peer/workload.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Aggregator, Processor, ProcessorContext, Topology } from '../../pipeline/api/index.ts'
import { loadConfig } from '../../pipeline/config/load.ts'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { SchemaRegistryClient } from '../../pipeline/registry/client.ts'
import { avroSerde, registeredSchema } from '../../pipeline/registry/formats.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt
}
const EVENTS = Number(arg('events', '200000'))
const RATE = Number(arg('rate', '2000'))
const SECONDS = Number(arg('seconds', '20'))
const GUARANTEE = arg('guarantee', 'at_least_once')
const BROKERS = arg('brokers', '127.0.0.1:9092').split(',')
const PARTITIONS = 4
const AHEAD = arg('max-ahead-ms', '')
const ahead = AHEAD === '' ? {} : { maxAheadMs: Number(AHEAD) }
const INTERVAL = arg('commit-interval-ms', '')
const FORMAT = arg('format', 'json')
const INPUT_TOPIC = arg('input-topic', '')
const MEASURE = new Set(arg('measure', 'throughput,restore,latency').split(','))
const JSON_OUT = arg('json-out', '')
const UNTIL_SIGNAL = process.argv.includes('--until-signal')
const WARMUP_SECONDS = Number(arg('warmup-seconds', '5'))
if (!Number.isInteger(WARMUP_SECONDS) || WARMUP_SECONDS < 0) throw new Error(`--warmup-seconds must be a whole number of seconds, got ${WARMUP_SECONDS}`)

type Ev = BenchEvent
const count: Aggregator<Ev, number> = { init: () => 0, add: (n) => n + 1 }

function topology(app: string, input: string, out: string): Topology {
  const b = new TopologyBuilder(app)
  const events = b.source<Ev>('events', { topic: input, serde: jsonObjectSerde<Ev>(), keyField: 'userId', timestampField: 'ts' })
  events.window('hourly', { window: { type: 'tumbling', sizeMs: 3_600_000 }, graceMs: 60_000, aggregate: count }).to('hourly-out', { topic: `${out}-hourly`, serde: jsonSerde() })
  const running = (): Processor<Ev, { eventId: string; n: number }> => {
    let ctx!: ProcessorContext<{ eventId: string; n: number }>
    return {
      init: (c) => void (ctx = c),
      process(r) {
        const s = ctx.valueStore<number>('n')
        const n = (s.get() ?? 0) + 1
        s.put(n)
        ctx.forward(r.withValue({ eventId: r.value.eventId, n }))
      },
    }
  }
  events.keyBy('by-type', (e) => e.type).process('running', running, { stores: { n: valueStore() } }).to('running-out', { topic: `${out}-running`, serde: jsonSerde() })
  return b.build()
}

const kafka = new Kafka({ clientId: 'hermes-bench', brokers: BROKERS, logLevel: logLevel.NOTHING })
const id = arg('id', `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`)
const [input, input2] = [INPUT_TOPIC || `bench-in-${id}`, `bench-live-in-${id}`]
const avroTopics = FORMAT === 'avro' ? { overrides: { [input]: { format: 'avro', schema: 'behavior-event' }, [input2]: { format: 'avro', schema: 'behavior-event' } } } : {}
// HERMES_BENCH_PRODUCER_THREAD=1|0 sets kafka.producer.thread (unset: the default), e.g. for
// compare.ts, which runs this script as a child.
const PRODUCER_THREAD = process.env.HERMES_BENCH_PRODUCER_THREAD ? { producer: { thread: process.env.HERMES_BENCH_PRODUCER_THREAD === '1' } } : {}
const config = loadConfig({
  dir: 'config',
  environment: {},
  overrides: { observability: { http: { enabled: false } }, kafka: { brokers: BROKERS, ...PRODUCER_THREAD }, topics: avroTopics, runtime: { guarantee: GUARANTEE, ...(INTERVAL === '' ? {} : { commitIntervalMs: Number(INTERVAL) }) } },
})
/** Event values as the producers write them: JSON, or Avro with the registered schema's id. */
const encoders = new Map<string, Promise<(e: Ev) => Buffer>>()
async function encoderFor(topic: string): Promise<(e: Ev) => Buffer> {
  if (FORMAT !== 'avro') return (e) => Buffer.from(JSON.stringify(e))
  const registry = new SchemaRegistryClient(config.schemaRegistry, createLogger({ level: 'warn' }))
  const serde = avroSerde(topic, await registeredSchema(topic, config, registry), registry)
  return (e) => serde.serialize(e)
}
async function encode(topic: string, e: Ev): Promise<Buffer> {
  let f = encoders.get(topic)
  if (!f) encoders.set(topic, (f = encoderFor(topic)))
  return (await f)(e)
}
const timings = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 20 }

async function produce(topic: string, events: Ev[]): Promise<void> {
  await produceEvents({ kafka, topic, partitions: PARTITIONS, events, encode: (e) => encode(topic, e) })
}

/** Creates a topic and waits for its leaders (polling metadata: kafkajs#1563, see KafkaAdmin). */
async function createTopic(topic: string): Promise<void> {
  const admin = new KafkaAdmin(kafka, createLogger({ level: 'warn' }), 1)
  await admin.connect()
  try {
    await admin.ensureTopics([{ topic, partitions: PARTITIONS }])
  } finally {
    await admin.disconnect()
  }
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<{ [k: string]: unknown }> } {
  const lines: Array<{ [k: string]: unknown }> = []
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { [k: string]: unknown })
      done()
    },
  })
  return { logger: createLogger({ level: 'info', destination }), lines }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
/** The latency's p99 is also given per this much of sending (by each event's send time). */
const WINDOW_MS = 2000
/** p99 per {@link WINDOW_MS} of sending from `t0`, over `seconds`; -1 for a window with no output read. */
function windowP99(latencies: ReadonlyArray<{ sent: number; ms: number }>, t0: number, seconds: number): number[] {
  const windows: number[][] = Array.from({ length: Math.ceil((seconds * 1000) / WINDOW_MS) }, () => [])
  for (const l of latencies) windows[Math.min(windows.length - 1, Math.floor((l.sent - t0) / WINDOW_MS))]?.push(l.ms)
  return windows.map((w) => (w.length ? pct(w.sort((a, b) => a - b), 99) : -1))
}

/** The latency runner's log, kept to find the port of its /readyz; warnings and errors still go to stderr. */
function runnerLog(): { logger: ReturnType<typeof createLogger>; port: () => number | undefined } {
  let port: number | undefined
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) {
        if (!l.trim()) continue
        const line = JSON.parse(l) as { level?: number; port?: number; msg?: string }
        if (line.msg === 'metrics on /metrics, health on /healthz and /readyz') port = line.port
        if ((line.level ?? 0) >= 40) process.stderr.write(`${l}\n`)
      }
      done()
    },
  })
  return { logger: createLogger({ level: 'info', destination }), port: () => port }
}

/** Resolves once the runner's /readyz answers 200 (polled every 50 ms, for at most 2 minutes). */
async function untilReady(log: { port: () => number | undefined }): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const port = log.port()
    if (port !== undefined) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)
      if (ok) return
    }
    if (Date.now() > deadline) throw new Error('the runner was not ready (/readyz) after 2 minutes')
    await new Promise((r) => setTimeout(r, 50))
  }
}
const root = mkdtempSync(join(tmpdir(), 'hermes-bench-'))
const result: BenchResult = {
  engine: 'hermes',
  version: process.version,
  guarantee: GUARANTEE as BenchResult['guarantee'],
  events: EVENTS,
  partitions: PARTITIONS,
  commitIntervalMs: config.runtime.commitIntervalMs ?? (GUARANTEE === 'exactly_once' ? 100 : 5000),
  id,
  throughput: null,
  restore: null,
  latency: null,
}
/** Written after each step, so a later step's failure keeps what the earlier ones measured. */
const save = (): void => {
  if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(result, null, 2)}\n`)
}
try {
  if (MEASURE.has('throughput')) {
    // 1. Throughput over a backlog.
    const app = `bench-${id}`
    if (!INPUT_TOPIC) {
      await createTopic(input)
      await produce(input, backlogEvents(EVENTS, Date.now()))
    }
    const cpu0 = process.cpuUsage()
    // The main thread's own share (the rest: the producer thread, if kafka.producer.thread, and Node's threads).
    // Node 22's process.threadCpuUsage, which the pinned @types/node 20 does not declare.
    const threadCpu = (process as unknown as { threadCpuUsage(prev?: NodeJS.CpuUsage): NodeJS.CpuUsage }).threadCpuUsage.bind(process)
    const main0 = threadCpu()
    const t0 = Date.now()
    const stop = new AbortController()
    if (UNTIL_SIGNAL) for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => stop.abort())
    const until = UNTIL_SIGNAL ? { signal: stop.signal } : { stopWhenIdleMs: 200 }
    const stats = await runKafka({ topologies: [topology(app, input, `bench-out-${id}`)], config, logger: createLogger({ level: 'warn' }), state: { kind: 'rocksdb', dir: join(root, 'a') }, ...until, timings, ...ahead })
    const secs = (Date.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const main = threadCpu(main0)
    const cpuPercent = Math.round((cpu.user + cpu.system) / 1e4 / secs)
    const mainPercent = Math.round((main.user + main.system) / 1e4 / secs)
    // Stopped by a signal, this process did a share of the backlog: its events/s mean nothing, the driver times the run.
    const share = UNTIL_SIGNAL ? ' (its share of the group\'s work, until stopped)' : ` = ${Math.round(EVENTS / secs)} events/s`
    console.log(`throughput (${GUARANTEE}, ${FORMAT}): ${EVENTS} events (${stats.records} record steps over 2 sub-topologies) in ${secs.toFixed(1)} s${share}, ${stats.commits} commits, cpu ${cpuPercent}% of one core (main thread ${mainPercent}%; ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s of CPU, main thread ${((main.user + main.system) / 1e6).toFixed(2)} s), producer thread ${config.kafka.producer.thread ? 'on' : 'off'}`)
    result.throughput = { events: EVENTS, seconds: +secs.toFixed(3), eventsPerSecond: Math.round(EVENTS / secs), commits: stats.commits, cpuPercent }
    save()

    if (MEASURE.has('restore')) {
      // 3. Restore of that state on a new instance.
      const { logger, lines } = capture()
      await runKafka({ topologies: [topology(app, input, `bench-out-${id}`)], config, logger, state: { kind: 'rocksdb', dir: join(root, 'b') }, stopWhenIdleMs: 200, timings })
      const restored = lines.filter((x) => x.msg === 'state restored')
      for (const l of restored) console.log(`restore: ${l.records} changelog records in ${l.ms} ms (${l.perSecond} records/s)`)
      const records = restored.reduce((n, l) => n + Number(l.records), 0)
      const ms = restored.reduce((n, l) => n + Number(l.ms), 0)
      result.restore = { records, ms, recordsPerSecond: Math.round((records / Math.max(ms, 1)) * 1000) }
      save()
    }
  }

  if (MEASURE.has('latency')) {
    // 2. Latency at a steady rate.
    const app2 = `bench-live-${id}`
    const out2 = `bench-live-out-${id}`
    await createTopic(input2)
    await createTopic(`${out2}-running`)
    const controller = new AbortController()
    // With a warm-up, readiness is the runner's /readyz (joined, tasks open and restored), served
    // on a free port, which its log names; Kafka Streams' side waits for State.RUNNING.
    const http = WARMUP_SECONDS > 0 ? runnerLog() : null
    const liveConfig = http ? { ...config, observability: { ...config.observability, http: { enabled: true, host: '127.0.0.1', port: 0 } } } : config
    const running = runKafka({ topologies: [topology(app2, input2, out2)], config: liveConfig, logger: http?.logger ?? createLogger({ level: 'warn' }), state: { kind: 'rocksdb', dir: join(root, 'c') }, signal: controller.signal, timings })
    /** Send time of each measured event (warm-up events are not in it, so their outputs are not counted). */
    const sentAt = new Map<string, number>()
    /** Per output read: its event's send time and its latency. */
    const latencies: Array<{ sent: number; ms: number }> = []
    const consumer = kafka.consumer({ groupId: `bench-reader-${id}`, maxWaitTimeInMs: 10 })
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
    await consumer.connect()
    await consumer.subscribe({ topic: `${out2}-running`, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const { eventId } = JSON.parse(message.value?.toString() ?? '{}') as { eventId: string }
        const t = sentAt.get(eventId)
        if (t !== undefined) latencies.push({ sent: t, ms: Date.now() - t })
      },
    })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const tick = 20
    let n = 0
    /** Produces at RATE for `seconds`, 20 ms ticks; `measured`: the events' send times are kept. */
    const produceFor = async (seconds: number, measured: boolean): Promise<number> => {
      const from = n
      const until = Date.now() + seconds * 1000
      while (Date.now() < until) {
        const batch: Ev[] = []
        for (let i = 0; i < (RATE * tick) / 1000; i++, n++) batch.push(liveEvent(n, Date.now()))
        const now = Date.now()
        if (measured) for (const e of batch) sentAt.set(e.eventId, now)
        const values = await Promise.all(batch.map((e) => encode(input2, e)))
        await producer.send({ topic: input2, messages: batch.map((e, j) => ({ key: e.userId, value: values[j] as Buffer, timestamp: String(e.ts), partition: partitionFor(e.userId, PARTITIONS) })) })
        await new Promise((r) => setTimeout(r, Math.max(0, tick - (Date.now() - now))))
      }
      return n - from
    }
    if (http) {
      const waited = Date.now()
      await Promise.race([Promise.all([untilReady(http), joined]), running.then(() => Promise.reject(new Error('the runner stopped before it was ready')))])
      const readyAfter = Date.now() - waited
      await produceFor(WARMUP_SECONDS, false)
      console.log(`latency: runner and reader ready after ${(readyAfter / 1000).toFixed(1)} s, then ${WARMUP_SECONDS} s of warm-up at ${RATE} events/s (not counted)`)
    } else await new Promise((r) => setTimeout(r, 3000)) // let the runner join and settle
    const t0 = Date.now()
    const produced = await produceFor(SECONDS, true)
    await new Promise((r) => setTimeout(r, 2000))
    await producer.disconnect()
    await consumer.disconnect()
    controller.abort()
    await running
    const sorted = latencies.map((l) => l.ms).sort((a, b) => a - b)
    const windows = windowP99(latencies, t0, SECONDS)
    console.log(`latency (${GUARANTEE}, ${FORMAT}) at ${RATE} events/s for ${SECONDS} s: ${sorted.length}/${produced} outputs, p50 ${pct(sorted, 50)} ms, p99 ${pct(sorted, 99)} ms, max ${sorted[sorted.length - 1]} ms`)
    console.log(`latency p99 per ${WINDOW_MS / 1000} s of sending, ms: ${windows.join(' ')}`)
    const last = sorted.length ? pct(sorted, 100) : -1
    result.latency = { rate: RATE, seconds: SECONDS, produced, received: sorted.length, p50Ms: sorted.length ? pct(sorted, 50) : -1, p99Ms: sorted.length ? pct(sorted, 99) : -1, maxMs: last, warmupSeconds: WARMUP_SECONDS, windowMs: WINDOW_MS, windowP99Ms: windows }
  }
  save()
} finally {
  rmSync(root, { recursive: true, force: true })
}
