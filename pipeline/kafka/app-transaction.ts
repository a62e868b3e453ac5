import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import { describeKafkaError } from './client.ts'
import type { SinkProducer, SinkTransaction, TxnOffsets } from './producer-port.ts'
import type { OutRecord } from './sink.ts'

/**
 * How {@link AppTransaction} sends records in a transaction: in batches under their topics'
 * limits, in one call per partition or (ordered transactions) per round; resolves with one past
 * the last offset written per `topic:partition`.
 */
export type SendRecords = (txn: SinkTransaction, records: readonly OutRecord[], offsets: boolean) => Promise<Map<string, number>>

/**
 * exactly_once_v2: the open transaction of one app's producer, with its outputs sent while the
 * tasks go on processing, as Kafka Streams' producer does (its record accumulator sends batches
 * in the background, and a commit flushes what is left). Before this, the outputs waited in the
 * outbox until the commit, which sent them all while processing stopped: under v2 the main
 * thread was idle more than half of a backlog run (issue 9, fifth round).
 *
 * The transaction begins with the first send after a commit. A send goes out when the one
 * before it is acknowledged, with everything queued meanwhile (at most `batch` records), one
 * `sendBatch` per partition (see sendPerPartition in sink.ts), so each partition receives its
 * records in the order they were produced. A failed send is kept and thrown by the commit, which
 * aborts the transaction. What a send made readable is nothing: a read_committed reader sees it
 * once the transaction commits, as before, and an abort takes it back.
 *
 * A task dropped (revoked) whose records went out in the open transaction cannot take them
 * back alone: its next owner produces them again, so committing them would write them twice.
 * The transaction is then marked, and {@link AppTransaction.throwIfRevoked} makes the runner abort it and
 * put every task back to its last commit (a Kafka failure's recovery). Kafka Streams commits
 * the tasks it is about to lose instead; kafkajs gives no callback before the group moves on.
 */
export class AppTransaction {
  private txn: Promise<SinkTransaction> | null = null
  /** Whether the producer's transactions are ordered (SinkTransaction.ordered), once one has begun. */
  private ordered = false
  private outbox: OutRecord[] = []
  /** Sends not yet settled. */
  private readonly inFlight = new Set<Promise<void>>()
  /** Records in those sends. */
  private unacked = 0
  private failure: unknown = null
  /** Owners (`<app>/<task>`) with records sent in the open transaction. */
  private readonly sentBy = new Set<string>()
  /** An owner dropped while it had records in the open transaction. */
  private revoked: string | null = null
  /** Records queued or sent and not yet committed. */
  private uncommitted = 0
  /**
   * A commit is running: what the tasks produce meanwhile waits in the outbox for the next
   * transaction (its input offsets are not in this one).
   */
  private committing = false

  constructor(
    readonly app: string,
    readonly producer: SinkProducer,
    readonly transactionalId: string,
    private readonly send: SendRecords,
    private readonly batch: number,
    private readonly logger: Logger,
  ) {}

  push(record: OutRecord): void {
    this.outbox.push(record)
    this.uncommitted++
  }

  /** Records queued or sent and not yet committed. */
  pending(): number {
    return this.uncommitted
  }

  /**
   * Sends what is queued, in sends of at most `batch` records: all of it at once if the
   * transaction is ordered, else one send at a time (the next when this one is acknowledged).
   * Nothing after a failed send.
   */
  dispatch(): void {
    while (!this.committing && this.failure === null && this.outbox.length > 0 && (this.ordered || this.inFlight.size === 0)) {
      let records = this.outbox
      if (records.length > this.batch) {
        this.outbox = records.slice(this.batch)
        records = records.slice(0, this.batch)
      } else this.outbox = []
      this.issue(records)
    }
  }

