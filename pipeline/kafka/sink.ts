import type { Kafka } from 'kafkajs'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { Headers } from '../api/record.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { ChangelogRecord } from './changelog.ts'
import type { ChangelogOffsets } from './checkpoint.ts'
import { describeKafkaError } from './client.ts'
import type { GroupMetadata } from './kip447.ts'
import type { KafkaMetrics } from './metrics.ts'
import { AppTransaction } from './app-transaction.ts'
import type { ProduceAck, ProducerFactory, SinkProducer, SinkTransaction } from './producer-port.ts'
import { localProducers } from './producer-port.ts'
import { ThreadProducers } from './producer-thread.ts'
import { splitBySize } from './record-size.ts'

/**
 * At-least-once, outputs waiting for their acknowledgement per `kafka.maxInFlightBatches` before
 * processing waits (a batch was one processing chunk's outputs, about this many).
 */
export const OUTPUTS_PER_BATCH = 4000

/** exactly_once_v2: produce requests the app's producer keeps in flight per broker (see transactionalProducer). */
const APP_PRODUCER_IN_FLIGHT = 5

/** A record a task produced, with its partition already chosen. */
export interface OutRecord {
  /** `<app>/<taskId>` of the producing task. */
  owner: string
  topic: string
  partition: number
  key: string | null
  value: Buffer | null
  timestamp: number
  headers?: Headers
  /** Its encoded size (record-size.ts recordBytes), when the runner measured it. */
  size?: number
}

/** Input offsets to commit with a task (exactly-once: inside its transaction). */
export interface InputOffsets {
  groupId: string
  offsets: Array<{ topic: string; partition: number; offset: number }>
}

/** A task's part of an app's commit (exactly_once_v2): its partition and its changelog records. */
export interface TaskChangelog {
  partition: number
  records: ChangelogRecord[]
}

/** Options of {@link KafkaSink}. */
export interface KafkaSinkOptions {
  exactlyOnce: boolean
  /**
   * exactly_once_v2 (with `exactlyOnce`): one transactional producer per app ({@link KafkaSink.openApp})
   * instead of one per task; its outputs go out in the app's open transaction as they come
   * ({@link AppTransaction}), in the order they were produced.
   */
  perApp?: boolean
  logger: Logger
  metrics?: KafkaMetrics
  /** Output batches in flight (at-least-once) before the runner waits for the oldest. */
  maxInFlight: number
  /**
   * The largest batch a topic accepts (`max.message.bytes`): sends are split so that no
   * partition's batch is over it. Default: no split.
   */
  maxMessageBytes?: (topic: string) => number
  /**
   * `kafka.producer.thread`: the producers run kafkajs on a worker thread (producer-thread.ts),
   * with a client of this `kafka` section; unset, on this thread with the client given.
   */
  producerThread?: HermesConfig['kafka']
}

/**
 * Where tasks' outputs go. At-least-once: one idempotent producer; outputs are sent as soon as a
 * processing chunk ends (in the order tasks produced them, so a partition receives them in
 * processing order) and are awaited before a commit writes changelogs, state and offsets.
 * Exactly-once: one transactional producer per task (transactional id `<app>-<taskId>`, which
 * fences a previous owner of the task); a task's outputs wait in its outbox and go out in its
 * commit transaction together with its changelog records and input offsets. exactly_once_v2: one
 * transactional producer per app (transactional id `<app>-<processId>`); the app's outputs go out in
 * its open transaction as they come, in the order they were produced, and the commit adds every
 * task's changelog records and the input offsets, whose offset commit carries the group's
 * generation (KIP-447) (see {@link AppTransaction}).
 * The producers are kafkajs' on this thread, or on a worker thread (`kafka.producer.thread`,
 * producer-thread.ts); the sink is the same for both.
 */
