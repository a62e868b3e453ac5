import type { Consumer, Kafka, KafkaMessage, PartitionAssigner } from 'kafkajs'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { RawRecord } from '../runtime/task.ts'
import type { TopicPartitions } from './assigner.ts'
import type { ConsumerTimings } from './client.ts'
import { describeKafkaError, fromKafkaHeaders, subscribeWhenKnown } from './client.ts'
import { CrashRestarts } from './consumer-crash.ts'
import type { GroupMetadata } from './kip447.ts'
import { generationOf } from './kip447.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

/** Fetched records of one assigned input partition, waiting to be processed. */
export interface PartitionBuffer {
  readonly topic: string
  readonly partition: number
  /** `topic:partition` */
  readonly tp: string
  records: RawRecord[]
  head: number
  /** Next offset the broker will return (after the last record or control record fetched). */
  fetched: number
  /** Last known end of the partition (high watermark of the latest fetch, or at assignment). */
  end: number
  /** Last stable offset when the partition was last assigned (or kept at a join): records below it exist for sure. */
  initialEnd: number
  /** An internal (repartition) topic: records this process writes there are tracked as in flight. */
  readonly internal: boolean
  /**
   * Its records carry no event time (a source declared `eventTime: false`, configuration): they
   * are taken as soon as they are buffered, ahead of timed records, as broadcast records are.
   */
  readonly untimed?: boolean
  /** Wall time since when the buffer is empty (for the idle wait on lagging partitions). */
  emptySince: number
  /** Paused for backpressure. */
  paused: boolean
  /** Transactional records read but waiting for their commit marker. */
  readonly filter: CommittedFilter
}

/** Records in a buffer not yet taken. */
export function buffered(b: PartitionBuffer): number {
  return b.records.length - b.head
}

/** Options of {@link KafkaSource}. */
export interface KafkaSourceOptions {
  groupId: string
  topics: readonly string[]
  assigner: PartitionAssigner
  timings: ConsumerTimings
  logger: Logger
  /** Pause a partition once this many records wait in its buffer; resume at half. */
  maxBuffered: number
  /** Bytes per partition and fetch. */
  maxBytesPerPartition: number
  /**
   * Called (synchronously, inside the join) with every new assignment of this member and the
   * group metadata it was made under (the generation: -1 if unknown; see kip447.ts).
   */
  onAssignment: (assignment: TopicPartitions, group: GroupMetadata) => void
  /** Called when records arrive. */
  onData: () => void
  clock: () => number
  /** Awaited before fetched records are buffered (see {@link valuePreparer}). */
  prepare?: Preparer
}

/** Fetches what the serdes need to decode these values synchronously (writer schemas); undefined when nothing. */
export type Preparer = (topic: string, values: readonly Buffer[]) => Promise<void> | undefined

/**
 * The `prepare` step of the serdes reading each topic (Avro serdes fetch unknown writer schemas
 * there), or undefined when no serde of these topologies needs one.
 */
export function valuePreparer(sources: ReadonlyArray<{ topic: string; serde: { prepare?: (values: readonly Buffer[]) => Promise<void> | undefined } }>): Preparer | undefined {
  const byTopic = new Map<string, Array<(values: readonly Buffer[]) => Promise<void> | undefined>>()
  for (const s of sources) {
    const prepare = s.serde.prepare
    if (!prepare) continue
    const list = byTopic.get(s.topic) ?? []
    list.push((values) => prepare.call(s.serde, values))
    byTopic.set(s.topic, list)
  }
  if (byTopic.size === 0) return undefined
  return (topic, values) => {
    const steps = byTopic.get(topic)
    if (!steps) return undefined
    const pending = steps.map((p) => p(values)).filter((p): p is Promise<void> => p !== undefined)
    return pending.length ? Promise.all(pending).then(() => undefined) : undefined
  }
}

/**
 * The consumer-group side of one application: a kafkajs consumer whose batches land in
 * per-partition buffers (no processing happens inside kafkajs' callbacks, so heartbeats keep
 * flowing while the runner works). Offsets are never committed automatically. Every new
 * assignment pauses all assigned partitions until the runner has set up their tasks and seeked
 * them to where processing continues.
 */
/**
 * Retries of the consumers' fetch loop: kafkajs' default backoff grows to 30 s between attempts,
 * so a broker back after a minute's outage went unnoticed for up to half a minute more (and
 * /readyz stayed 503). Capped at 5 s, a returning broker is seen within seconds.
 */
