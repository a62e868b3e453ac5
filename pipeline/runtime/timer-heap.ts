/**
 * The in-memory part of the timers (pipeline/runtime/timers.ts): one registered timer, and the
 * min-heap that orders the timers of one domain in memory.
 */
import type { Timer } from '../api/processor.ts'

/** Timer domain. */
export type Domain = 'event' | 'processing'

/** One registered timer; registering the same timer again updates its payload in place. */
export class Entry {
  /** False once deleted or fired; the queue drops dead entries lazily. */
  live = true
  /** Whether the backend holds this timer (as of the last load or drain). */
  stored = false
  /** Whether it waits in the change list for the next drain. */
  dirty = false
  /** Moved beyond the in-memory window: the backend holds it now, not this entry. */
  evicted = false

  constructor(
    readonly domain: Domain,
    readonly node: string,
    readonly key: string | null,
    readonly time: number,
    readonly name: string,
    public payload: unknown,
    /** The timers of its key, and its place there, so removing it needs no lookup. */
    public siblings: Entry[],
    public index: number,
  ) {}
}

/** Orders timers by (time, key, name, node): the firing order, independent of registration order. */
export function timerBefore(a: Timer & { node: string }, b: Timer & { node: string }): boolean {
  return a.time !== b.time ? a.time < b.time : compareTie(a, b) < 0
}

/** Firing order among timers due at the same time: by key, name, node. */
function compareTie(a: Timer & { node: string }, b: Timer & { node: string }): number {
  const ak = a.key ?? ''
  const bk = b.key ?? ''
  if (ak !== bk) return ak < bk ? -1 : 1
  if (a.name !== b.name) return a.name < b.name ? -1 : 1
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0
}

/**
 * The pending timers of one domain, with lazy deletion. A binary min-heap orders them by time
 * alone, with the times in a typed array, so sifting compares neighbouring numbers and never
 * follows a pointer. The timers of the earliest time are then taken out together as a batch and
 * sorted by (key, name, node) once: many keys often share a time (every hourly window of every
 * user closes at the same instant), and sorting them once is far cheaper than comparing key
 * strings on every sift.
 */
export class DomainQueue {
  private times = new Float64Array(1024)
  private items: Entry[] = []
  /** Timers of one time, sorted, taken out of the heap; `next` is the first not yet served. */
  private batch: Entry[] = []
  private next = 0
  /** Deleted entries still held in the heap or the batch. */
  dead = 0

  push(e: Entry): void {
    this.heapPush(e)
  }

  /** The earliest live entry in firing order, dropping dead ones on the way. */
  peekLive(): Entry | undefined {
    for (;;) {
      const head = this.batch[this.next]
      if (head && !head.live) {
        this.next++
        this.dead--
        continue
      }
      const top = this.items[0]
      if (top && !top.live) {
        this.heapPop()
        this.dead--
        continue
      }
      if (head && (!top || top.time > head.time)) return head
      if (!top) return undefined
      // Registered after the batch was taken, at its time: it joins the batch in order.
      if (head && top.time === head.time) this.insertIntoBatch(this.heapPop() as Entry)
      else this.takeBatch()
    }
  }

  /** Removes the entry {@link peekLive} returned. */
  pop(): void {
    if (++this.next < this.batch.length) return
    this.batch = []
    this.next = 0
  }

  /**
   * Drops dead entries once they are the majority: a session window moves its timer on every
   * record, which would otherwise leave the heap mostly dead.
   */
  maybeCompact(): void {
    if (this.dead < 1024 || this.dead * 2 < this.items.length + this.batch.length - this.next) return
    this.batch = this.batch.slice(this.next).filter((e) => e.live)
    this.next = 0
    this.items = this.items.filter((e) => e.live)
    for (let i = 0; i < this.items.length; i++) this.times[i] = (this.items[i] as Entry).time
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i, this.items[i] as Entry)
    this.dead = 0
  }

  /** Makes the heap's earliest time the batch; what is left of the old batch goes back first. */
  private takeBatch(): void {
    for (let i = this.next; i < this.batch.length; i++) this.heapPush(this.batch[i] as Entry)
    const batch: Entry[] = []
    const time = (this.items[0] as Entry).time
    while (this.items.length > 0 && (this.items[0] as Entry).time === time) {
      const e = this.heapPop() as Entry
      if (e.live) batch.push(e)
      else this.dead--
    }
    if (batch.length > 1) batch.sort(compareTie)
    this.batch = batch
    this.next = 0
  }

  private insertIntoBatch(e: Entry): void {
    let lo = this.next
    let hi = this.batch.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compareTie(this.batch[mid] as Entry, e) < 0) lo = mid + 1
      else hi = mid
    }
    this.batch.splice(lo, 0, e)
  }

  private heapPush(e: Entry): void {
    const t = e.time
    let i = this.items.length
    if (i === this.times.length) this.grow()
    this.items.push(e)
    const times = this.times
    const items = this.items
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = times[p] as number
      if (pt <= t) break
      times[i] = pt
      items[i] = items[p] as Entry
      i = p
    }
    times[i] = t
    items[i] = e
  }

  private heapPop(): Entry | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last) this.siftDown(0, last)
    return top
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2)
    times.set(this.times)
    this.times = times
  }

  private siftDown(from: number, e: Entry): void {
    const times = this.times
    const items = this.items
    const n = items.length
    const t = e.time
    let i = from
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let m = l
      let mt = times[l] as number
      if (r < n && (times[r] as number) < mt) {
        m = r
        mt = times[r] as number
      }
      if (t <= mt) break
      times[i] = mt
      items[i] = items[m] as Entry
      i = m
    }
    times[i] = t
    items[i] = e
  }
}