export class KafkaSink {
  private readonly opts: KafkaSinkOptions
  private readonly producers: ProducerFactory
  private shared: SinkProducer | null = null
  private readonly transactional = new Map<string, SinkProducer>()
  /** exactly_once_v2: the app's producer and its open transaction, whose outputs go out as they come. */
  private readonly appProducers = new Map<string, AppTransaction>()
  /**
   * exactly_once_v2: every app's transactional id, kept apart from its producer: a producer that
   * could not be opened again (the broker down during a reset) is opened at the app's next commit.
   */
  private readonly appIds = new Map<string, string>()
  private outbox: OutRecord[] = []
  /**
   * At-least-once: the number of each queued output in the order outputs were pushed (parallel
   * to `outbox`), the next number, and the number of the first output of the send in flight. A
   * commit waits for the outputs pushed before it began, not for those pushed while it is
   * written (see {@link KafkaSink.flush}).
   */
  private outboxSeq: number[] = []
  private pushed = 0
  private sendingFrom = Number.POSITIVE_INFINITY
  private readonly outboxes = new Map<string, OutRecord[]>()
  /** At-least-once: the send in flight, if any; outputs queued meanwhile go out in the next one. */
  private sending: Promise<void> | null = null
  /** Bumped by {@link KafkaSink.reset}, so that a send from before it changes nothing after it. */
  private generation = 0
  private failure: unknown = null
  private buffered = 0

  constructor(kafka: Kafka, opts: KafkaSinkOptions) {
    this.opts = opts
    this.producers = opts.producerThread ? new ThreadProducers(opts.producerThread, opts.logger) : localProducers(kafka)
  }

  async start(): Promise<void> {
    if (this.opts.exactlyOnce) return
    this.shared = this.producers.create({ maxInFlightRequests: 1 })
    await this.shared.connect()
  }

  /** Exactly-once: creates the task's transactional producer; initializing it fences any previous owner. */
  async openTask(owner: string, transactionalId: string): Promise<void> {
    if (!this.opts.exactlyOnce || this.opts.perApp || this.transactional.has(owner)) return
    this.transactional.set(owner, await this.transactionalProducer(transactionalId))
  }

  /**
   * exactly_once_v2: creates the app's transactional producer. Initializing it fences the previous
   * incarnation of this process (same process id, same transactional id) and aborts what that
   * left open, as a task's producer does with EOS v1.
   */
  async openApp(app: string, transactionalId: string): Promise<void> {
    if (!this.opts.perApp || this.appProducers.has(app)) return
    this.appIds.set(app, transactionalId)
    const producer = await this.transactionalProducer(transactionalId, APP_PRODUCER_IN_FLIGHT)
    const entry = new AppTransaction(app, producer, transactionalId, (txn, records, offsets) => (txn.ordered ? sendInOrder(txn, records, this.limitOf, offsets) : sendPerPartition(txn, records, this.limitOf)), OUTPUTS_PER_BATCH, this.opts.logger)
    this.appProducers.set(app, entry)
    const early = this.outboxes.get(app) ?? []
    this.outboxes.delete(app)
    this.buffered -= early.length
    for (const r of early) entry.push(r)
  }

  /**
   * `maxInFlight`: produce requests in flight per broker connection. One per task's producer
   * (v1); 5, the most an idempotent producer may have, for the app's producer (v2). kafkajs
   * itself sends one produce request per broker at a time (its broker lock), which is why the
   * app's sends span every partition where they can (sendInOrder). A partition never has two
   * sends in flight, so its order and sequence numbers hold.
   */
  private async transactionalProducer(transactionalId: string, maxInFlight = 1): Promise<SinkProducer> {
    const p = this.producers.create({ transactionalId, maxInFlightRequests: maxInFlight, transactionTimeout: 15_000 })
    await p.connect()
    // The first transaction initializes the producer id: the broker aborts (or completes) the
    // previous owner's open transaction before answering, so committed offsets read next are final.
    const txn = await p.transaction()
    await txn.abort()
    return p
  }

  /**
   * Drops a task: its unsent outputs are discarded (the next owner produces them again).
   * exactly_once_v2: if some were sent in the app's open transaction, it can no longer commit
   * ({@link KafkaSink.throwIfRevoked}).
   */
  async closeTask(owner: string): Promise<void> {
    if (this.opts.perApp) {
      const app = appOf(owner)
      const entry = this.appProducers.get(app)
      if (entry) return entry.drop(owner)
      const box = this.outboxes.get(app) ?? []
      const kept = box.filter((r) => r.owner !== owner)
      this.buffered -= box.length - kept.length
      this.outboxes.set(app, kept)
      return
    }
    this.outboxes.delete(owner)
    const seq = this.outboxSeq
    this.outboxSeq = seq.filter((_, i) => this.outbox[i]?.owner !== owner)
    this.outbox = this.outbox.filter((r) => r.owner !== owner)
    const p = this.transactional.get(owner)
    this.transactional.delete(owner)
    await p?.disconnect().catch(() => {})
  }

