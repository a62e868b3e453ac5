/**
 * Restore of decision-flow state from the broker: how fast a new instance rebuilds N users' state
 * from their changelog topics (issue 9's target: 200k records/s). Figures only: nothing here
 * asserts a speed.
 *
 *   npx tsx bench/restore-kafka.bench.ts [--users 200000] [--partitions 4] [--brokers 127.0.0.1:9092]
 *     [--transactional] [--keep-topics] [--reuse <id>] [--runs 1] [--json-out FILE]
 *
 * Fill: the state of `--users` users (bench/decision-state.ts, the generator of
 * bench/state-scale.bench.ts), one task per partition, written through the engine's TaskState
 * and TimerQueue into a ChangelogBackend (the wrapper a running task writes through) whose
 * changelog records go to this run's own compacted topics (`restore-bench-<id>.<store>.changelog`
 * and the timers topic), produced with a plain kafkajs producer in large requests, several in
 * flight. About 9 records per user. `--transactional`: each commit's records (10,000 users) in
 * one transaction of a transactional producer, as exactly-once writes its changelogs: the restore
 * then reads through the transaction markers (CommittedFilter).
 *
 * Restore: an empty RocksDB instance per task and one call of `restoreChangelogs`
 * (pipeline/kafka/changelog.ts), what a new instance runs when its tasks are assigned: end
 * offsets, a throwaway consumer group, fetches up to the last stable offset, the batch writes.
 * Records/s = records written / time of that call. Split: `fetchMs` is the time kafkajs' FETCH
 * instrumentation events report (request, wait and decoding of the response), `writeMs` the time
 * in the backends' writes, `otherMs` the rest (group join, the restore's own per-record work,
 * kafkajs' batch handling); `firstWriteAfterMs` is the fixed start before the first write
 * (`groupJoinedAfterMs`: end offsets, connect, group join). CPU is the process's user + system
 * time over the restore (RocksDB's flush and compaction threads too), as % of one core and per
 * record restored. The main thread, which fetches, decodes and writes: its event-loop
 * utilization, its shares of the wall time on a CPU, waiting for one and asleep
 * (/proc/<pid>/schedstat), and its CPU time per record with the rate that alone would allow
 * (a bound: on a loaded machine the rates swing 2x between runs, the CPU per record far less).
 * Peak RSS sampled every 50 ms over the restore. `--runs N` restores N times in a row into fresh instances.
 *
 * `--keep-topics` leaves the topics for another run's `--reuse <id>` (which skips the fill and
 * restores the same data: how code before and after a change is compared side by side);
 * otherwise the topics and groups are deleted at the end. The broker is never stopped.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import type { Kafka, Message } from 'kafkajs'
import { Partitioners } from 'kafkajs'
import { loadConfig } from '../pipeline/config/load.ts'
import { KafkaAdmin } from '../pipeline/kafka/admin.ts'
import { ChangelogBackend, changelogTopics, restoreChangelogs } from '../pipeline/kafka/changelog.ts'
import type { ChangelogRecord, RestoreTarget } from '../pipeline/kafka/changelog.ts'
import { consumerTimings, createKafkaClient } from '../pipeline/kafka/client.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { TimerQueue } from '../pipeline/runtime/timers.ts'
import type { KeyValueBackend } from '../pipeline/state/backend.ts'
import { RocksDbBackend } from '../pipeline/state/backend.ts'
import { TaskState } from '../pipeline/state/task-state.ts'
import { userStateWriter, userStores } from './decision-state.ts'
import { trackPeakRss } from './harness.ts'
import { parseSchedstat, schedShares } from './peer/scale-summary.ts'
import type { SchedTimes } from './peer/scale-summary.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '200000' },
    partitions: { type: 'string', default: '4' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'keep-topics': { type: 'boolean', default: false },
    transactional: { type: 'boolean', default: false },
    reuse: { type: 'string' },
    runs: { type: 'string', default: '1' },
    'json-out': { type: 'string' },
  },
})
const USERS = Number(args.users)
const PARTITIONS = Number(args.partitions)
const RUNS = Number(args.runs)
const TRANSACTIONAL = Boolean(args.transactional)
const BROKERS = (args.brokers as string).split(',')
/** Users per commit of the fill (as state-scale.bench.ts commits them). */
const FILL_BATCH = 10_000
/** Bytes of one partition's records per produce request: under the broker's 1 MiB batch limit. */
const CHUNK_BYTES = 512 * 1024
/** Produce requests in flight during the fill. */
const IN_FLIGHT = 4

