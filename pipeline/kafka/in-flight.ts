import { MinHeap } from '../runtime/heap.ts'

/**
 * Event times of records this process produced to partitions it also reads (repartition topics)
 * and has not read back yet. On Kafka such a record takes a produce/fetch round trip (and, with
 * transactions, a commit) before it can be processed, while the embedded log hands it over at
 * once. Holding the watermark at the earliest of these times keeps windows and timers from
 * closing before records that are still on their way arrive, so results match embedded mode.
 */
export class InFlightTimes {
  private readonly perPartition = new Map<string, Map<number, number>>()
  /** Earliest time per partition, computed on demand (dropped when it may have changed). */
  private readonly partitionMin = new Map<string, number>()
  private readonly counts = new Map<number, number>()
  /** Distinct times in flight; a time whose count dropped to zero leaves it lazily, in `min`. */
  private readonly heap = new MinHeap<number>((a, b) => a < b)
  private total = 0
  /**
   * Per partition, the reading app's clock when each record of ours still on its way was
   * written, oldest first (one producer: a partition receives them in this order). See
   * {@link InFlightTimes.clockFor}.
   */
  private readonly clocks = new Map<string, Written>()
  /** Records added since the last {@link InFlightTimes.transactionCommitted}. */
  private sinceCommit = 0
  /**
   * Whether records of ours reach each partition in the order they were written (one producer
   * for all outputs: at-least-once). Then a partition's next record of ours is the oldest one
   * written ({@link InFlightTimes.nextFor}), not the earliest in time.
   */
  ordered = false

  /**
   * Records one produced record with event time `ts` bound for `tp`; `clock`: the app clock of
   * the app reading `tp` when it was written (the embedded log hands it over at once, so that is
   * the clock the reading task would see when it processes it embedded); `owner`: the task that
   * wrote it (see {@link InFlightTimes.forgetUncommitted}).
   */
  add(tp: string, ts: number, clock = ts, owner = ''): void {
    let q = this.clocks.get(tp)
    if (!q) this.clocks.set(tp, (q = { at: [], ts: [], by: [], head: 0, committed: 0 }))
    q.at.push(clock)
    q.ts.push(ts)
    q.by.push(owner)
    let m = this.perPartition.get(tp)
    if (!m) this.perPartition.set(tp, (m = new Map()))
    m.set(ts, (m.get(ts) ?? 0) + 1)
    const known = this.partitionMin.get(tp)
    if (known !== undefined && ts < known) this.partitionMin.set(tp, ts)
    const c = this.counts.get(ts) ?? 0
    this.counts.set(ts, c + 1)
    if (c === 0) this.heap.push(ts)
    this.total++
    this.sinceCommit++
  }

  /** A record with event time `ts` was read from `tp`: one produced record has arrived. */
  arrived(tp: string, ts: number): void {
    const m = this.perPartition.get(tp)
    const n = m?.get(ts)
    if (!m || n === undefined) return // Not one of ours (another instance, or from before a restart).
    const q = this.clocks.get(tp)
    if (q && q.head < q.at.length) {
      if (q.committed > 0) q.committed--
      q.head++
      // Compact now and then, not at every record.
      if (q.head === q.at.length) q.at.length = q.ts.length = q.by.length = q.head = 0
      else if (q.head > 1024 && q.head * 2 > q.at.length) {
        q.at.splice(0, q.head)
        q.ts.splice(0, q.head)
        q.by.splice(0, q.head)
        q.head = 0
      }
    }
    if (n === 1) {
      m.delete(ts)
      if (this.partitionMin.get(tp) === ts) this.partitionMin.delete(tp)
    } else m.set(ts, n - 1)
    this.decrement(ts, 1)
  }

  /** Forgets what was bound for `tp` (the partition moved to another instance). */
  clear(tp: string): void {
    const m = this.perPartition.get(tp)
    if (!m) return
    this.perPartition.delete(tp)
    this.partitionMin.delete(tp)
    this.clocks.delete(tp)
    for (const [ts, n] of m) this.decrement(ts, n)
  }

  /** Forgets everything (outputs of a task were lost with its aborted transaction). */
  reset(): void {
    this.perPartition.clear()
    this.partitionMin.clear()
    this.clocks.clear()
    this.counts.clear()
    this.heap.clear()
    this.total = 0
    this.sinceCommit = 0
  }