  /** Queues an output record of a task. */
  push(record: OutRecord): void {
    const app = this.opts.perApp ? this.appProducers.get(appOf(record.owner)) : undefined
    if (app) {
      app.push(record)
      return
    }
    this.buffered++
    if (!this.opts.exactlyOnce) {
      this.outbox.push(record)
      this.outboxSeq.push(this.pushed++)
      return
    }
    // exactly_once_v2 before the app's producer is (re)opened: kept for it (openApp).
    const key = this.opts.perApp ? appOf(record.owner) : record.owner
    let box = this.outboxes.get(key)
    if (!box) this.outboxes.set(record.owner, (box = []))
    box.push(record)
  }

  /** Records queued and not yet acknowledged (at-least-once) or committed (exactly-once). */
  pending(): number {
    let n = this.buffered
    for (const a of this.appProducers.values()) n += a.pending()
    return n
  }

  /**
   * exactly_once_v2: throws (a recoverable IO_ERROR) if a task was dropped while its records
   * were in its app's open transaction: the transaction has to be aborted, and every task put
   * back to its last commit (see {@link AppTransaction}).
   */
  throwIfRevoked(): void {
    for (const a of this.appProducers.values()) a.throwIfRevoked()
  }

  /**
   * At-least-once: sends the queued outputs without waiting for them. One send at a time: kafkajs
   * does not keep the order of concurrent sends to one partition (and its idempotent producer
   * holds one produce request per broker in flight anyway). What is queued while a send is in
   * flight goes out as one send when it is acknowledged, so a fast loop makes few, large
   * requests rather than one per processing chunk, each waiting for the one before (issue 9).
   */
  dispatch(app: string): void {
    if (this.opts.perApp) {
      for (const a of this.appProducers.values()) a.dispatch()
      return
    }
    if (this.opts.exactlyOnce || this.sending || this.failure !== null || this.outbox.length === 0 || !this.shared) return
    // At most OUTPUTS_PER_BATCH per send: kafkajs groups a send's messages by partition in time
    // quadratic in their number (groupMessagesPerPartition copies the array at every message).
    let batch = this.outbox
    this.sendingFrom = this.outboxSeq[0] as number
    if (batch.length > OUTPUTS_PER_BATCH) {
      this.outbox = batch.slice(OUTPUTS_PER_BATCH)
      this.outboxSeq = this.outboxSeq.slice(OUTPUTS_PER_BATCH)
      batch = batch.slice(0, OUTPUTS_PER_BATCH)
    } else {
      this.outbox = []
      this.outboxSeq = []
    }
    const producer = this.shared
    const generation = this.generation
    // Outputs: no changelog offsets to count.
    this.sending = this.sendInRounds(producer, batch, false).then(
      () => {
        if (generation !== this.generation) return
        this.buffered -= batch.length
        this.opts.metrics?.produced.inc({ app, kind: 'output' }, batch.length)
        this.sending = null
        this.sendingFrom = Number.POSITIVE_INFINITY
        this.dispatch(app)
      },
      (err: unknown) => {
        if (generation !== this.generation) return
        this.failure ??= err
        this.sending = null
      },
    )
  }

  /**
   * Whether so many outputs wait for their acknowledgement that processing should wait:
   * `maxInFlight` batches of {@link OUTPUTS_PER_BATCH}.
   */
  saturated(): boolean {
    if (this.opts.perApp) {
      for (const a of this.appProducers.values()) if (a.saturated(this.opts.maxInFlight * OUTPUTS_PER_BATCH)) return true
      return false
    }
    return this.sending !== null && this.buffered >= this.opts.maxInFlight * OUTPUTS_PER_BATCH
  }

  /** Waits for the send in flight (backpressure). */
  async waitOne(): Promise<void> {
    if (this.opts.perApp) {
      for (const a of this.appProducers.values()) if (a.saturated(this.opts.maxInFlight * OUTPUTS_PER_BATCH)) await a.waitOne()
      return
    }
    if (this.sending) await this.sending
    this.throwIfFailed()
  }

