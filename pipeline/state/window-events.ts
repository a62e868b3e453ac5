/**
 * The events of one key of a window store, held compactly: one flat array of doubles
 * (`[ts, amount, tag, ts, amount, tag, ...]`, oldest first) and a small dictionary of tags, so
 * an event costs 24 bytes in the heap instead of an array object, a boxed time and a tag pointer
 * (about 100 bytes), and adding one is an append, not a rebuilt JSON array.
 *
 * On disk and in changelogs the value is binary (see {@link WindowEvents.encode}): a format
 * byte, then the tags, then fixed-size events. Values written by the previous layout (a JSON
 * array of `[ts, amount, tag?]`) are still read, so old state and old changelogs migrate as
 * they are read and are rewritten in the new layout when their key next changes.
 */
import { HermesError } from '../api/errors.ts'
import type { WindowEvent } from '../api/stores.ts'

/** First byte of a binary window value. JSON (the previous layout) always starts with `[`. */
export const WINDOW_FORMAT_V2 = 0x02
/** Tag index of an event without a tag. */
const NO_TAG = -1
/** Doubles per event in {@link WindowEvents.data}. */
const STRIDE = 3
/**
 * Bytes per event on disk: ts (f64), amount (f64), tag index (u32; 0xffffffff = none). Tags are
 * event types from producers: neither their length nor their number per key is bounded by Hermes
 * (the bad-input suite sends a valid event with a 900 KB type), so no field is narrower than 32 bits.
 */
const EVENT_BYTES = 20
const NO_TAG_ON_DISK = 0xffffffff
/** Past this many distinct tags in one key, tags are found through a map instead of a scan. */
const INDEXED_FROM = 16

/** Events of one key: sorted by time; on equal times, in the order they were added. */
export class WindowEvents {
  private constructor(
    /** `[ts, amount, tagIndex]` per event, oldest first (a packed array of doubles in V8). */
    private data: number[],
    private tags: string[],
  ) {}

  /**
   * Tag → index, built only once a key holds many distinct tags: event types come from producers,
   * and a scan per event over tens of thousands of them would make one key's events quadratic.
   */
  private index: Map<string, number> | null = null

  /** An empty set of events. */
  static empty(): WindowEvents {
    return new WindowEvents([], [])
  }

  /** Number of events held. */
  get length(): number {
    return this.data.length / STRIDE
  }

  /** Time of the newest event, or `-Infinity` when empty. */
  newest(): number {
    const n = this.data.length
    return n === 0 ? -Infinity : (this.data[n - STRIDE] as number)
  }

  /**
   * Adds an event after every event of the same or an earlier time, then drops the events at or
   * before `newest - retentionMs`.
   */
  add(ts: number, amount: number, tag: string | undefined, retentionMs: number): void {
    const d = this.data
    const t = tag === undefined ? NO_TAG : this.tagIndex(tag)
    let i = d.length
    while (i > 0 && (d[i - STRIDE] as number) > ts) i -= STRIDE
    if (i === d.length) d.push(ts, amount, t)
    else d.splice(i, 0, ts, amount, t)
    const limit = (d[d.length - STRIDE] as number) - retentionMs
    let drop = 0
    while (drop < d.length && (d[drop] as number) <= limit) drop += STRIDE
    if (drop) {
      d.splice(0, drop)
      // Tags of pruned events would otherwise pile up in a long-cached key (one per item, say).
      if (this.tags.length > 16 && this.tags.length > 2 * this.length) this.compactTags()
    }
  }

  /** Sum of amounts with `from <= ts <= to`, of the tag when given. */
  sum(from: number, to: number, tag?: string): number {
    const d = this.data
    let t = NO_TAG
    if (tag !== undefined) {
      t = this.find(tag)
      if (t < 0) return 0
    }
    let total = 0
    for (let i = 0; i < d.length; i += STRIDE) {
      const ts = d[i] as number
      if (ts > to) break
      if (ts >= from && (tag === undefined || d[i + 2] === t)) total += d[i + 1] as number
    }
    return total
  }

  /** Time of the newest event (of the tag, when given), or `undefined`. */
  latest(tag?: string): number | undefined {
    const d = this.data
    if (tag === undefined) return d.length ? (d[d.length - STRIDE] as number) : undefined
    const t = this.find(tag)
    if (t < 0) return undefined
    for (let i = d.length - STRIDE; i >= 0; i -= STRIDE) if (d[i + 2] === t) return d[i] as number
    return undefined
  }

  /** Calls `fn` for each event, oldest first, with its tag (`undefined` when it has none). */
  forEach(fn: (ts: number, amount: number, tag: string | undefined) => void): void {
    const d = this.data
    for (let i = 0; i < d.length; i += STRIDE) {
      const t = d[i + 2] as number
      fn(d[i] as number, d[i + 1] as number, t === NO_TAG ? undefined : this.tags[t])
    }
  }

  /** The events as objects, oldest first (allocates: for inspection, not for hot paths). */
  events(): WindowEvent[] {
    const out: WindowEvent[] = []
    this.forEach((ts, amount, tag) => out.push(tag === undefined ? { ts, amount } : { ts, amount, tag }))
    return out
  }

  /** The previous layout's form, `[[ts, amount, tag?], ...]`: what key queries and JSON show. */
  toJSON(): Array<[number, number] | [number, number, string]> {
    const out: Array<[number, number] | [number, number, string]> = []
    this.forEach((ts, amount, tag) => out.push(tag === undefined ? [ts, amount] : [ts, amount, tag]))
    return out
  }

