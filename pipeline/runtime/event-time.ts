/**
 * The plausibility check of a record's event time, taken once where the time is read
 * (`Task.processRecord`): a refused record is dead-lettered with the reason this returns,
 * never reaches an operator and never moves the watermark.
 */

/** The configurable part of the check (`time.maxFutureMs`, `time.minTimestampMs`); null disables a rule. */
export interface EventTimeRules {
  /** A time further ahead of the wall clock than this is refused (0 or null: no limit). */
  readonly maxFutureMs: number | null
  /** A time before this is refused, e.g. seconds read as milliseconds (0 or null: no floor). */
  readonly minTimestampMs: number | null
}

/** No configured rule: only the checks no setting turns off (see {@link eventTimeProblem}). */
export const NO_EVENT_TIME_RULES: EventTimeRules = Object.freeze({ maxFutureMs: null, minTimestampMs: null })

/** The largest time a JavaScript Date can hold (±8.64e15 ms): beyond it, every date computation gives NaN. */
export const MAX_DATE_MS = 8.64e15

const YEAR_MS = 365.25 * 24 * 3600 * 1000

/**
 * Why the value of a record's time field is not a plausible epoch millisecond, or undefined when
 * it is. Whatever the settings, a time must be a number, an integer, not negative and within the
 * Date range: anything else is no point in time Hermes can schedule at (a fractional time would
 * give a fractional `sendAt` and cannot be a Kafka timestamp; one beyond the Date range makes
 * every date computation NaN; a negative one is before every watermark and vanished unseen). The
 * settings add a floor (zero, and seconds instead of milliseconds, land in January 1970) and a
 * limit ahead of the wall clock, which `now` reads only for that rule (one event dated in the
 * year 3000 would otherwise move the watermark there and release every held push at once).
 */
export function eventTimeProblem(field: string, value: unknown, now: () => number, rules: EventTimeRules): string | undefined {
  const name = `event time ${JSON.stringify(field)}`
  if (typeof value !== 'number') {
    const shown = value === null ? 'null' : typeof value === 'string' ? `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}` : `a ${typeof value}`
    return `${name} is ${shown}, not a number of epoch milliseconds`
  }
  if (Number.isNaN(value)) return `${name} is NaN, not a number of epoch milliseconds`
  if (!Number.isFinite(value) || Math.abs(value) > MAX_DATE_MS) return `${name} = ${value} is beyond the range of dates (±${MAX_DATE_MS} ms)`
  if (!Number.isInteger(value)) return `${name} = ${value} is not an integer number of milliseconds`
  if (value < 0) return `${name} = ${value} is negative`
  const floor = rules.minTimestampMs
  if (floor !== null && floor > 0 && value < floor) {
    // Zero is what a producer writes when it has no time at all: say so rather than "before 2001".
    if (value === 0) return `${name} = 0 is zero, not a time (time.minTimestampMs: ${floor})`
    return `${name} = ${value} is before ${new Date(floor).toISOString().replace('.000Z', 'Z')} (${floor} ms, time.minTimestampMs)${value * 1000 >= floor ? ': seconds instead of milliseconds?' : ''}`
  }
  const max = rules.maxFutureMs
  if (max !== null && max > 0) {
    const ahead = value - now()
    if (ahead > max) return `${name} = ${value} is ${aheadText(ahead)} ahead of the wall clock (time.maxFutureMs: ${max})`
  }
  return undefined
}

/**
 * {@link eventTimeProblem} for one task, reading the wall clock only when a time looks ahead of
 * its last reading: a record within `maxFutureMs` of an earlier reading is within it of now too
 * (the clock only moves on), so a run of ordinary records costs no clock reading at all.
 */
export class EventTimeCheck {
  private lastNow = -Infinity

  constructor(
    private readonly rules: EventTimeRules,
    private readonly clock: () => number,
  ) {}

  /** Why `value` of the time field `field` is refused, or undefined when it is a plausible time. */
  problem(field: string, value: unknown): string | undefined {
    const max = this.rules.maxFutureMs
    const floor = this.rules.minTimestampMs ?? 0
    // The common case, with no allocation: every record pays for this check.
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value >= floor && value <= MAX_DATE_MS && (max === null || max <= 0 || value - this.lastNow <= max)) return undefined
    const now = typeof value === 'number' && max !== null && value - this.lastNow <= max ? (): number => this.lastNow : (): number => (this.lastNow = this.clock())
    return eventTimeProblem(field, value, now, this.rules)
  }
}

/** A distance in time the way a person reads it: "974 years", "3 days", "2 hours", "90 minutes". */
function aheadText(ms: number): string {
  if (ms >= YEAR_MS) return plural(Math.floor(ms / YEAR_MS), 'year')
  if (ms >= 2 * 24 * 3600_000) return plural(Math.floor(ms / (24 * 3600_000)), 'day')
  if (ms >= 2 * 3600_000) return plural(Math.floor(ms / 3600_000), 'hour')
  if (ms >= 60_000) return plural(Math.floor(ms / 60_000), 'minute')
  return plural(Math.ceil(ms / 1000), 'second')
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}