export const CONSUMER_RETRY = { retries: 8, maxRetryTime: 5000 }

/**
 * A running kafkajs consumer reports a fetch every `maxWaitTimeInMs` (paused partitions
 * included) and a heartbeat every `heartbeatInterval`. One silent this long (a minute, or four
 * session timeouts if longer) is started again by the watchdog of {@link KafkaSource}: the
 * second line of defence against a consumer left stopped or stuck after a broker restart, which
 * would stall the run without an error. Not while kafkajs restarts the consumer itself after a
 * crash (see `kafkajsRestarting`), nor while Hermes does (consumer-crash.ts).
 */
export function silenceBoundMs(timings: Pick<ConsumerTimings, 'sessionTimeout'>): number {
  return Math.max(60_000, 4 * timings.sessionTimeout)
}

export class KafkaSource {
  readonly buffers = new Map<string, PartitionBuffer>()
  /** Wall time of the last answer from the cluster (a fetch, a heartbeat, a join). */
  lastContact: number
  private readonly consumer: Consumer
  private readonly opts: KafkaSourceOptions

  constructor(kafka: Kafka, opts: KafkaSourceOptions) {
    this.opts = opts
    this.consumer = kafka.consumer({ groupId: opts.groupId, partitionAssigners: [opts.assigner], ...opts.timings, maxBytesPerPartition: opts.maxBytesPerPartition, retry: CONSUMER_RETRY })
    this.lastContact = opts.clock()
    const { GROUP_JOIN, END_BATCH_PROCESS, CRASH, FETCH, HEARTBEAT } = this.consumer.events
    const contact = (): void => void (this.lastContact = opts.clock())
    this.consumer.on(FETCH, contact)
    this.consumer.on(HEARTBEAT, contact)
    this.consumer.on(GROUP_JOIN, (e) => {
      contact()
      this.kafkajsRestarting = false
      const assignment = e.payload.memberAssignment as TopicPartitions
      const all = Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions }))
      if (all.length) this.consumer.pause(all)
      const memberId = String(e.payload.memberId)
      opts.onAssignment(assignment, { memberId, generationId: generationOf(memberId) ?? -1 })
    })
    // Batches of only control records or aborted records never reach eachBatch; they still move the position.
    this.consumer.on(END_BATCH_PROCESS, (e) => {
      const b = this.buffers.get(`${e.payload.topic}:${e.payload.partition}`)
      if (b) b.fetched = Math.max(b.fetched, Number(e.payload.lastOffset) + 1)
    })
    // The consumers' one crash policy (pipeline/kafka/consumer-crash.ts): started again after a
    // crash kafkajs gives up on for an unreachable cluster (a restart is what kafkajs does for
    // retriable crashes: join again; every partition is paused at the join and the runner seeks
    // and resumes what it processes). Any other crash (a bug, a refused request) stays loud and is
    // not restarted: a restart would hide it.
    this.crashes = new CrashRestarts({ logger: opts.logger, group: opts.groupId, start: () => this.start(), disconnect: () => this.consumer.disconnect(), delayMs: CONSUMER_RETRY.maxRetryTime })
    this.consumer.on(CRASH, (e) => {
      this.kafkajsRestarting = e.payload.restart
      this.crashes.onCrash(e.payload, 'consumer crashed')
    })
  }

  private readonly crashes: CrashRestarts
  private watchdog: NodeJS.Timeout | null = null
  /** When the watchdog last started the consumer again. */
  private watchdogRestart = -Infinity
  /**
   * kafkajs restarts the consumer after its last crash and it has not joined since. The watchdog
   * leaves it alone then: a disconnect while kafkajs' own start is under way does not stop that
   * start, which joins later as a second member of this process beside the one the watchdog
   * starts (seen in a chaos run: "The coordinator is not aware of this member" for one of them).
   */
  private kafkajsRestarting = false

  /**
   * Starts the consumer again when it has been silent for {@link silenceBoundMs} (see there),
   * saying so: checked every tenth of the bound, from the first start on.
   */
  private watch(): void {
    if (this.watchdog) return
    const bound = silenceBoundMs(this.opts.timings)
    this.watchdog = setInterval(() => {
      const now = this.opts.clock()
      // The consumer started again gets the whole bound to join and fetch before the next restart.
      if (this.kafkajsRestarting || now - Math.max(this.lastContact, this.watchdogRestart) < bound) return
      this.watchdogRestart = now
      this.opts.logger.warn({ group: this.opts.groupId, silentMs: now - this.lastContact, boundMs: bound }, 'input consumer silent (no fetch, heartbeat or join) for too long; starting it again')
      this.crashes.restartNow()
    }, bound / 10)
    this.watchdog.unref()
  }

  /** Joins the group and starts fetching. */
  async start(): Promise<void> {
    this.watch()
    await this.consumer.connect()
    await subscribeWhenKnown(this.consumer, this.opts.topics)
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        const b = this.buffers.get(`${batch.topic}:${batch.partition}`)
        if (!b) return // Not (or no longer) processed here.
        // Records below `fetched` were fetched again after a rejoin.
        const fresh = rawMessages(batch).filter((m) => Number(m.offset) >= b.fetched)
        if (this.opts.prepare) {
          const ours = await prepareValues(this.opts.prepare, this.opts.logger, batch.topic, valuesOf(fresh), () => isRunning() && this.buffers.get(`${batch.topic}:${batch.partition}`) === b, heartbeat)
          // Revoked or stopping while waiting: the records are no longer ours to buffer.
          if (!ours) return
        }
        for (const m of b.filter.push(fresh)) b.records.push(toRaw(batch.topic, batch.partition, Number(m.offset), m))
        b.fetched = Math.max(b.fetched, Number(batch.lastOffset()) + 1)
        b.end = Math.max(b.end, Number(batch.highWatermark))
        if (!b.paused && buffered(b) >= this.opts.maxBuffered) this.pause(b)
        this.opts.onData()
      },
    })
  }

  /**
   * Starts processing a partition at `offset` (known end `end`): seeks the consumer there and
   * resumes fetching. An existing buffer (a partition kept through a rebalance) continues where
   * it is, but takes `end` as its end at assignment, as a new one does: the consumer may have
   * been away (a broker restart) while records were written, and with the end it knew before, an
   * empty partition looked caught up, so its tasks' time followed the other partitions past
   * records it had not fetched yet (a timer fired before an earlier record: docs/chaos.md).
   */
  accept(topic: string, partition: number, offset: number, end: number, internal: boolean, untimed = false): PartitionBuffer {
    const tp = `${topic}:${partition}`
    let b = this.buffers.get(tp)
    if (!b) {
      b = { topic, partition, tp, records: [], head: 0, fetched: offset, end, initialEnd: end, internal, untimed, emptySince: this.opts.clock(), paused: false, filter: new CommittedFilter() }
      this.buffers.set(tp, b)
    } else if (end > b.initialEnd) {
      b.initialEnd = end
      if (end > b.end) b.end = end
    }
    // Between a crash and kafkajs' restart of the consumer, seek and resume are refused; the
    // restarted consumer joins again and the runner accepts every buffer again at that join,
    // seeking it then (a reopen failing here stalled an instance for 3 minutes after a broker
    // restart).
    const fetched = b.fetched
    whileRestarting(() => this.consumer.seek({ topic, partition, offset: String(fetched) }))
    if (!b.paused) whileRestarting(() => this.consumer.resume([{ topic, partitions: [partition] }]))
    return b
  }

  /** Forgets a partition (revoked, or its task was dropped). */
  drop(tp: string): void {
    const b = this.buffers.get(tp)
    if (!b) return
    this.buffers.delete(tp)
    whileRestarting(() => this.consumer.pause([{ topic: b.topic, partitions: [b.partition] }]))
  }

  /** The next record of a buffer, removed from it. */
  take(b: PartitionBuffer, now: number): RawRecord {
    const r = b.records[b.head++] as RawRecord
    if (b.head === b.records.length) {
      b.records = []
      b.head = 0
      b.emptySince = now
    } else if (b.head > 4096 && b.head * 2 > b.records.length) {
      b.records = b.records.slice(b.head)
      b.head = 0
    }
    return r
  }

  pause(b: PartitionBuffer): void {
    b.paused = true
    whileRestarting(() => this.consumer.pause([{ topic: b.topic, partitions: [b.partition] }]))
  }

  /** Resumes partitions paused for backpressure whose buffers have drained to half. */
  resumeDrained(): void {
    for (const b of this.buffers.values()) {
      if (b.paused && buffered(b) <= this.opts.maxBuffered / 2) {
        b.paused = false
        whileRestarting(() => this.consumer.resume([{ topic: b.topic, partitions: [b.partition] }]))
      }
    }
  }

  /**
   * Commits offsets (at-least-once). A commit refused because the group is rebalancing is logged
   * and skipped: the partitions' next owner starts from the previous commit, repeating some
   * outputs, never losing one.
   */
  async commit(offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): Promise<boolean> {
    if (offsets.length === 0) return true
    try {
      await this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })))
      return true
    } catch (err) {
      this.opts.logger.warn({ group: this.opts.groupId, err: describeKafkaError(err) }, 'offset commit refused (group rebalancing?); the next owner repeats from the previous commit')
      return false
    }
  }

  async stop(): Promise<void> {
    this.crashes.stop()
    if (this.watchdog) clearInterval(this.watchdog)
    this.watchdog = null
    await this.consumer.disconnect()
  }
}

