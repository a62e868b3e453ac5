import type { Timer } from '../api/processor.ts'
import type { KeyValueBackend } from '../state/backend.ts'
import { PREFIX } from '../state/task-state.ts'

const SEP = '\u0000'

interface Entry extends Timer {
  readonly node: string
  readonly id: string
  live: boolean
}

/** Orders timers by (time, key, name, node): the firing order, independent of registration order. */
export function timerBefore(a: Timer & { node: string }, b: Timer & { node: string }): boolean {
  if (a.time !== b.time) return a.time < b.time
  const ak = a.key ?? ''
  const bk = b.key ?? ''
  if (ak !== bk) return ak < bk
  if (a.name !== b.name) return a.name < b.name
  return a.node < b.node
}

/** A binary min-heap of timers with lazy deletion. */
class Heap {
  private items: Entry[] = []

  get size(): number {
    return this.items.length
  }

  push(e: Entry): void {
    const a = this.items
    a.push(e)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!timerBefore(a[i] as Entry, a[p] as Entry)) break
      ;[a[i], a[p]] = [a[p] as Entry, a[i] as Entry]
      i = p
    }
  }

  peek(): Entry | undefined {
    return this.items[0]
  }

  pop(): Entry | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && timerBefore(a[l] as Entry, a[m] as Entry)) m = l
        if (r < a.length && timerBefore(a[r] as Entry, a[m] as Entry)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m] as Entry, a[i] as Entry]
        i = m
      }
    }
    return top
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
 */
export class TimerQueue {
  private readonly heaps = { event: new Heap(), processing: new Heap() }
  private readonly byId = new Map<string, Entry>()
  private dirty = new Map<string, Entry | null>()

  /** Loads persisted timers. */
  async load(backend: KeyValueBackend): Promise<void> {
    for await (const [k, v] of backend.scan(PREFIX.timer)) {
      const t = JSON.parse(v.toString('utf8')) as { node: string; key: string | null; time: number; domain: 'event' | 'processing'; name: string; payload: unknown }
      const id = k.slice(PREFIX.timer.length)
      const entry: Entry = { ...t, id, live: true }
      this.byId.set(id, entry)
      this.heaps[t.domain].push(entry)
    }
  }

  register(domain: 'event' | 'processing', node: string, key: string | null, time: number, name: string, payload: unknown): void {
    if (!Number.isFinite(time)) throw new RangeError(`timer time must be a finite number, got ${time}`)
    const id = timerId(domain, node, key, time, name)
    const old = this.byId.get(id)
    if (old) old.live = false
    const entry: Entry = { domain, node, key, time, name, payload: payload ?? null, id, live: true }
    this.byId.set(id, entry)
    this.heaps[domain].push(entry)
    this.dirty.set(id, entry)
  }

  delete(domain: 'event' | 'processing', node: string, key: string | null, time: number, name: string): void {
    const id = timerId(domain, node, key, time, name)
    const old = this.byId.get(id)
    if (!old) return
    old.live = false
    this.byId.delete(id)
    this.dirty.set(id, null)
  }

  /** Time of the earliest live timer of a domain, or `Infinity`. */
  nextTime(domain: 'event' | 'processing'): number {
    const heap = this.heaps[domain]
    let top = heap.peek()
    while (top && !top.live) {
      heap.pop()
      top = heap.peek()
    }
    return top ? top.time : Infinity
  }

  /** The earliest live timer of a domain (not removed), or undefined. */
  peek(domain: 'event' | 'processing'): (Timer & { node: string }) | undefined {
    if (this.nextTime(domain) === Infinity) return undefined
    return this.heaps[domain].peek()
  }

  /** Removes and returns the earliest timer of the domain if it is due at `upTo`. */
  popDue(domain: 'event' | 'processing', upTo: number): DueTimer | undefined {
    if (this.nextTime(domain) > upTo) return undefined
    const e = this.heaps[domain].pop() as Entry
    e.live = false
    this.byId.delete(e.id)
    this.dirty.set(e.id, null)
    return { node: e.node, timer: { key: e.key, time: e.time, domain: e.domain, name: e.name, payload: e.payload } }
  }

  size(): number {
    return this.byId.size
  }

  /** Persistence operations for everything changed since the last call. */
  drainChanges(): Array<readonly [string, Buffer | null]> {
    const ops: Array<readonly [string, Buffer | null]> = []
    for (const [id, e] of this.dirty) {
      ops.push([
        `${PREFIX.timer}${id}`,
        e === null ? null : Buffer.from(JSON.stringify({ node: e.node, key: e.key, time: e.time, domain: e.domain, name: e.name, payload: e.payload }), 'utf8'),
      ])
    }
    this.dirty = new Map()
    return ops
  }
}

function timerId(domain: string, node: string, key: string | null, time: number, name: string): string {
  return `${domain[0]}${SEP}${node}${SEP}${key ?? ''}${SEP}${time}${SEP}${name}`
}
