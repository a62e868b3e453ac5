import { HermesError } from '../api/errors.ts'
import type { Timer } from '../api/processor.ts'
import type { KeyValueBackend } from '../state/backend.ts'
import type { PersistedTimer } from '../state/timer-keys.ts'
import { LEGACY_TIMER_PREFIXES, TIMER_PREFIX, decodeTimer, encodeTimer, timeOfTimerKey, timerKey, timerKeyFrom } from '../state/timer-keys.ts'
import { MAX_DATE_MS } from './event-time.ts'
import type { Domain } from './timer-heap.ts'
import { DomainQueue, Entry } from './timer-heap.ts'

export { timerBefore } from './timer-heap.ts'

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


/** A timer that is due, with the node that registered it. */
export interface DueTimer {
  node: string
  timer: Timer
}

/** A raw backend operation: a put (Buffer) or a delete (null). */
type RawOp = readonly [string, Buffer | null]

/** Default number of timers per domain read into memory at a time (the window). */
export const DEFAULT_TIMER_WINDOW = 16_384

/** Options of a {@link TimerQueue}. */
export interface TimerQueueOptions {
  /**
   * Timers per domain read into memory at a time; at most about twice as many are held. The
   * rest wait in the backend, ordered by time (pipeline/state/timer-keys.ts).
   */
  window?: number
}

/**
 * The event-time and processing-time timers of one task. Timers are unique per
 * (domain, node, key, time, name); changes are written with the task state at commit, and
 * {@link TimerQueue.load} restores them after a restart.
 *
 * Only a bounded window of the nearest timers is in memory: per domain, every live timer before
 * the domain's *horizon* time, and none at or after it. Timers beyond the horizon live in the
 * backend, keyed in time order; registering or deleting one there is recorded as a backend
 * write and costs no memory once drained. When the timers in memory are used up, the next
 * window is read from the backend (overlaid with the changes not yet written), and when more
 * than twice the window has been registered before the horizon, the horizon moves back and the
 * latest ones go to the backend. Firing order and results are the same as with every timer in
 * memory: the horizon is a time, so the timers of one time are always in memory together.
 *
 * In memory, timers are indexed by key (a key holds few timers, so finding one is a short scan
 * with no id to build), and only timers that outlive a commit reach the backend: one registered
 * and then fired or deleted before the next drain costs no write at all.
 */
export class TimerQueue {
  private readonly queues = { event: new DomainQueue(), processing: new DomainQueue() }
  /** Live timers in memory by key (`null` and `''` are the same key, as in the persisted id). */
  private readonly byKey = new Map<string, Entry[]>()
  /** Entries whose persisted form may differ from the backend, in the order they changed. */
  private changes: Entry[] = []
  /** Live timers in memory, per domain. */
  private readonly live = { event: 0, processing: 0 }
  /** Per domain: timers at or after this time are not in memory (Infinity: all are). */
  private readonly horizon = { event: Infinity, processing: Infinity }
  /** Changes to timers beyond the horizon not yet drained, by backend key: the timer, or null (deleted). */
  private readonly beyond = new Map<string, PersistedTimer | null>()
  /** Deletes to drain before anything else (a pending delete whose time entered the window). */
  private first: RawOp[] = []
  /** Timers beyond the horizon, as far as this instance knows (for {@link size}). */
  private beyondCount = 0
  private backend: KeyValueBackend | undefined
  /** Operations drained but maybe not yet written (the task state's pending batch). */
  private unwritten: () => ReadonlyArray<RawOp> = () => []
  private readonly window: number

  constructor(options: TimerQueueOptions = {}) {
    this.window = Math.max(1, options.window ?? DEFAULT_TIMER_WINDOW)
  }

  /**
   * Opens the persisted timers: none is read now; the first window of each domain is read when
   * it is first needed. Timers of the previous layout are read in full, and rewritten in the
   * current one at the next drain. Without a load, every timer stays in memory.
   *
   * `unwritten` lists the operations drained but not yet written to `backend` (a commit in
   * flight or failed): reading a window overlays them, so a window never misses a timer whose
   * write has not landed.
   */
  async load(backend: KeyValueBackend, options: { unwritten?: () => ReadonlyArray<RawOp> } = {}): Promise<void> {
    this.backend = backend
    if (options.unwritten) this.unwritten = options.unwritten
    this.horizon.event = -Infinity
    this.horizon.processing = -Infinity
    for (const prefix of LEGACY_TIMER_PREFIXES) {
      for await (const [k, v] of backend.scan(prefix)) {
        const t = decodeTimer(v)
        this.first.push([k, null])
        this.beyond.set(timerKey(t), { ...t, payload: t.payload ?? null })
        this.beyondCount++
      }
    }
  }

