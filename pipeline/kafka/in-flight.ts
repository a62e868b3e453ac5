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

  /** Records one produced record with event time `ts` bound for `tp`. */
  add(tp: string, ts: number): void {
    let m = this.perPartition.get(tp)
    if (!m) this.perPartition.set(tp, (m = new Map()))
    m.set(ts, (m.get(ts) ?? 0) + 1)
    const known = this.partitionMin.get(tp)
    if (known !== undefined && ts < known) this.partitionMin.set(tp, ts)
    const c = this.counts.get(ts) ?? 0
    this.counts.set(ts, c + 1)
    if (c === 0) this.heap.push(ts)
    this.total++
  }

  /** A record with event time `ts` was read from `tp`: one produced record has arrived. */
  arrived(tp: string, ts: number): void {
    const m = this.perPartition.get(tp)
    const n = m?.get(ts)
    if (!m || n === undefined) return // Not one of ours (another instance, or from before a restart).
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
    for (const [ts, n] of m) this.decrement(ts, n)
  }

  /** Forgets everything (outputs of a task were lost with its aborted transaction). */
  reset(): void {
    this.perPartition.clear()
    this.partitionMin.clear()
    this.counts.clear()
    this.heap.clear()
    this.total = 0
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