  /**
   * At-least-once: sends what is queued and waits until every output pushed before `mark` (the
   * number of outputs pushed by then; default: now) is acknowledged. Outputs are sent in the order they
   * were pushed, so the ones pushed after the mark (the loop processes while a commit is written,
   * KafkaRunner.startCommit) are not waited for: a commit that chased them ended only when the
   * loop paused, and at a steady rate that is when the outputs stop.
   */
  async flush(app: string, mark = this.pushed): Promise<void> {
    this.dispatch(app)
    while (Math.min(this.sending ? this.sendingFrom : Number.POSITIVE_INFINITY, this.outboxSeq[0] ?? Number.POSITIVE_INFINITY) < mark) {
      this.throwIfFailed()
      // Every caller waits for what it needs in flight, also what another caller dispatched.
      if (!this.sending) this.dispatch(app)
      if (!this.sending) throw new HermesError('IO_ERROR', 'outputs to acknowledge and no producer to send them (reset under way)')
      await this.sending
    }
    this.throwIfFailed()
  }

  /**
   * Commit step of one task, before its local state is written. At-least-once: the outputs
   * pushed before it was called are acknowledged, then the changelog records are sent and
   * acknowledged. Exactly-once: the task's outputs, changelog records and input offsets are
   * committed in one transaction. Resolves with the changelog offsets written (one past the last
   * record per topic).
   */
  async commitTask(app: string, owner: string, partition: number, records: ChangelogRecord[], input: InputOffsets): Promise<ChangelogOffsets> {
    const changelog: OutRecord[] = records.map((r) => ({ owner, topic: r.topic, partition, key: r.key, value: r.value, timestamp: 0 }))
    if (!this.opts.exactlyOnce) {
      // Taken before the first await, with the task's state and positions (Task.commit): the
      // outputs of what this commit covers, not those the loop produces while it is written.
      await this.flush(app, this.pushed)
      if (changelog.length === 0 || !this.shared) return {}
      const out = await this.sendInRounds(this.shared, changelog)
      this.opts.metrics?.produced.inc({ app, kind: 'changelog' }, changelog.length)
      return out
    }
    const producer = this.transactional.get(owner)
    if (!producer) throw new Error(`no transactional producer for task ${owner}`)
    const outputs = this.outboxes.get(owner) ?? []
    this.outboxes.delete(owner)
    this.buffered -= outputs.length
    const all = [...outputs, ...changelog]
    if (all.length === 0 && input.offsets.length === 0) return {}
    const txn = await producer.transaction()
    try {
      const offsets = await sendPerPartition(txn, all, this.limitOf)
      if (input.offsets.length) await txn.sendOffsets({ groupId: input.groupId, offsets: input.offsets })
      await txn.commit()
      this.opts.metrics?.produced.inc({ app, kind: 'output' }, outputs.length)
      this.opts.metrics?.produced.inc({ app, kind: 'changelog' }, changelog.length)
      const out: ChangelogOffsets = {}
      for (const r of changelog) {
        const next = offsets.get(`${r.topic}:${partition}`)
        if (next !== undefined) out[r.topic] = next
      }
      return out
    } catch (err) {
      this.opts.metrics?.transactionAborts.inc({ app })
      await txn.abort().catch((e: unknown) => this.opts.logger.debug({ task: owner, err: describeKafkaError(e) }, 'abort after a failed commit failed too'))
      throw err
    }
  }

  /**
   * exactly_once_v2: the commit step of all of an app's tasks at once, before their local state is
   * written. The app's outputs (in the order they were produced), every task's changelog records
   * and the input offsets go in one transaction; the offsets carry the group metadata they were
   * read under, and a group that moved on refuses them (ILLEGAL_GENERATION): the transaction is
   * aborted and the error thrown. Resolves with each task's changelog offsets written, in the
   * order of `tasks`.
   */
  async commitApp(app: string, tasks: readonly TaskChangelog[], input: InputOffsets & { group: GroupMetadata }): Promise<ChangelogOffsets[]> {
    if (!this.appProducers.has(app)) {
      const id = this.appIds.get(app)
      if (id === undefined) throw new Error(`no transactional producer for app ${app}`)
      // Its reset could not open it (a Kafka failure, which recovery retries): now, or fail again.
      await this.openApp(app, id)
    }
    const entry = this.appProducers.get(app) as AppTransaction
    const outputs = entry.pending()
    const changelog: OutRecord[] = tasks.flatMap((t) => t.records.map((r) => ({ owner: app, topic: r.topic, partition: t.partition, key: r.key, value: r.value, timestamp: 0 })))
    let offsets: Map<string, number>
    try {
      // The offsets carry the group metadata (KIP-447), named in the thread that sends them (producer-port.ts).
      offsets = await entry.commit(changelog, { groupId: input.groupId, offsets: input.offsets, group: input.group })
    } catch (err) {
      this.opts.metrics?.transactionAborts.inc({ app })
      throw err
    }
    this.opts.metrics?.produced.inc({ app, kind: 'output' }, outputs)
    this.opts.metrics?.produced.inc({ app, kind: 'changelog' }, changelog.length)
    return tasks.map((t) => {
      const out: ChangelogOffsets = {}
      for (const r of t.records) {
        const next = offsets.get(`${r.topic}:${t.partition}`)
        if (next !== undefined) out[r.topic] = next
      }
      return out
    })
  }