  register(domain: Domain, node: string, key: string | null, time: number, name: string, payload: unknown): void {
    if (!Number.isFinite(time) || Math.abs(time) > MAX_DATE_MS) throw new TimerTimeError(domain, node, key, time)
    if (time >= this.horizon[domain]) {
      const k = timerKey({ domain, time, key, name, node })
      if (!this.beyond.get(k)) this.beyondCount++
      this.beyond.set(k, { node, key, time, domain, name, payload: payload ?? null })
      return
    }
    const old = this.find(domain, node, key, time, name)
    if (old) {
      // Same id, so the same place in the queue: only the payload changes.
      old.payload = payload ?? null
      this.touch(old)
      return
    }
    this.touch(this.add(domain, node, key, time, name, payload ?? null))
    if (this.live[domain] > 2 * this.window) this.shrink(domain)
  }

  delete(domain: Domain, node: string, key: string | null, time: number, name: string): void {
    if (time >= this.horizon[domain]) {
      const k = timerKey({ domain, time, key, name, node })
      if (this.beyond.get(k) !== null && this.beyondCount > 0) this.beyondCount--
      this.beyond.set(k, null)
      return
    }
    const e = this.find(domain, node, key, time, name)
    if (!e) return
    this.unindex(e)
    this.queues[domain].dead++
    this.queues[domain].maybeCompact()
  }

  /** Time of the earliest live timer of a domain, or `Infinity`. */
  nextTime(domain: Domain): number {
    const top = this.head(domain)
    return top ? top.time : Infinity
  }

  /** The earliest live timer of a domain (not removed), or undefined. */
  peek(domain: Domain): (Timer & { node: string }) | undefined {
    return this.head(domain)
  }

  /** Removes and returns the earliest timer of the domain if it is due at `upTo`. */
  popDue(domain: Domain, upTo: number): DueTimer | undefined {
    const top = this.head(domain)
    if (!top || top.time > upTo) return undefined
    this.queues[domain].pop()
    this.unindex(top)
    return { node: top.node, timer: { key: top.key, time: top.time, domain: top.domain, name: top.name, payload: top.payload } }
  }

  /**
   * Number of live timers: those in memory, and those beyond the window that this instance
   * registered, moved there or migrated (timers already beyond it at start-up count once read).
   */
  size(): number {
    return this.live.event + this.live.processing + this.beyondCount
  }

  /** Number of timers held in memory. */
  inMemory(): number {
    return this.live.event + this.live.processing
  }

  /**
   * Persistence operations for everything changed since the last call: a put for each live timer
   * registered or updated, a delete for each persisted timer that fired or was deleted.
   */
  drainChanges(): Array<readonly [string, Buffer | null]> {
    const ops: RawOp[] = this.first
    this.first = []
    // A timer deleted and registered again shows up as two entries; the dead one changed first,
    // so its delete comes before the put of the new one.
    for (const e of this.changes) {
      e.dirty = false
      if (e.evicted) continue
      if (e.live) {
        ops.push([timerKey(e), encodeTimer(e)])
        e.stored = true
      } else if (e.stored) {
        ops.push([timerKey(e), null])
        e.stored = false
      }
    }
    this.changes = []
    for (const [k, t] of this.beyond) ops.push([k, t ? encodeTimer(t) : null])
    this.beyond.clear()
    return ops as Array<readonly [string, Buffer | null]>
  }

  /** The earliest live timer of a domain, reading the next window when memory holds none. */
  private head(domain: Domain): Entry | undefined {
    for (;;) {
      const e = this.queues[domain].peekLive()
      if (e || this.horizon[domain] === Infinity) return e
      this.readWindow(domain)
    }
  }

