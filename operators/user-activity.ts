/**
 * What the Task Center knows of a user's activity: the per-user state (profile, segments and
 * the hour-of-week activity histogram), rolling event counts, and the personalized send time
 * chosen from the histogram. Pure functions over the state, kept apart from the operator.
 */
import type { WindowEvent, WindowStore } from '../pipeline/api/index.ts'
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