  private issue(records: OutRecord[]): void {
    let last = ''
    for (const r of records) if (r.owner !== last) this.sentBy.add((last = r.owner))
    this.unacked += records.length
    // Callbacks of one promise run in the order they were added: the sends are made in this order.
    const sent: Promise<void> = this.begin()
      .then((t) => this.send(t, records, false))
      .then(
        () => {
          this.unacked -= records.length
          this.inFlight.delete(sent)
          this.dispatch()
        },
        (err: unknown) => {
          this.unacked -= records.length
          this.inFlight.delete(sent)
          this.failure ??= err
        },
      )
    this.inFlight.add(sent)
  }

  private begin(): Promise<SinkTransaction> {
    return (this.txn ??= this.producer.transaction().then((t) => {
      this.ordered = t.ordered
      return t
    }))
  }

  /** Whether sends are in flight with at least `queued` records sent or waiting. */
  saturated(queued: number): boolean {
    return this.inFlight.size > 0 && this.unacked + this.outbox.length >= queued
  }

  /** Waits for one of the sends in flight to settle (a failure waits for the commit). */
  async waitOne(): Promise<void> {
    if (this.inFlight.size) await Promise.race(this.inFlight)
  }

  /**
   * Drops a task's records not yet sent. If some were sent, the transaction can no longer commit
   * (see the class comment).
   */
  drop(owner: string): void {
    const kept = this.outbox.filter((r) => r.owner !== owner)
    this.uncommitted -= this.outbox.length - kept.length
    this.outbox = kept
    if (this.sentBy.has(owner)) this.revoked ??= owner
  }

  /** @throws HermesError IO_ERROR (recoverable) if a dropped task had records in the open transaction. */
  throwIfRevoked(): void {
    if (this.revoked !== null) throw revokedError(this.app, this.revoked)
  }

  /**
   * Sends what is left with `tail` (changelog records), then the input offsets, and commits.
   * With an ordered transaction the rest goes out at once, after the sends in flight; otherwise
   * once they have settled. Resolves with one past the last offset written per
   * `topic:partition` by this last send. On any failure (of an earlier send too) the transaction
   * is aborted, once no send is in flight, and the error thrown; either way the next record
   * begins a new transaction.
   */
  async commit(tail: readonly OutRecord[], offsets: TxnOffsets): Promise<Map<string, number>> {
    this.committing = true
    try {
      return await this.commitNow(tail, offsets)
    } finally {
      this.committing = false
    }
  }

  private async commitNow(tail: readonly OutRecord[], offsets: TxnOffsets): Promise<Map<string, number>> {
    const records = this.outbox.length ? [...this.outbox, ...tail] : tail
    this.outbox = []
    // What is pushed from here on belongs to the next transaction.
    const inThis = this.uncommitted
    const open = this.txn
    const early = open !== null && this.ordered && this.failure === null && records.length ? open.then((t) => this.send(t, records, true)) : null
    // Settled below, before anything is aborted.
    early?.catch(() => {})
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight])
    const failure = this.failure
    const revoked = this.revoked
    this.txn = null
    this.failure = this.revoked = null
    this.sentBy.clear()
    this.uncommitted -= inThis
    if (open === null && records.length === 0 && offsets.offsets.length === 0) return new Map()
    const txn = await (open ?? this.producer.transaction())
    try {
      if (failure !== null) throw failure
      if (revoked !== null) throw revokedError(this.app, revoked)
      const written = await (early ?? this.send(txn, records, true))
      if (offsets.offsets.length) await txn.sendOffsets(offsets)
      await txn.commit()
      return written
    } catch (err) {
      await early?.catch(() => {})
      await txn.abort().catch((e: unknown) => this.logger.debug({ app: this.app, err: describeKafkaError(e) }, 'abort after a failed commit failed too'))
      throw err
    }
  }
}

function revokedError(app: string, owner: string): HermesError {
  return new HermesError(
    'IO_ERROR',
    `task ${owner} was dropped while its outputs were in ${app}'s open transaction, which its next owner would write again: the transaction is aborted and every task goes back to its last commit`,
  )
}