  /**
   * Forgets everything not yet committed (after a failure): queued outputs, a recorded send
   * failure, and the shared producer, which is replaced by a new one.
   */
  async reset(): Promise<void> {
    this.outbox = []
    this.outboxSeq = []
    this.sendingFrom = Number.POSITIVE_INFINITY
    this.outboxes.clear()
    this.sending = null
    this.generation++
    this.failure = null
    this.buffered = 0
    const old = this.shared
    this.shared = null
    await old?.disconnect().catch(() => {})
    await this.start()
    // exactly_once_v2: a new producer of the same transactional id, since kafkajs' transaction
    // state after a failed commit may refuse the next one ("Cannot call beginTransaction in state
    // COMMITTING"); initializing it aborts whatever the old one left open.
    // Every app's, also one a reset before could not open: the first failure ends this one (the
    // runner retries its recovery), and an app left without a producer opens it at its next commit.
    for (const [app, transactionalId] of this.appIds) {
      const old = this.appProducers.get(app)
      this.appProducers.delete(app)
      await old?.producer.disconnect().catch(() => {})
      await this.openApp(app, transactionalId)
    }
  }

  async close(): Promise<void> {
    await this.sending
    await this.shared?.disconnect().catch(() => {})
    await Promise.all([...this.transactional.values()].map((p) => p.disconnect().catch(() => {})))
    this.transactional.clear()
    await Promise.all([...this.appProducers.values()].map((a) => a.producer.disconnect().catch(() => {})))
    this.appProducers.clear()
    await this.producers.close()
  }

  private readonly limitOf = (topic: string): number => this.opts.maxMessageBytes?.(topic) ?? Number.POSITIVE_INFINITY

  /**
   * Sends records with the shared producer in rounds (one after the other, so each partition
   * keeps its order) whose batches fit their topics' `max.message.bytes`. Resolves with the
   * changelog offsets written, as {@link written} counts them.
   * @throws HermesError PRODUCE_ERROR naming the partitions of the round that failed.
   */
  private async sendInRounds(producer: SinkProducer, records: readonly OutRecord[], offsets = true): Promise<ChangelogOffsets> {
    const out: ChangelogOffsets = {}
    for (const round of splitBySize(records, this.limitOf)) {
      let meta: ProduceAck[]
      try {
        meta = await producer.sendBatch(round)
      } catch (err) {
        throw sendFailed(err, round)
      }
      if (offsets) for (const [topic, next] of Object.entries(written(round, meta))) out[topic] = Math.max(out[topic] ?? 0, next)
    }
    return out
  }

  private throwIfFailed(): void {
    if (this.failure !== null) {
      const err = this.failure
      throw err instanceof Error ? err : new Error(describeKafkaError(err))
    }
  }
}

/**
 * Sends a transaction's records with one `sendBatch` per partition, all at once, and waits for
 * every one of them. kafkajs 2.2.4 retries a send that spans several brokers while the requests
 * to its other brokers may still be in flight, and sends those again with new sequence numbers:
 * the broker keeps both copies, so one committed transaction holds records twice (seen on a
 * three-broker cluster, where the first AddPartitionsToTxn after a commit fails with
 * CONCURRENT_TRANSACTIONS). A send to one partition goes to one broker in one request, which
 * has nothing to race with. Settling all of them before throwing means no request is in flight
 * when the caller aborts.
 */