const id = (args.reuse as string | undefined) ?? `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
const app = `restore-bench-${id}`
const stores = userStores()
const topics = changelogTopics(app, 0, stores)
const allTopics = [...topics.stores.values(), topics.timers]
const config = loadConfig({ dir: 'config', environment: {}, overrides: { kafka: { brokers: BROKERS } } })
const logger = createLogger({ level: 'warn' })
const kafka = createKafkaClient(config.kafka, logger, `restore-bench-${id}`)
const admin = new KafkaAdmin(kafka, logger, 1, BROKERS)
await admin.connect()

/** A backend that keeps nothing: the fill only wants the changelog records written through it. */
class NullBackend implements KeyValueBackend {
  readonly kind = 'memory' as const
  getManySync(keys: readonly string[]): Array<Buffer | undefined> {
    return keys.map(() => undefined)
  }
  async write(): Promise<void> {}
  async *scan(): AsyncIterable<[string, Buffer]> {}
  keysSync(): string[] {
    return []
  }
  rangeSync(): Array<[string, Buffer]> {
    return []
  }
  approximateSize(): number {
    return 0
  }
  async close(): Promise<void> {}
}

/** Fills the changelogs; resolves with the number of records produced. */
async function fill(): Promise<{ records: number; bytes: number; seconds: number }> {
  await admin.ensureTopics(allTopics.map((topic) => ({ topic, partitions: PARTITIONS, compacted: true, strict: true })))
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    ...(TRANSACTIONAL ? { transactionalId: `${app}-fill`, idempotent: true, maxInFlightRequests: 1 } : {}),
  })
  await producer.connect()
  const started = performance.now()
  let records = 0
  let bytes = 0
  const inFlight = new Set<Promise<unknown>>()
  const send = async (partition: number, batch: ChangelogRecord[]): Promise<void> => {
    // Chunks of about CHUNK_BYTES per topic, one request for all the topics' chunks of a round.
    const byTopic = new Map<string, { messages: Message[]; bytes: number }[]>()
    for (const r of batch) {
      let chunks = byTopic.get(r.topic)
      if (!chunks) byTopic.set(r.topic, (chunks = [{ messages: [], bytes: 0 }]))
      let last = chunks[chunks.length - 1] as { messages: Message[]; bytes: number }
      const size = r.key.length + (r.value?.length ?? 0) + 20
      if (last.bytes + size > CHUNK_BYTES) chunks.push((last = { messages: [], bytes: 0 }))
      last.messages.push({ key: r.key, value: r.value, partition, timestamp: '0' })
      last.bytes += size
      bytes += size
    }
    records += batch.length
    // Exactly-once: each commit's records in one transaction, as the sink writes them (its requests in turn).
    const txn = TRANSACTIONAL ? await producer.transaction() : undefined
    for (let round = 0; ; round++) {
      const topicMessages = [...byTopic].flatMap(([topic, chunks]) => {
        const chunk = chunks[round]
        return chunk ? [{ topic, messages: chunk.messages }] : []
      })
      if (topicMessages.length === 0) break
      if (txn) {
        await txn.sendBatch({ topicMessages, acks: -1 })
        continue
      }
      while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight)
      const p = producer.sendBatch({ topicMessages, acks: 1 }).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    await txn?.commit()
  }
  try {
    for (let p = 0; p < PARTITIONS; p++) {
      let pending: ChangelogRecord[] = []
      const backend = new ChangelogBackend(new NullBackend(), `0_${p}`, topics, async (_task, recs) => ((pending = pending.concat(recs)), {}), {}, () => {})
      const state = new TaskState(backend, stores, [], 200_000)
      await state.open()
      const timers = new TimerQueue()
      await timers.load(backend, { unwritten: () => state.pendingRawOps() })
      const writeUser = userStateWriter(11 + p)
      let users = 0
      for (let u = p; u < USERS; u += PARTITIONS) {
        writeUser(state, timers, `u${u}`)
        if (++users % FILL_BATCH === 0) {
          state.addRawOps(timers.drainChanges())
          await state.flush()
          await send(p, pending)
          pending = []
        }
      }
      state.addRawOps(timers.drainChanges())
      await state.flush()
      await send(p, pending)
      await state.close()
    }
    await Promise.all(inFlight)
  } finally {
    await producer.disconnect()
  }
  return { records, bytes, seconds: (performance.now() - started) / 1000 }
}

/** A backend that times its writes and counts what they wrote. */
class TimedBackend implements KeyValueBackend {
  readonly kind: KeyValueBackend['kind']
  writeMs = 0
  records = 0
  /** performance.now() of the first write: the restore's fixed start (end offsets, group join, first fetch) before it. */
  firstWrite = Infinity
  /** The raw backend's byte-keyed write, timed, when it has one (the restore uses it then). */
  writeBytes?: (ops: ReadonlyArray<readonly [Buffer, Buffer | null]>) => Promise<void>
  constructor(readonly raw: RocksDbBackend) {
    this.kind = raw.kind
    const bytes = (raw as KeyValueBackend).writeBytes?.bind(raw)
    if (bytes)
      this.writeBytes = async (ops) => {
        const t = performance.now()
        this.firstWrite = Math.min(this.firstWrite, t)
        await bytes(ops)
        this.writeMs += performance.now() - t
        this.records += ops.length
      }
  }
  getManySync(keys: readonly string[]): Array<Buffer | undefined> {
    return this.raw.getManySync(keys)
  }
  async write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void> {
    const t = performance.now()
    this.firstWrite = Math.min(this.firstWrite, t)
    await this.raw.write(ops)
    this.writeMs += performance.now() - t
    this.records += ops.length
  }
  scan(prefix: string): AsyncIterable<[string, Buffer]> {
    return this.raw.scan(prefix)
  }
  keysSync(prefix: string): string[] {
    return this.raw.keysSync(prefix)
  }
  rangeSync(prefix: string, from: string, limit: number): Array<[string, Buffer]> {
    return this.raw.rangeSync(prefix, from, limit)
  }
  approximateSize(): number {
    return this.raw.approximateSize()
  }
  close(): Promise<void> {
    return this.raw.close()
  }
}

/** kafkajs' client with every consumer's FETCH durations added up (the restore makes its own consumer). */
function timedFetches(client: Kafka): { kafka: Kafka; fetchMs: () => number; fetches: () => number; joinMs: () => number; joinedAt: () => number } {
  let ms = 0
  let n = 0
  let joinMs = 0
  let joinedAt = 0
  const kafkaTimed = Object.create(client) as Kafka
  kafkaTimed.consumer = (options) => {
    const consumer = client.consumer(options)
    consumer.on(consumer.events.FETCH, (e) => {
      ms += e.payload.duration
      n++
    })
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      joinMs += e.payload.duration
      joinedAt = performance.now()
    })
    return consumer
  }
  return { kafka: kafkaTimed, fetchMs: () => ms, fetches: () => n, joinMs: () => joinMs, joinedAt: () => joinedAt }
}

/** The main thread's time on a CPU and waiting for one (/proc/<pid>/schedstat), or undefined off Linux. */
function mainThread(): SchedTimes | undefined {
  try {
    return parseSchedstat(readFileSync(`/proc/${process.pid}/schedstat`, 'utf8'))
  } catch {
    return undefined
  }
}

async function restoreOnce(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-restore-kafka-'))
  const backends: TimedBackend[] = []
  for (let p = 0; p < PARTITIONS; p++) backends.push(new TimedBackend(await RocksDbBackend.open(join(dir, String(p)))))
  const targets: RestoreTarget[] = backends.map((backend, p) => ({ app, taskId: `0_${p}`, partition: p, backend, topics, from: undefined }))
  const timed = timedFetches(kafka)
  const peak = trackPeakRss()
  const load = loadavg()[0] as number
  const cpu = process.cpuUsage()
  const elu = performance.eventLoopUtilization()
  const sched = mainThread()
  const started = performance.now()
  await restoreChangelogs({ kafka: timed.kafka, admin, targets, logger, timings: consumerTimings(config.kafka.consumer) })
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  const utilization = performance.eventLoopUtilization(elu).utilization
  const schedAfter = mainThread()
  const peakRssMiB = peak()
  for (const b of backends) await b.close()
  rmSync(dir, { recursive: true, force: true })
  const records = backends.reduce((n, b) => n + b.records, 0)
  const writeMs = backends.reduce((n, b) => n + b.writeMs, 0)
  return {
    records,
    seconds: +(ms / 1000).toFixed(2),
    recordsPerSecond: Math.round(records / (ms / 1000)),
    fetchMs: Math.round(timed.fetchMs()),
    fetches: timed.fetches(),
    writeMs: Math.round(writeMs),
    otherMs: Math.round(ms - timed.fetchMs() - writeMs),
    firstWriteAfterMs: Math.round(Math.min(...backends.map((b) => b.firstWrite)) - started),
    groupJoinedAfterMs: Math.round(timed.joinedAt() - started),
    groupJoinMs: Math.round(timed.joinMs()),
    cpuPercentOfOneCore: Math.round(((used.user + used.system) / 1000 / ms) * 100),
    /** Process CPU per record restored: the figure a loaded machine distorts least. */
    cpuMicrosPerRecord: +((used.user + used.system) / records).toFixed(2),
    cpuUserMs: Math.round(used.user / 1000),
    cpuSystemMs: Math.round(used.system / 1000),
    mainThreadUtilization: +utilization.toFixed(2),
    // The main thread's CPU time per record, and the rate it alone would allow with a core to itself:
    // a bound, not a measurement (the broker and RocksDB's threads need CPU too).
    ...(sched && schedAfter
      ? {
          mainThreadCpuMicrosPerRecord: +((schedAfter.cpuNs - sched.cpuNs) / 1000 / records).toFixed(2),
          mainThreadBoundRecordsPerSecond: Math.round(records / ((schedAfter.cpuNs - sched.cpuNs) / 1e9)),
          mainThread: schedShares(sched, schedAfter, ms),
        }
      : {}),
    peakRssMiB,
    loadAverage1m: +load.toFixed(2),
  }
}

let produced: Awaited<ReturnType<typeof fill>> | undefined
const runs: Array<Record<string, unknown>> = []
try {
  if (args.reuse === undefined) produced = await fill()
  for (let i = 0; i < RUNS; i++) runs.push(await restoreOnce())
} finally {
  if (!args['keep-topics']) {
    const plain = kafka.admin()
    await plain.connect()
    await plain.deleteTopics({ topics: allTopics }).catch((err: unknown) => logger.warn({ err }, 'could not delete the bench topics'))
    await plain.disconnect()
  }
  await admin.disconnect()
}
const rates = runs.map((r) => r.recordsPerSecond as number).sort((a, b) => a - b)
const out = {
  benchmark: 'decision-flow state: restore from changelog topics on the broker (restoreChangelogs into empty RocksDB)',
  id,
  users: USERS,
  partitions: PARTITIONS,
  keyedStores: stores.size,
  changelogTopics: allTopics.length,
  fill: produced ? { records: produced.records, megabytes: +(produced.bytes / 1048576).toFixed(1), seconds: +produced.seconds.toFixed(1), recordsPerSecond: Math.round(produced.records / produced.seconds) } : 'reused',
  medianRecordsPerSecond: rates[Math.floor((rates.length - 1) / 2)],
  runs,
  transactional: TRANSACTIONAL,
  topicsKept: Boolean(args['keep-topics']),
  node: process.version,
}
const json = `${JSON.stringify(out, null, 2)}\n`
process.stdout.write(json)
if (args['json-out']) writeFileSync(args['json-out'] as string, json)
