/** Shared pieces of the Kafka integration tests: config, producing input, reading topics back. */
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import { mulberry32 } from '../../operators/ids.ts'
import type { Topology } from '../../pipeline/api/index.ts'
import { loadConfig } from '../../pipeline/config/load.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { topicPartitions } from '../../pipeline/config/topic-partitions.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { fromKafkaHeaders } from '../../pipeline/kafka/client.ts'
import { CommittedFilter, rawMessages } from '../../pipeline/kafka/transactions.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { TOPICS } from '../../topologies/push-decisions.ts'

export const BROKERS = ['127.0.0.1:9092']

/**
 * A suffix that keeps topic, group and application names of one test apart from all others. It
 * starts with the suite run's tag (set by global-setup.ts), whose topics are deleted at the end.
 */
export function runId(): string {
  return `${process.env.HERMES_TEST_RUN_TAG ?? ''}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
}

/**
 * The tests' runners (and sinks) produce from a worker thread (`kafka.producer.thread`), as the
 * default config does; `HERMES_TEST_PRODUCER_THREAD=0` runs the same tests with the producers on
 * the processing thread, so that the same tests cover both producers.
 */
export const PRODUCER_THREAD = process.env.HERMES_TEST_PRODUCER_THREAD !== '0'

/**
 * Test configuration: no metrics server, quiet logs, the local broker, fast commits, and time
 * that never follows the wall clock (`time.idleTimeoutMs: 0`): the tests replay data dated in
 * the past, compared with embedded or crash-free runs, as a user replaying old data on Kafka
 * would configure it. A test of live time sets `idleTimeoutMs` itself.
 */
export function testConfig(overrides: { [section: string]: object } = {}): HermesConfig {
  const base = { observability: { http: { enabled: false }, log: { level: 'silent' } }, kafka: { brokers: BROKERS, producer: { thread: PRODUCER_THREAD } }, runtime: { commitIntervalMs: 200 }, time: { idleTimeoutMs: 0 } }
  const merged: { [k: string]: object } = { ...base }
  for (const [k, v] of Object.entries(overrides)) merged[k] = { ...((base as { [k: string]: object })[k] ?? {}), ...v }
  return loadConfig({ dir: 'config', environment: {}, overrides: merged })
}

export const silent = createLogger({ level: process.env.HERMES_TEST_LOG ?? 'silent' })

/** A logger whose JSON lines the test can read back. */
export function capturingLogger(level = 'info'): { logger: ReturnType<typeof createLogger>; lines: Array<{ [k: string]: unknown }> } {
  const lines: Array<{ [k: string]: unknown }> = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { [k: string]: unknown })
      done()
    },
  })
  return { logger: createLogger({ level, destination }), lines }
}

/** Consumer timings for tests: short fetch waits and sessions so shutdown and rebalances are quick. */
export const FAST = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 }

export function kafkaClient(clientId = 'hermes-test', brokers = BROKERS): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING })
}

/** A JSONL line's key and event time, as `hermes run --input` reads them. */
export function keyAndTime(line: string, keyField: string): { key: string | null; ts: number } {
  try {
    const v = JSON.parse(line) as { [k: string]: unknown } | null
    if (v && typeof v === 'object') return { key: typeof v[keyField] === 'string' ? (v[keyField] as string) : null, ts: typeof v.ts === 'number' ? v.ts : 0 }
  } catch {
    // Malformed: key null, time 0, as embedded loading does.
  }
  return { key: null, ts: 0 }
}

/**
 * Creates topics that do not exist yet and waits for their leaders, as the runner does (kafkajs'
 * own `waitForLeaders` can fail with "does not host this topic-partition" on KRaft, kafkajs#1563).
 */
/** How a configuration input must keep its records (created so, as the runner would; the runner refuses one set otherwise). */
export type Cleanup = 'compact' | 'forever'

export async function createTopics(topics: ReadonlyArray<{ topic: string; partitions: number; cleanup?: Cleanup }>, brokers?: string[]): Promise<void> {
  const admin = new KafkaAdmin(kafkaClient('hermes-test-admin', brokers), silent, 1)
  await admin.connect()
  try {
    await admin.ensureTopics(topics)
  } finally {
    await admin.disconnect()
  }
}

/** Creates a topic and produces the lines to it, partitioned and timestamped as embedded mode loads them. */
export async function produceLines(topic: string, lines: readonly string[], options: { partitions: number; keyField: string; brokers?: string[]; perRequest?: number; cleanup?: Cleanup }): Promise<void> {
  const kafka = kafkaClient('hermes-test', options.brokers)
  await createTopics([{ topic, partitions: options.partitions, ...(options.cleanup ? { cleanup: options.cleanup } : {}) }], options.brokers)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const step = options.perRequest ?? 2000
  for (let i = 0; i < lines.length; i += step) {
    const messages = lines.slice(i, i + step).map((line) => {
      const { key, ts } = keyAndTime(line, options.keyField)
      return { key, value: line, timestamp: String(ts), partition: key === null ? 0 : partitionFor(key, options.partitions) }
    })
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
}

/** One record read back from a topic. */
export interface OutRecord {
  partition: number
  offset: number
  key: string | null
  value: string
  /** The value's bytes (binary formats such as Avro). */
  bytes?: Buffer | null
  headers: { [k: string]: string }
}

/**
 * Reads every committed record of the topics (read_committed, up to the last stable offset) with a
 * throwaway consumer group, filtering aborted transactions as the runner does (see
 * pipeline/kafka/transactions.ts).
 */
export async function readTopics(topics: readonly string[], options: { timeoutMs?: number; brokers?: string[] } = {}): Promise<Map<string, OutRecord[]>> {
  const kafka = kafkaClient('hermes-test-reader', options.brokers)
  const admin = kafka.admin()
  await admin.connect()
  const ends = new Map<string, number>()
  for (const t of topics) for (const o of await admin.fetchTopicOffsets(t)) if (Number(o.high) > Number(o.low)) ends.set(`${t}:${o.partition}`, Number(o.high))
  const out = new Map<string, OutRecord[]>(topics.map((t) => [t, []]))
  if (ends.size === 0) {
    await admin.disconnect()
    return out
  }
  const groupId = `reader-${runId()}`
  const consumer = kafka.consumer({ groupId, ...FAST })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const advance = (tp: string, next: number): void => {
    const end = ends.get(tp)
    if (end !== undefined && next >= end) ends.delete(tp)
    if (ends.size === 0) done()
  }
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(`${e.payload.topic}:${e.payload.partition}`, Number(e.payload.lastOffset) + 1))
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  const filters = new Map<string, CommittedFilter>()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const list = out.get(batch.topic) as OutRecord[]
      const tp = `${batch.topic}:${batch.partition}`
      let filter = filters.get(tp)
      if (!filter) filters.set(tp, (filter = new CommittedFilter()))
      for (const m of filter.push(rawMessages(batch))) {
        list.push({ partition: batch.partition, offset: Number(m.offset), key: m.key?.toString() ?? null, value: m.value?.toString() ?? 'null', bytes: m.value ?? null, headers: fromKafkaHeaders(m.headers) ?? {} })
      }
    },
  })
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`reading ${topics.join(', ')} timed out; missing ${[...ends.keys()].join(', ')}`)), options.timeoutMs ?? 30_000).unref())
  try {
    await Promise.race([finished, timeout])
  } finally {
    await consumer.disconnect()
    await admin.deleteGroups([groupId]).catch(() => {})
    await admin.disconnect()
  }
  for (const list of out.values()) list.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  return out
}

/** Records of a topic as `key → values in order`, which is what a keyed topic promises. */
export function perKey(records: readonly { key: string | null; value: string }[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const r of records) {
    const k = r.key ?? '(null)'
    let list = out.get(k)
    if (!list) out.set(k, (list = []))
    list.push(r.value)
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** {@link perKey} with each key's values sorted: for outputs whose order across tasks may vary (windows emitted once each). */
export function sortedPerKey(records: readonly { key: string | null; value: string }[]): Array<[string, string[]]> {
  return [...perKey(records)].map(([k, v]) => [k, [...v].sort()])
}

/** An input topic's lines for {@link runEmbeddedReference}. */
export interface EmbeddedInput {
  topic: string
  lines: readonly string[]
  keyField: string
  partitions?: number
}

/**
 * Runs topologies embedded over the lines (inputs appended one after the other) and returns what
 * each topic received, in append order.
 */
export async function runEmbeddedReference(topologies: Topology[], config: HermesConfig, inputs: EmbeddedInput | EmbeddedInput[]): Promise<Map<string, OutRecord[]>> {
  const log = EmbeddedLog.inMemory()
  for (const input of Array.isArray(inputs) ? inputs : [inputs]) {
    const partitions = input.partitions ?? topicPartitions(config, input.topic)
    log.createTopic(input.topic, partitions)
    for (const line of input.lines) {
      const { key, ts } = keyAndTime(line, input.keyField)
      log.append(input.topic, key === null ? 0 : partitionFor(key, partitions), key, Buffer.from(line), ts)
    }
  }
  const runner = await EmbeddedRunner.open({ topologies, config, log, state: { kind: 'memory', maps: new Map() }, logger: silent })
  await runner.run()
  await runner.close()
  return logContents(log)
}

/** Every record of an embedded log, per topic, in partition and offset order. */
export function logContents(log: EmbeddedLog): Map<string, OutRecord[]> {
  const out = new Map<string, OutRecord[]>()
  for (const topic of log.topicNames()) {
    const list: OutRecord[] = []
    for (let p = 0; p < log.partitions(topic); p++) {
      for (let o = 0; o < log.endOffset(topic, p); o++) {
        const e = log.read(topic, p, o)
        if (e) list.push({ partition: p, offset: o, key: e.key, value: e.value?.toString() ?? 'null', headers: { ...(e.headers ?? {}) } })
      }
    }
    out.set(topic, list)
  }
  return out
}

/** The decision flow's topic names with a run's suffix (`runId()`), so that tests never share topics. */
export function flowTopics(id: string): { [k in keyof typeof TOPICS]: string } {
  return Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [k, `${v}-${id}`])) as { [k in keyof typeof TOPICS]: string }
}

/** The offset a group committed on partition 0 of a topic (-1: none). */
export async function committedOffset(groupId: string, topic: string): Promise<number> {
  const admin = kafkaClient().admin()
  await admin.connect()
  try {
    const rows = await admin.fetchOffsets({ groupId, topics: [topic] })
    return Number(rows[0]?.partitions[0]?.offset ?? -1)
  } finally {
    await admin.disconnect()
  }
}

/** The environment variable that replays a seeded test schedule. */
export const SEED_ENV = 'HERMES_TEST_SEED'

/** A test's seeded source of randomness (kill moments, victims, record counts). */
export interface TestSeed {
  readonly seed: number
  /** `HERMES_TEST_SEED=<seed>`: what to set to replay this run. */
  readonly replay: string
  /** A number in [0, 1), from the seed. */
  random(): number
  /** An integer in [min, max], from the seed. */
  between(min: number, max: number): number
  /** One element of a non-empty list, from the seed. */
  pick<T>(list: readonly T[]): T
}

/**
 * The seed of a test's random schedule: `HERMES_TEST_SEED` when set (to replay a failed run),
 * else drawn at random so that runs explore different schedules. It is printed at once, so the
 * test's log says it even when the test hangs; wrap the test in {@link replayable} so the failure
 * message says it too. Every random choice of the schedule must come from it.
 * @throws Error when `HERMES_TEST_SEED` is set but not a non-negative integer.
 */
export function testSeed(label: string, env: { [k: string]: string | undefined } = process.env): TestSeed {
  const raw = env[SEED_ENV]
  let seed: number
  if (raw !== undefined && raw !== '') {
    if (!/^\d{1,10}$/.test(raw) || Number(raw) > 0xffffffff) throw new Error(`${SEED_ENV}=${raw} is not a seed: give an integer from 0 to ${0xffffffff}, as a failed run prints it`)
    seed = Number(raw)
  } else {
    seed = randomBytes(4).readUInt32BE(0)
  }
  const random = mulberry32(seed)
  const replay = `${SEED_ENV}=${seed}`
  if (label) console.log(`${label}: ${replay}`)
  return {
    seed,
    replay,
    random,
    between: (min, max) => min + Math.floor(random() * (max - min + 1)),
    pick: (list) => list[Math.floor(random() * list.length)] as (typeof list)[number],
  }
}

/**
 * Runs a seeded test body; a failure's message ends with `HERMES_TEST_SEED=<seed>` (and the log
 * says it again), so the exact schedule can be replayed.
 */
export async function replayable<T>(seed: TestSeed, body: () => Promise<T>): Promise<T> {
  try {
    return await body()
  } catch (err) {
    const hint = `(replay this schedule: ${seed.replay})`
    console.error(`failed with ${seed.replay}`)
    if (err instanceof Error) {
      err.message = `${err.message}\n${hint}`
      throw err
    }
    throw new Error(`${String(err)}\n${hint}`, { cause: err })
  }
}

/** What {@link untilDone} polls: whether the awaited state is reached, a figure that grows while work is done, and what to say. */
export interface DoneCheck {
  done: boolean
  progress: number
  detail: string
}

/**
 * Polls `check` until it is done, for as long as work gets done: it fails when `progress` has not
 * moved for `stallMs` (a stuck run), not after a fixed time, so that a slow, loaded machine is not
 * taken for a failure while a run that stops making progress still is.
 * @throws Error naming `what` and the last detail once progress stalls.
 */
export async function untilDone(what: string, check: () => Promise<DoneCheck>, stallMs = 30_000): Promise<DoneCheck> {
  let best = -Infinity
  let movedAt = Date.now()
  let last: DoneCheck | null = null
  for (;;) {
    last = await check().catch((err: unknown) => ({ done: false, progress: best, detail: `check failed: ${String(err)}` }))
    if (last.done) return last
    if (last.progress > best) {
      best = last.progress
      movedAt = Date.now()
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`no progress towards ${what} for ${stallMs / 1000} s (${last.detail})`)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Offsets a group committed on a topic, by partition. */
export async function committedOffsets(groupId: string, topic: string, brokers?: string[]): Promise<Map<number, number>> {
  const admin = kafkaClient('hermes-test-admin', brokers).admin()
  await admin.connect()
  try {
    const [rows] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return new Map((rows?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  } finally {
    await admin.disconnect()
  }
}

/** A topic's end offsets, by partition. */
export async function endOffsets(topic: string, brokers?: string[]): Promise<Map<number, number>> {
  const admin = kafkaClient('hermes-test-admin', brokers).admin()
  await admin.connect()
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]))
  } finally {
    await admin.disconnect()
  }
}

/**
 * Polls a synchronous `condition` every 20 ms (an in-process runner's state) until it holds.
 * @throws Error naming `what` after `timeoutMs`.
 */
export async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
