import { HermesError } from '../api/errors.ts'
import type { Timer } from '../api/processor.ts'
import type { KeyValueBackend } from '../state/backend.ts'
import { PREFIX } from '../state/task-state.ts'
import { MAX_DATE_MS } from './event-time.ts'

const SEP = '\u0000'

/**
 * A timer asked for at no point in time (NaN, ±Infinity, beyond the Date range). Such a time
 * comes from the data of the input being processed (a time or attribute no check caught), so
 * the task dead-letters that input and goes on, whatever `errors.process` says: stopping would
 * stop again on the same record after every restart, and the timer could never fire anyway.
 */
export class TimerTimeError extends HermesError {
  constructor(domain: Domain, node: string, key: string | null, time: number) {
    super('PROCESS_ERROR', `node ${node} registered a${domain === 'event' ? 'n event' : ' processing'}-time timer at ${time} for key ${JSON.stringify(key ?? '')}: a timer's time must be a finite epoch millisecond within the Date range (±${MAX_DATE_MS})`)
    this.name = 'TimerTimeError'
  }
}

type Domain = 'event' | 'processing'

/** One registered timer; registering the same timer again updates its payload in place. */
class Entry {
  /** False once deleted or fired; the queue drops dead entries lazily. */
  live = true
  /** Whether the backend holds this timer (as of the last load or drain). */
  stored = false
  /** Whether it waits in the change list for the next drain. */
  dirty = false

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
class DomainQueue {
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

/** A timer that is due, with the node that registered it. */
export interface DueTimer {
  node: string
  timer: Timer
}

/**
 * The event-time and processing-time timers of one task. Timers are unique per
 * (domain, node, key, time, name); changes are written with the task state at commit, and
 * {@link TimerQueue.load} restores them after a restart.
 *
 * Timers are indexed by key (a key holds few timers, so finding one is a short scan with no id
 * to build), and only timers that outlive a commit reach the backend: one registered and then
 * fired or deleted before the next drain costs no write at all.
 */
export class TimerQueue {
  private readonly queues = { event: new DomainQueue(), processing: new DomainQueue() }
  /** Live timers by key (`null` and `''` are the same key, as in the persisted id). */
  private readonly byKey = new Map<string, Entry[]>()
  /** Entries whose persisted form may differ from the backend, in the order they changed. */
  private changes: Entry[] = []
  private live = 0

  /** Loads persisted timers. */
  async load(backend: KeyValueBackend): Promise<void> {
    for await (const [, v] of backend.scan(PREFIX.timer)) {
      const t = JSON.parse(v.toString('utf8')) as { node: string; key: string | null; time: number; domain: Domain; name: string; payload: unknown }
      const e = this.add(t.domain, t.node, t.key, t.time, t.name, t.payload)
      e.stored = true
    }
  }

  register(domain: Domain, node: string, key: string | null, time: number, name: string, payload: unknown): void {
    if (!Number.isFinite(time) || Math.abs(time) > MAX_DATE_MS) throw new TimerTimeError(domain, node, key, time)
    const old = this.find(domain, node, key, time, name)
    if (old) {
      // Same id, so the same place in the queue: only the payload changes.
      old.payload = payload ?? null
      this.touch(old)
      return
    }
    this.touch(this.add(domain, node, key, time, name, payload ?? null))
  }

  delete(domain: Domain, node: string, key: string | null, time: number, name: string): void {
    const e = this.find(domain, node, key, time, name)
    if (!e) return
    this.unindex(e)
    this.queues[domain].dead++
    this.queues[domain].maybeCompact()
  }

  /** Time of the earliest live timer of a domain, or `Infinity`. */
  nextTime(domain: Domain): number {
    const top = this.queues[domain].peekLive()
    return top ? top.time : Infinity
  }

  /** The earliest live timer of a domain (not removed), or undefined. */
  peek(domain: Domain): (Timer & { node: string }) | undefined {
    return this.queues[domain].peekLive()
  }

  /** Removes and returns the earliest timer of the domain if it is due at `upTo`. */
  popDue(domain: Domain, upTo: number): DueTimer | undefined {
    const queue = this.queues[domain]
    const top = queue.peekLive()
    if (!top || top.time > upTo) return undefined
    queue.pop()
    this.unindex(top)
    return { node: top.node, timer: { key: top.key, time: top.time, domain: top.domain, name: top.name, payload: top.payload } }
  }

  /** Number of live timers. */
  size(): number {
    return this.live
  }

  /**
   * Persistence operations for everything changed since the last call: a put for each live timer
   * registered or updated, a delete for each persisted timer that fired or was deleted.
   */
  drainChanges(): Array<readonly [string, Buffer | null]> {
    const ops: Array<readonly [string, Buffer | null]> = []
    // A timer deleted and registered again shows up as two entries; the dead one changed first,
    // so its delete comes before the put of the new one.
    for (const e of this.changes) {
      e.dirty = false
      if (e.live) {
        const json = JSON.stringify({ node: e.node, key: e.key, time: e.time, domain: e.domain, name: e.name, payload: e.payload })
        ops.push([storageKey(e), Buffer.from(json, 'utf8')])
        e.stored = true
      } else if (e.stored) {
        ops.push([storageKey(e), null])
        e.stored = false
      }
    }
    this.changes = []
    return ops
  }

  private find(domain: Domain, node: string, key: string | null, time: number, name: string): Entry | undefined {
    const list = this.byKey.get(key ?? '')
    if (!list) return undefined
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Entry
      if (e.time === time && e.name === name && e.node === node && e.domain === domain) return e
    }
    return undefined
  }

  private add(domain: Domain, node: string, key: string | null, time: number, name: string, payload: unknown): Entry {
    const k = key ?? ''
    let list = this.byKey.get(k)
    if (!list) {
      list = []
      this.byKey.set(k, list)
    }
    const e = new Entry(domain, node, key, time, name, payload, list, list.length)
    list.push(e)
    this.queues[domain].push(e)
    this.live++
    return e
  }

  /** Marks a timer dead and drops it from the key index; the queue lets go of it lazily. */
  private unindex(e: Entry): void {
    e.live = false
    this.live--
    const list = e.siblings
    const last = list.pop() as Entry
    if (last !== e) {
      list[e.index] = last
      last.index = e.index
    }
    if (list.length === 0) this.byKey.delete(e.key ?? '')
    // Never persisted: nothing to delete.
    if (e.stored) this.touch(e)
  }

  private touch(e: Entry): void {
    if (e.dirty) return
    e.dirty = true
    this.changes.push(e)
  }
}

/** Backend key of a timer; the id format is what older state was written with, so keep it. */
function storageKey(e: Entry): string {
  return `${PREFIX.timer}${e.domain[0]}${SEP}${e.node}${SEP}${e.key ?? ''}${SEP}${e.time}${SEP}${e.name}`
}
