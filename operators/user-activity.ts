/**
 * What the Task Center knows of a user's activity: the per-user state (profile, segments and
 * the hour-of-week activity histogram), rolling event counts, and the personalized send time
 * chosen from the histogram. Pure functions over the state, kept apart from the operator.
 */
import type { ValueCodec, WindowEvent, WindowStore } from '../pipeline/api/index.ts'
import { hourOfWeek, localDayStart, nextLocalHour } from './clock.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const WEEK = 7 * DAY

/** Per-user state of the Task Center. */
export interface UserState {
  timezone: string
  pushEnabled: boolean
  segments: string[]
  /** 168 hour-of-week buckets (Monday 00:00 local = 0), decayed weekly. */
  hist: number[] | null
  /** Week index (of the event time) the histogram was last decayed to. */
  histWeek: number
}

/** The default user: UTC, enabled, no segments. */
export function newUserState(): UserState {
  return { timezone: 'UTC', pushEnabled: true, segments: [], hist: null, histWeek: 0 }
}

/** Buckets of the hour-of-week histogram. */
const HOURS_OF_WEEK = 168
/** Payload version of {@link userStateCodec}: the fields in binary. */
const USER_BINARY_V1 = 1
/** Payload version of {@link userStateCodec}: JSON text, for a state of another shape (nothing is lost). */
const USER_JSON = 0
const FLAG_PUSH_ENABLED = 1
const FLAG_HIST = 2
/** Bytes of the bitmap of the histogram's non-zero buckets (168 bits). */
const BITMAP_BYTES = HOURS_OF_WEEK / 8

/** Whether `s` is a UserState of exactly the shape the binary layout holds. */
function binaryShape(s: UserState): boolean {
  let fields = 0
  for (const _ in s) fields++
  if (fields !== 5 || typeof s.timezone !== 'string' || typeof s.pushEnabled !== 'boolean' || !Array.isArray(s.segments) || !Number.isFinite(s.histWeek)) return false
  for (const seg of s.segments) if (typeof seg !== 'string') return false
  if (s.hist === null) return true
  if (!Array.isArray(s.hist) || s.hist.length !== HOURS_OF_WEEK) return false
  // JSON writes a non-finite number as null: such a histogram keeps the JSON form to read back the same.
  for (let i = 0; i < HOURS_OF_WEEK; i++) if (!Number.isFinite(s.hist[i])) return false
  return true
}

/**
 * Binary layout of the Task Center's user state (docs/performance.md, "Decision-flow state,
 * second round"): JSON.stringify of the 168-bucket histogram (decayed doubles, 10-20 characters
 * each) was the largest state cost of a flush. Version 1, little-endian: u8 version, u8 flags
 * (push enabled, has histogram), f64 histWeek, u32 byte length + UTF-8 timezone, u32 segment
 * count and per segment u32 byte length + UTF-8, then, when it has a histogram, a 21-byte bitmap
 * of its non-zero buckets and one f64 per non-zero bucket, in bucket order (a user active at a
 * few hours of the week stores a few doubles, not 168). Doubles round-trip exactly, as they do
 * through JSON (-0 reads back as 0, as JSON gives it); a
 * state of any other shape is kept as JSON text (version 0), so nothing is lost.
 */