  /**
   * exactly_once_v2: the transaction holding the records of ours written up to `mark` (taken when
   * its commit began; what was written since is in the next transaction) committed; they
   * are readable (read_committed) once the partition's last stable offset passes them, which an
   * open transaction of another producer on the partition may hold back.
   */
  transactionCommitted(mark: CommitMark): void {
    // Written after the mark: in the next transaction. Arrived meanwhile: committed earlier
    // (nothing of an open transaction is readable), which `arrived` took off `committed` first.
    this.sinceCommit = Math.max(0, this.sinceCommit - mark.total)
    for (const [tp, n] of mark.perPartition) {
      const q = this.clocks.get(tp)
      if (q) q.committed = Math.min(q.committed + n, q.at.length - q.head)
    }
  }

  /**
   * exactly_once_v2: what the commit about to run covers (the records of ours written so far and
   * not committed), for {@link InFlightTimes.transactionCommitted} once it has committed, while
   * the tasks go on writing records of the next transaction.
   */
  commitMark(): CommitMark {
    const perPartition = new Map<string, number>()
    for (const [tp, q] of this.clocks) {
      const n = q.at.length - q.head - q.committed
      if (n > 0) perPartition.set(tp, n)
    }
    return { total: this.sinceCommit, perPartition }
  }

  /**
   * exactly_once_v2: forgets the records of ours not committed yet whose writer `keep` rejects:
   * tasks dropped (revoked) with their outputs still in the app's outbox, which discards them;
   * they will never arrive (the partition's new owner writes its own).
   */
  forgetUncommitted(keep: (owner: string) => boolean): void {
    for (const [tp, q] of this.clocks) {
      const from = q.head + q.committed
      let w = from
      for (let i = from; i < q.ts.length; i++) {
        const owner = q.by[i] as string
        const ts = q.ts[i] as number
        if (keep(owner)) {
          q.at[w] = q.at[i] as number
          q.ts[w] = ts
          q.by[w] = owner
          w++
          continue
        }
        const m = this.perPartition.get(tp)
        const n = m?.get(ts)
        if (m && n !== undefined) {
          if (n === 1) m.delete(ts)
          else m.set(ts, n - 1)
          if (this.partitionMin.get(tp) === ts) this.partitionMin.delete(tp)
          this.decrement(ts, 1)
        }
        if (this.sinceCommit > 0) this.sinceCommit--
      }
      q.at.length = q.ts.length = q.by.length = w
    }
  }

  /** Records of ours written since the last {@link InFlightTimes.transactionCommitted} (exactly_once_v2). */
  uncommitted(): number {
    return this.sinceCommit
  }

  /** The earliest event time still on its way, or Infinity. */
  min(): number {
    let top = this.heap.peek()
    while (top !== undefined && !this.counts.has(top)) {
      this.heap.pop()
      top = this.heap.peek()
    }
    return top ?? Infinity
  }

  /** The earliest event time on its way to `tp`, or Infinity. */
  minFor(tp: string): number {
    const m = this.perPartition.get(tp)
    if (!m || m.size === 0) return Infinity
    let min = this.partitionMin.get(tp)
    if (min === undefined) {
      min = Infinity
      for (const ts of m.keys()) if (ts < min) min = ts
      this.partitionMin.set(tp, min)
    }
    return min
  }

  /**
   * The reading app's clock when the oldest record of ours still on its way to `tp` was written,
   * or Infinity: the app clock a task reading `tp` would have, embedded, when it processes that
   * record. The loop may run other tasks ahead meanwhile (see {@link HoldScope}); the tasks reading
   * `tp` keep their time as embedded mode gives it by taking their app clock no later than this.
   */
  clockFor(tp: string): number {
    const q = this.clocks.get(tp)
    return q && q.head < q.at.length ? (q.at[q.head] as number) : Infinity
  }

  /**
   * With {@link InFlightTimes.ordered}: the event time of the next record of ours to arrive on
   * `tp` (the oldest written), or Infinity. What embedded mode knows of the partition when that
   * record is read: the ones written after it do not exist yet there, so they must not hold back
   * the time of the task reading it (a late record written after it would keep a window open
   * that embedded mode had closed).
   */
  nextFor(tp: string): number {
    const q = this.clocks.get(tp)
    return q && q.head < q.ts.length ? (q.ts[q.head] as number) : Infinity
  }

  size(): number {
    return this.total
  }

  private decrement(ts: number, n: number): void {
    const c = (this.counts.get(ts) ?? 0) - n
    if (c <= 0) this.counts.delete(ts)
    else this.counts.set(ts, c)
    this.total -= n
  }
}

/** The records of ours a commit covers: see {@link InFlightTimes.commitMark}. */
export interface CommitMark {
  total: number
  perPartition: Map<string, number>
}

/**
 * Records of ours on their way to one partition, oldest first: the reading app's clock and the
 * event time of each, and how many from the head are committed (exactly_once_v2).
 */
interface Written {
  at: number[]
  ts: number[]
  /** The task that wrote each. */
  by: string[]
  head: number
  /** How many from the head are committed. */
  committed: number
}