  /** Approximate bytes this value holds in the heap (for the cache's byte bound). */
  heapBytes(): number {
    let n = 64 + this.data.length * 8
    for (const t of this.tags) n += 24 + t.length
    return n
  }

  /**
   * The binary form: byte 0 {@link WINDOW_FORMAT_V2}; u32 tag count; per tag u32 byte length and
   * its UTF-8; u32 event count; per event f64 time, f64 amount, u32 tag index (0xffffffff: none);
   * little-endian. Only tags still used are written.
   */
  encode(): Buffer {
    this.compactTags()
    let size = 1 + 4 + 4 + this.length * EVENT_BYTES
    const tagBytes = this.tags.map((t) => Buffer.from(t, 'utf8'))
    for (const b of tagBytes) size += 4 + b.length
    const buf = Buffer.allocUnsafe(size)
    let o = buf.writeUInt8(WINDOW_FORMAT_V2, 0)
    o = buf.writeUInt32LE(tagBytes.length, o)
    for (const b of tagBytes) {
      o = buf.writeUInt32LE(b.length, o)
      o += b.copy(buf, o)
    }
    o = buf.writeUInt32LE(this.length, o)
    const d = this.data
    for (let i = 0; i < d.length; i += STRIDE) {
      o = buf.writeDoubleLE(d[i] as number, o)
      o = buf.writeDoubleLE(d[i + 1] as number, o)
      const t = d[i + 2] as number
      o = buf.writeUInt32LE(t === NO_TAG ? NO_TAG_ON_DISK : t, o)
    }
    return buf
  }

  /** Reads a stored value: the binary form, or the previous layout's JSON array. */
  static decode(buf: Buffer): WindowEvents {
    if (buf.length > 0 && buf[0] === WINDOW_FORMAT_V2) {
      try {
        return WindowEvents.fromBinary(buf)
      } catch (err) {
        // A header cut short reads past the end: the same answer as a length that does not match.
        if (err instanceof RangeError) throw new HermesError('STATE_ERROR', `window store value is ${buf.length} bytes, shorter than its header says: the state is damaged; delete the task's state directory to rebuild it from its changelogs`)
        throw err
      }
    }
    if (buf.length > 0 && buf[0] === 0x5b /* [ */) return WindowEvents.fromLegacy(JSON.parse(buf.toString('utf8')) as unknown[])
    throw new HermesError('STATE_ERROR', `window store value of an unknown format (first byte ${buf[0] ?? 'none'}): the state was written by a newer Hermes or is damaged; delete the task's state directory to rebuild it from its changelogs`)
  }

  /** From the previous layout: `[[ts, amount, tag?], ...]`, sorted by time. */
  static fromLegacy(events: unknown[]): WindowEvents {
    const w = WindowEvents.empty()
    for (const e of events as Array<[number, number, string?]>) {
      w.data.push(e[0], e[1], e[2] === undefined ? NO_TAG : w.tagIndex(e[2]))
    }
    return w
  }

  /** Index of a tag, or -1. */
  private find(tag: string): number {
    if (this.tags.length <= INDEXED_FROM) return this.tags.indexOf(tag)
    if (!this.index) this.index = new Map(this.tags.map((t, i) => [t, i]))
    return this.index.get(tag) ?? -1
  }

  private tagIndex(tag: string): number {
    let t = this.find(tag)
    if (t < 0) {
      t = this.tags.push(tag) - 1
      this.index?.set(tag, t)
    }
    return t
  }

  /** Drops tags no event uses and renumbers the rest in first-use order. */
  private compactTags(): void {
    const d = this.data
    const map = new Map<number, number>()
    const tags: string[] = []
    for (let i = 2; i < d.length; i += STRIDE) {
      const t = d[i] as number
      if (t === NO_TAG) continue
      let n = map.get(t)
      if (n === undefined) {
        n = tags.push(this.tags[t] as string) - 1
        map.set(t, n)
      }
      d[i] = n
    }
    this.tags = tags
    this.index = null
  }

  private static fromBinary(buf: Buffer): WindowEvents {
    let o = 1
    const tagCount = buf.readUInt32LE(o)
    o += 4
    const tags: string[] = new Array(tagCount)
    for (let i = 0; i < tagCount; i++) {
      const len = buf.readUInt32LE(o)
      o += 4
      tags[i] = buf.toString('utf8', o, o + len)
      o += len
    }
    const count = buf.readUInt32LE(o)
    o += 4
    if (o + count * EVENT_BYTES !== buf.length) throw new HermesError('STATE_ERROR', `window store value is ${buf.length} bytes, its header says ${o + count * EVENT_BYTES}: the state is damaged; delete the task's state directory to rebuild it from its changelogs`)
    const data: number[] = new Array(count * STRIDE)
    for (let i = 0; i < count; i++) {
      data[i * STRIDE] = buf.readDoubleLE(o)
      data[i * STRIDE + 1] = buf.readDoubleLE(o + 8)
      const t = buf.readUInt32LE(o + 16)
      data[i * STRIDE + 2] = t === NO_TAG_ON_DISK ? NO_TAG : t
      o += EVENT_BYTES
    }
    return new WindowEvents(data, tags)
  }
}