export const userStateCodec: ValueCodec<UserState> = {
  encode(s) {
    if (!binaryShape(s)) {
      const json = Buffer.from(JSON.stringify(s), 'utf8')
      const out = Buffer.allocUnsafe(json.length + 1)
      out[0] = USER_JSON
      json.copy(out, 1)
      return out
    }
    let nonZero = 0
    if (s.hist) for (let i = 0; i < HOURS_OF_WEEK; i++) if ((s.hist[i] as number) !== 0) nonZero++
    let size = 1 + 1 + 8 + 4 + Buffer.byteLength(s.timezone, 'utf8') + 4 + (s.hist ? BITMAP_BYTES + nonZero * 8 : 0)
    for (const seg of s.segments) size += 4 + Buffer.byteLength(seg, 'utf8')
    const buf = Buffer.allocUnsafe(size)
    let o = buf.writeUInt8(USER_BINARY_V1, 0)
    o = buf.writeUInt8((s.pushEnabled ? FLAG_PUSH_ENABLED : 0) | (s.hist ? FLAG_HIST : 0), o)
    o = buf.writeDoubleLE(s.histWeek + 0, o)
    const str = (v: string): void => {
      const n = buf.write(v, o + 4, 'utf8')
      buf.writeUInt32LE(n, o)
      o += 4 + n
    }
    str(s.timezone)
    o = buf.writeUInt32LE(s.segments.length, o)
    for (const seg of s.segments) str(seg)
    if (s.hist) {
      // Only the buckets that are not 0 (-0 too, which JSON writes as 0), behind a bitmap of which.
      const bitmap = o
      buf.fill(0, bitmap, bitmap + BITMAP_BYTES)
      o += BITMAP_BYTES
      for (let i = 0; i < HOURS_OF_WEEK; i++) {
        const v = s.hist[i] as number
        if (v === 0) continue
        buf[bitmap + (i >> 3)] = (buf[bitmap + (i >> 3)] as number) | (1 << (i & 7))
        o = buf.writeDoubleLE(v, o)
      }
    }
    return buf
  },
  decode(bytes) {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
    const version = buf[0]
    if (version === USER_JSON) return JSON.parse(buf.toString('utf8', 1)) as UserState
    if (version !== USER_BINARY_V1) throw new Error(`user state of unknown version ${version ?? 'none'}`)
    const flags = buf.readUInt8(1)
    const histWeek = buf.readDoubleLE(2)
    let o = 10
    const str = (): string => {
      const n = buf.readUInt32LE(o)
      if (o + 4 + n > buf.length) throw new RangeError(`user state: a string of ${n} bytes at ${o} runs past the end (${buf.length} bytes)`)
      const v = buf.toString('utf8', o + 4, o + 4 + n)
      o += 4 + n
      return v
    }
    const timezone = str()
    const count = buf.readUInt32LE(o)
    o += 4
    const segments: string[] = []
    for (let i = 0; i < count; i++) segments.push(str())
    let hist: number[] | null = null
    if (flags & FLAG_HIST) {
      if (o + BITMAP_BYTES > buf.length) throw new RangeError(`user state: the histogram's bitmap at ${o} runs past the end (${buf.length} bytes)`)
      const bitmap = o
      o += BITMAP_BYTES
      hist = new Array<number>(HOURS_OF_WEEK)
      for (let i = 0; i < HOURS_OF_WEEK; i++) {
        if (((buf[bitmap + (i >> 3)] as number) & (1 << (i & 7))) === 0) hist[i] = 0
        else {
          hist[i] = buf.readDoubleLE(o)
          o += 8
        }
      }
    }
    if (o !== buf.length) throw new RangeError(`user state is ${buf.length} bytes, its fields end at ${o}`)
    // The field order of newUserState, so the state stringifies as before.
    return { timezone, pushEnabled: (flags & FLAG_PUSH_ENABLED) !== 0, segments, hist, histWeek }
  },
  // Decoded, the histogram is 168 doubles however few are stored, plus the object and its strings.
  heapBytes: (encoded) => 200 + HOURS_OF_WEEK * 8 + 2 * encoded,
}

/** Adds an event to the activity histogram, decaying it first to the event's week. */
export function recordActivity(state: UserState, ts: number, decay: number): UserState {
  const week = Math.floor(ts / WEEK)
  const hist = state.hist ? state.hist.slice() : new Array<number>(168).fill(0)
  if (state.hist && week > state.histWeek) {
    const f = decay ** (week - state.histWeek)
    for (let i = 0; i < 168; i++) hist[i] = (hist[i] as number) * f
  }
  const h = hourOfWeek(ts, state.timezone)
  hist[h] = (hist[h] as number) + 1
  return { ...state, hist, histWeek: Math.max(week, state.histWeek) }
}

/** Rolling counts per event type over 1 h, 24 h and 7 d ending at `now` (inclusive). */
export function rollingCounts(events: ReadonlyArray<WindowEvent>, now: number): { [type: string]: { [window: string]: number } } {
  return rollingCountsOf({ forEach: (fn) => events.forEach((e) => fn(e.ts, e.amount, e.tag)) }, now)
}

/**
 * {@link rollingCounts} straight from a window store: no object per event (this runs for every
 * event that meets a task with a `when` rule).
 */
export function rollingCountsOf(events: Pick<WindowStore, 'forEach'>, now: number): { [type: string]: { [window: string]: number } } {
  const counts: { [type: string]: { [window: string]: number } } = Object.create(null)
  const hour = now - HOUR
  const day = now - DAY
  const week = now - WEEK
  events.forEach((ts, amount, tag) => {
    if (ts > now || tag === undefined) return
    const c = (counts[tag] ??= { '1h': 0, '24h': 0, '7d': 0 })
    if (ts > hour) c['1h'] = (c['1h'] as number) + amount
    if (ts > day) c['24h'] = (c['24h'] as number) + amount
    if (ts > week) c['7d'] = (c['7d'] as number) + amount
  })
  return counts
}

/**
 * The send time for a personalized task on the local day after `after`'s day, or that day
 * itself when its chosen hour is still ahead: the window hour with the most (decayed) activity,
 * the earliest on ties, the window start without history.
 */
export function personalizedSendTime(state: UserState, windowStart: number, windowEnd: number, after: number): number {
  for (let d = 0; d < 2; d++) {
    const dayStart = localDayStart(after + d * DAY, state.timezone)
    const weekday = Math.floor((hourOfWeek(dayStart + HOUR / 2, state.timezone)) / 24)
    let best = windowStart
    let bestWeight = -1
    for (let h = windowStart; h < windowEnd; h++) {
      const w = state.hist ? (state.hist[weekday * 24 + h] as number) : 0
      if (w > bestWeight) {
        best = h
        bestWeight = w
      }
    }
    // The local hour, not dayStart + best hours: a day with a daylight-saving change is 23 or 25 hours long.
    const at = nextLocalHour(dayStart - 1, state.timezone, best)
    if (at > after) return at
  }
  return nextLocalHour(localDayStart(after + 2 * DAY, state.timezone) - 1, state.timezone, windowStart)
}