  /**
   * Moves the horizon forward past the next `window` timers beyond it: reads them from the
   * backend, overlays what was drained but not written and what was changed since, and takes
   * them into memory.
   */
  private readWindow(domain: Domain): void {
    const backend = this.backend as KeyValueBackend
    const from = this.horizon[domain]
    const prefix = TIMER_PREFIX[domain]
    let limit = this.window + 1
    let rows = backend.rangeSync(prefix, timerKeyFrom(domain, from), limit)
    // More than a window at one time: the horizon must pass all of them, so read on.
    while (rows.length === limit && timeOfTimerKey(domain, (rows[0] as [string, Buffer])[0]) === timeOfTimerKey(domain, (rows[rows.length - 1] as [string, Buffer])[0])) {
      limit *= 2
      rows = backend.rangeSync(prefix, timerKeyFrom(domain, from), limit)
    }
    const to = rows.length === limit ? (timeOfTimerKey(domain, (rows[rows.length - 1] as [string, Buffer])[0]) as number) : Infinity
    const found = new Map<string, PersistedTimer | null>()
    for (const [k, v] of rows) if ((timeOfTimerKey(domain, k) as number) < to) found.set(k, decodeTimer(v))
    for (const [k, v] of this.unwritten()) {
      const t = timeOfTimerKey(domain, k)
      if (t !== undefined && t >= from && t < to) found.set(k, v === null ? null : decodeTimer(v))
    }
    for (const [k, t] of found) {
      if (t === null) continue
      this.beyondCount = Math.max(0, this.beyondCount - (this.beyond.has(k) ? 0 : 1))
      this.add(t.domain, t.node, t.key, t.time, t.name, t.payload ?? null).stored = true
    }
    // Changes made beyond the old horizon that now fall inside the window.
    for (const [k, t] of this.beyond) {
      const time = timeOfTimerKey(domain, k)
      if (time === undefined || time < from || time >= to) continue
      this.beyond.delete(k)
      if (t) this.beyondCount = Math.max(0, this.beyondCount - 1)
      const e = this.find(domain, t?.node ?? '', t?.key ?? null, time, t?.name ?? '')
      if (t === null) {
        // Deleted while beyond: it may still be on disk (it was not read, or it was read above).
        const read = found.get(k)
        if (read) {
          const gone = this.findPersisted(read)
          if (gone) {
            this.unindex(gone)
            gone.stored = false
            this.queues[domain].dead++
          }
        }
        this.first.push([k, null])
      } else if (e) {
        e.payload = t.payload
        this.touch(e)
      } else {
        const added = this.add(t.domain, t.node, t.key, t.time, t.name, t.payload)
        // Maybe on disk from before: a delete must follow it if it goes before the next drain.
        added.stored = true
        this.touch(added)
      }
    }
    this.horizon[domain] = to
  }

  private findPersisted(t: PersistedTimer): Entry | undefined {
    return this.find(t.domain, t.node, t.key, t.time, t.name)
  }

  /**
   * Too many timers in memory: moves the horizon back to the `window`-th earliest time and hands
   * every timer at or after it to the backend (written at the next drain).
   */
  private shrink(domain: Domain): void {
    const entries: Entry[] = []
    for (const list of this.byKey.values()) for (const e of list) if (e.domain === domain) entries.push(e)
    entries.sort((a, b) => a.time - b.time)
    const cut = (entries[this.window] as Entry).time
    // All of the window at one time: nothing can go without splitting a time; keep them.
    if (cut === (entries[0] as Entry).time) return
    // Fired or deleted there, not yet drained: the delete goes beyond too, or a later read of
    // that range would bring the timer back from disk.
    for (const e of this.changes) {
      if (e.live || !e.stored || e.evicted || e.domain !== domain || e.time < cut) continue
      this.beyond.set(timerKey(e), null)
      e.evicted = true
    }
    for (let i = entries.length - 1; i >= 0 && (entries[i] as Entry).time >= cut; i--) {
      const e = entries[i] as Entry
      // Not on disk as it is now: written at the next drain, beyond the horizon.
      if (e.dirty || !e.stored) this.beyond.set(timerKey(e), { node: e.node, key: e.key, time: e.time, domain: e.domain, name: e.name, payload: e.payload })
      e.evicted = true
      this.detach(e)
      this.queues[domain].dead++
      this.beyondCount++
    }
    this.horizon[domain] = cut
    this.queues[domain].maybeCompact()
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
    this.live[domain]++
    return e
  }

  /** Marks a timer dead and drops it from the key index; the queue lets go of it lazily. */
  private unindex(e: Entry): void {
    this.detach(e)
    // Never persisted: nothing to delete.
    if (e.stored) this.touch(e)
  }

  private detach(e: Entry): void {
    e.live = false
    this.live[e.domain]--
    const list = e.siblings
    const last = list.pop() as Entry
    if (last !== e) {
      list[e.index] = last
      last.index = e.index
    }
    if (list.length === 0) this.byKey.delete(e.key ?? '')
  }

  private touch(e: Entry): void {
    if (e.dirty) return
    e.dirty = true
    this.changes.push(e)
  }
}