async function sendPerPartition(txn: SinkTransaction, records: readonly OutRecord[], limitOf: (topic: string) => number): Promise<Map<string, number>> {
  const byPartition = new Map<string, OutRecord[]>()
  for (const r of records) {
    const tp = `${r.topic}:${r.partition}`
    let list = byPartition.get(tp)
    if (!list) byPartition.set(tp, (list = []))
    list.push(r)
  }
  // A partition's records go in batches under its topic's limit, one after the other.
  const out = new Map<string, number>()
  const sendPartition = async (list: OutRecord[]): Promise<void> => {
    for (const round of splitBySize(list, limitOf)) {
      let meta: ProduceAck[]
      try {
        meta = await txn.sendBatch(round)
      } catch (err) {
        throw sendFailed(err, round)
      }
      for (const [tp, next] of writtenPerPartition(round, meta)) out.set(tp, Math.max(out.get(tp) ?? 0, next))
    }
  }
  const sent = await Promise.allSettled([...byPartition.values()].map(sendPartition))
  const failed = sent.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
  return out
}

/**
 * {@link sendPerPartition} for an ordered transaction (SinkTransaction.ordered): one send per
 * round under the topics' limits, all made at once (they run one after the other, in order),
 * each spanning every partition of its round. `offsets`: whether the offsets written are wanted
 * (the commit's changelog records), or not (outputs sent while processing): then none.
 */
async function sendInOrder(txn: SinkTransaction, records: readonly OutRecord[], limitOf: (topic: string) => number, offsets: boolean): Promise<Map<string, number>> {
  const rounds = splitBySize(records, limitOf)
  const none = new Map<string, number>()
  const sent = await Promise.allSettled(rounds.map((round) => txn.sendBatch(round).then((meta) => (offsets ? writtenPerPartition(round, meta) : none), (err: unknown) => Promise.reject(sendFailed(err, round)))))
  const out = new Map<string, number>()
  for (const s of sent) {
    if (s.status === 'rejected') throw s.reason
    for (const [tp, next] of s.value) out.set(tp, Math.max(out.get(tp) ?? 0, next))
  }
  return out
}

/**
 * A failed send as an error that names where it went (kafkajs' produce errors do not): the
 * partitions, the record count and the largest record, around the Kafka error (its `cause`).
 */
function sendFailed(err: unknown, records: readonly OutRecord[]): HermesError {
  if (err instanceof HermesError) return err
  const tps = [...new Set(records.map((r) => `${r.topic}[${r.partition}]`))]
  const largest = records.reduce((m, r) => Math.max(m, (r.value?.length ?? 0) + Buffer.byteLength(r.key ?? '')), 0)
  const where = tps.length > 5 ? `${tps.slice(0, 5).join(', ')} and ${tps.length - 5} more` : tps.join(', ')
  return new HermesError('PRODUCE_ERROR', `sending ${records.length} records to ${where} failed (largest key + value: ${largest} bytes): ${describeKafkaError(err)}`, { cause: err })
}

/**
 * One past the last offset written per topic, from the produce responses of one send of these
 * records (one batch per partition). Changelogs have one partition per task, so per topic is
 * enough for one task's records.
 */
function written(changelog: readonly OutRecord[], meta: readonly ProduceAck[]): ChangelogOffsets {
  const out: ChangelogOffsets = {}
  for (const [tp, next] of writtenPerPartition(changelog, meta)) out[tp.slice(0, tp.lastIndexOf(':'))] = next
  return out
}

/** One past the last offset written per `topic:partition` (several tasks' changelogs in one send: exactly_once_v2). */
function writtenPerPartition(records: readonly OutRecord[], meta: readonly ProduceAck[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of records) counts.set(`${r.topic}:${r.partition}`, (counts.get(`${r.topic}:${r.partition}`) ?? 0) + 1)
  const out = new Map<string, number>()
  for (const m of meta) {
    const n = counts.get(`${m.topicName}:${m.partition}`)
    const base = Number(m.baseOffset ?? -1)
    if (n !== undefined && base >= 0) out.set(`${m.topicName}:${m.partition}`, base + n)
  }
  return out
}

/** The app of an owner (`<app>/<taskId>`). */
function appOf(owner: string): string {
  return owner.slice(0, owner.lastIndexOf('/'))
}
