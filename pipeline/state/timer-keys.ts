/**
 * How timers are laid out in a task's backend (and its timers changelog, which carries the same
 * keys and values).
 *
 * Layout 2 (this one) orders timers by time, so the nearest can be read first and only a bounded
 * window of them held in memory (pipeline/runtime/timers.ts):
 *
 *   `t\0` + `E` (event time) or `P` (processing time) + 16 hex digits of the time + `\0` + key +
 *   `\0` + name + `\0` + node
 *
 * The hex digits are the time's IEEE-754 bits made order-preserving (sign bit flipped for
 * positive numbers, every bit flipped for negative ones), so byte order is time order for every
 * finite time. The value is the timer as JSON, `{node, key, time, domain, name, payload}`, as in
 * layout 1.
 *
 * Layout 1 (before) keyed timers `t\0` + `e` or `p` + `\0` + node + `\0` + key + `\0` + time +
 * `\0` + name: in no useful order, so every timer was loaded at start-up. Such keys are migrated
 * when a task opens (read, rewritten in layout 2, deleted at the next commit).
 */
import { PREFIX } from './task-state.ts'

const SEP = '\u0000'

/** Timer domain. */
export type TimerDomain = 'event' | 'processing'

/** A timer as persisted (the JSON value). */
export interface PersistedTimer {
  node: string
  key: string | null
  time: number
  domain: TimerDomain
  name: string
  payload: unknown
}

/** Key prefix of a domain's timers in layout 2. */
export const TIMER_PREFIX: Readonly<Record<TimerDomain, string>> = { event: `${PREFIX.timer}E`, processing: `${PREFIX.timer}P` }

/** Key prefixes of layout 1 (migrated at open). */
export const LEGACY_TIMER_PREFIXES: readonly string[] = [`${PREFIX.timer}e${SEP}`, `${PREFIX.timer}p${SEP}`]

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
/** Whether the platform is little-endian (then the high word of a double is u32[1]). */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const HI = LE ? 1 : 0
const LO = LE ? 0 : 1

/** 16 hex digits whose order is the order of the times. */
export function encodeTime(time: number): string {
  f64[0] = time === 0 ? 0 : time // -0 sorts and reads as 0
  let hi = u32[HI] as number
  let lo = u32[LO] as number
  if (hi & 0x80000000) {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  } else hi = (hi | 0x80000000) >>> 0
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}

/** The time {@link encodeTime} encoded. */
export function decodeTime(hex: string): number {
  let hi = parseInt(hex.slice(0, 8), 16) >>> 0
  let lo = parseInt(hex.slice(8, 16), 16) >>> 0
  if (hi & 0x80000000) hi = (hi & 0x7fffffff) >>> 0
  else {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  }
  u32[HI] = hi
  u32[LO] = lo
  return f64[0] as number
}

/** Backend key of a timer in layout 2. */
export function timerKey(t: { domain: TimerDomain; time: number; key: string | null; name: string; node: string }): string {
  return `${TIMER_PREFIX[t.domain]}${encodeTime(t.time)}${SEP}${t.key ?? ''}${SEP}${t.name}${SEP}${t.node}`
}

/** The lowest layout-2 key of a domain at `time` or later. */
export function timerKeyFrom(domain: TimerDomain, time: number): string {
  return time === -Infinity ? TIMER_PREFIX[domain] : `${TIMER_PREFIX[domain]}${encodeTime(time)}`
}

/** The time in a layout-2 key, or `undefined` when the key is not one of `domain`. */
export function timeOfTimerKey(domain: TimerDomain, key: string): number | undefined {
  const prefix = TIMER_PREFIX[domain]
  if (!key.startsWith(prefix)) return undefined
  return decodeTime(key.slice(prefix.length, prefix.length + 16))
}

/** The persisted value of a timer. */
export function encodeTimer(t: PersistedTimer): Buffer {
  return Buffer.from(JSON.stringify({ node: t.node, key: t.key, time: t.time, domain: t.domain, name: t.name, payload: t.payload }), 'utf8')
}

/** A persisted timer value (either layout). */
export function decodeTimer(buf: Buffer): PersistedTimer {
  return JSON.parse(buf.toString('utf8')) as PersistedTimer
}
