import type { RawRecord } from '../runtime/task.ts'

/** Superseded slots tolerated before the arrays are rebuilt (amortizes the rebuild). */
const MIN_DEAD_BEFORE_COMPACTION = 64

/**
 * One broadcast partition as a compacted topic keeps it: the latest record per key (plus every
 * record without a key), in offset order, whatever the log's start offset and its gaps. Memory
 * follows the number of keys, not the topic's history.
 *
 * A tombstone (null value) replaces its key's record. It matters only to a task that read the
 * key's record before, so it is handed to tasks that are already running (their cursor is below
 * it) and skipped by tasks that start later ({@link CompactedLog.read} with no cursor), which never
 * saw the record it deletes; once every running task has passed it,
 * {@link CompactedLog.forgetTombstonesBelow} drops it.
 */
export class CompactedLog {
  /** Records in offset order; null where a later record of the same key replaced one. */
  private slots: Array<RawRecord | null> = []
  /** `slots[i].offset` (kept for superseded slots too), for binary search. */
  private offsets: number[] = []
  /** Slot of each key's latest record. */
  private readonly latest = new Map<string, number>()
  private dead = 0
  private tombstones = 0
  private next = -1

  /** One past the offset of the last record appended (-1 before any). */
  get nextOffset(): number {
    return this.next
  }

  /** Records kept (latest per key, unkeyed ones, tombstones not yet forgotten). */
  get size(): number {
    return this.slots.length - this.dead
  }

  /** Appends a record read from the partition; offsets at or below the last one are ignored (fetched again). */
  append(r: RawRecord): void {
    if (r.offset < this.next) return
    this.next = r.offset + 1
    if (r.key !== null) {
      const old = this.latest.get(r.key)
      if (old !== undefined) this.kill(old)
      this.latest.set(r.key, this.slots.length)
    }
    if (r.value === null) this.tombstones++
    this.slots.push(r)
    this.offsets.push(r.offset)
    if (this.dead >= MIN_DEAD_BEFORE_COMPACTION && this.dead * 2 >= this.slots.length) this.compact()
  }

  /**
   * The kept records at or after offset `from`, in offset order; `from` undefined: every kept
   * record but tombstones (for a task that starts now).
   */
  *read(from?: number): Generator<RawRecord> {
    const fresh = from === undefined
    for (let i = fresh ? 0 : this.firstAtOrAfter(from); i < this.slots.length; i++) {
      const r = this.slots[i]
      if (r && !(fresh && r.value === null)) yield r
    }
  }

  /** Forgets tombstones below `offset` (every running task has read past them). */
  forgetTombstonesBelow(offset: number): void {
    if (this.tombstones === 0) return
    for (let i = 0; i < this.slots.length && (this.offsets[i] as number) < offset; i++) {
      const r = this.slots[i]
      if (r && r.value === null) {
        if (r.key !== null) this.latest.delete(r.key)
        this.kill(i)
      }
    }
    if (this.dead >= MIN_DEAD_BEFORE_COMPACTION && this.dead * 2 >= this.slots.length) this.compact()
  }

  private kill(i: number): void {
    const r = this.slots[i]
    if (!r) return
    if (r.value === null) this.tombstones--
    this.slots[i] = null
    this.dead++
  }

  private firstAtOrAfter(offset: number): number {
    let lo = 0
    let hi = this.offsets.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.offsets[mid] as number) < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Drops superseded slots and renumbers the keys' slots. */
  private compact(): void {
    const slots: RawRecord[] = []
    for (const r of this.slots) if (r) slots.push(r)
    this.slots = slots
    this.offsets = slots.map((r) => r.offset)
    this.latest.clear()
    for (let i = 0; i < slots.length; i++) {
      const k = (slots[i] as RawRecord).key
      if (k !== null) this.latest.set(k, i)
    }
    this.dead = 0
  }
}