/** What kafkajs says when its consumer has no group: between a crash and its restart. */
const NOT_RUNNING = /Consumer group was not initialized/

/**
 * Pauses or resumes a partition, or does nothing while kafkajs restarts the consumer after a
 * crash (a broker away): it then has no group and refuses. Nothing is lost by skipping it: the
 * restarted consumer joins again, every assigned partition is paused at the join, and the runner
 * seeks and resumes what it processes. Throwing instead broke the recovery after a broker
 * restart (the tasks' reset stopped half way, keeping producers stuck in a failed commit:
 * "Cannot call beginTransaction in state COMMITTING" until the run gave up).
 */
export function whileRestarting(op: () => void): void {
  try {
    op()
  } catch (err) {
    if (!NOT_RUNNING.test((err as Error | null)?.message ?? '')) throw err
  }
}

/** A kafkajs message as an engine raw record. */
export function toRaw(topic: string, partition: number, offset: number, m: KafkaMessage): RawRecord {
  const raw: RawRecord = { topic, partition, offset, key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'), value: m.value ?? null, timestamp: Number(m.timestamp) }
  const headers = fromKafkaHeaders(m.headers)
  if (headers) raw.headers = headers
  return raw
}

/**
 * The non-null values of fetched data records. Transaction markers are left out: their value
 * (int16 version 0, then the coordinator epoch) starts with the Avro magic byte and would make a
 * registry serde look up a made-up schema id, and wait for the registry to do so.
 */
export function valuesOf(messages: ReadonlyArray<{ value: Buffer | null; isControlRecord?: boolean }>): Buffer[] {
  const out: Buffer[] = []
  for (const m of messages) if (m.value && !m.isControlRecord) out.push(m.value)
  return out
}

/**
 * Awaits the serdes' preparation of fetched values (writer schemas from the registry). While the
 * registry is unreachable it retries with backoff (0.5 s doubling to 30 s), heartbeating so the
 * group keeps the assignment; records stay unprocessed rather than dead-lettered, since nothing
 * is wrong with them. Returns false when the partition was revoked or the consumer is stopping
 * meanwhile (`stillOurs`); rethrows a heartbeat's rebalance error, so that kafkajs rejoins the
 * group without marking the batch consumed instead of holding up the group's rebalance.
 */
export async function prepareValues(prepare: Preparer, logger: Logger, topic: string, values: readonly Buffer[], stillOurs: () => boolean, heartbeat: () => Promise<void>): Promise<boolean> {
  let pending = prepare(topic, values)
  if (!pending) return true
  let rebalance: unknown
  const beat = setInterval(
    () =>
      void heartbeat().catch((err: unknown) => {
        if (REJOIN.has((err as { type?: string } | null)?.type ?? '')) rebalance ??= err
      }),
    1000,
  )
  try {
    for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await pending
        return stillOurs()
      } catch (err) {
        if (!(err instanceof HermesError && err.retriable)) throw err
        logger.warn({ topic, retryInMs: delay, err: err.message }, 'cannot decode fetched records yet; retrying')
        // In short steps: neither a rebalance nor a stop waits for the registry.
        for (const until = Date.now() + delay; Date.now() < until; ) {
          await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())))
          if (rebalance) throw rebalance
          if (!stillOurs()) return false
        }
        pending = prepare(topic, values)
        if (!pending) return true
      }
    }
  } finally {
    clearInterval(beat)
  }
}

/** Heartbeat errors after which kafkajs must rejoin the group (its `isRebalancing`, and a member the coordinator dropped). */
const REJOIN = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID'])
