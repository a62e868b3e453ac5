/**
 * Time-zone arithmetic for quiet hours, schedules and personalized timing: luxon for zones,
 * croner for cron expressions. All functions take and return epoch milliseconds.
 */
import { Cron } from 'croner'
import { IANAZone } from 'luxon'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const zones = new Map<string, IANAZone>()

function zone(tz: string): IANAZone {
  let z = zones.get(tz)
  if (!z) {
    z = IANAZone.create(tz)
    zones.set(tz, z)
  }
  return z
}

const zoneValidity = new Map<string, boolean>()

/** Whether a time zone name is a valid IANA zone (cached: luxon builds an Intl formatter per check). */
export function isValidZone(tz: string): boolean {
  let ok = zoneValidity.get(tz)
  if (ok === undefined) {
    ok = IANAZone.isValidZone(tz)
    if (zoneValidity.size < 10_000) zoneValidity.set(tz, ok)
  }
  return ok
}

const QUARTER = 15 * 60_000
const offsets = new Map<string, Map<number, number>>()

/**
 * The zone's UTC offset in minutes at `ts`. Offsets only change at transitions, which fall on
 * quarter hours in every IANA zone, so they are cached per (zone, quarter hour): luxon's own
 * lookup formats a date through Intl each time and dominated the decision flow's profile.
 */
export function offsetMinutes(ts: number, tz: string): number {
  let perZone = offsets.get(tz)
  if (!perZone) {
    perZone = new Map()
    offsets.set(tz, perZone)
  }
  const q = Math.floor(ts / QUARTER)
  let off = perZone.get(q)
  if (off === undefined) {
    if (perZone.size > 50_000) perZone.clear()
    off = zone(tz).offset(q * QUARTER)
    perZone.set(q, off)
  }
  return off
}

/** Local wall-clock milliseconds of an instant (epoch ms shifted by the zone offset). */
export function localMs(ts: number, tz: string): number {
  return ts + offsetMinutes(ts, tz) * 60_000
}

/** Local hour of day, 0..23. */
export function localHour(ts: number, tz: string): number {
  return Math.floor(localMs(ts, tz) / HOUR) % 24
}

/** Local hour of the week, 0..167, Monday 00:00 = 0. */
export function hourOfWeek(ts: number, tz: string): number {
  const local = localMs(ts, tz)
  const day = Math.floor(local / DAY)
  const weekday = (((day + 3) % 7) + 7) % 7 // 1970-01-01 was a Thursday
  return weekday * 24 + (Math.floor(local / HOUR) % 24)
}

/** The instant of the next local `hour`:00 strictly after `ts` (DST-aware to the hour). */
export function nextLocalHour(ts: number, tz: string, hour: number): number {
  const local = localMs(ts, tz)
  let dayStart = Math.floor(local / DAY) * DAY
  let target = dayStart + hour * HOUR
  if (target <= local) {
    dayStart += DAY
    target = dayStart + hour * HOUR
  }
  // Local → instant: subtract the offset valid at (about) that instant, then correct once.
  let instant = target - offsetMinutes(target, tz) * 60_000
  instant = target - offsetMinutes(instant, tz) * 60_000
  return instant
}

/** Start (instant) of the local day containing `ts`. */
export function localDayStart(ts: number, tz: string): number {
  const local = localMs(ts, tz)
  const target = Math.floor(local / DAY) * DAY
  return target - offsetMinutes(target - offsetMinutes(target, tz) * 60_000, tz) * 60_000
}

/** Whether `ts` falls in quiet hours [start, end) local time (the range may wrap midnight). */
export function inQuietHours(ts: number, tz: string, start: number, end: number): boolean {
  if (start === end) return false
  const h = localHour(ts, tz)
  return start < end ? h >= start && h < end : h >= start || h < end
}

const crons = new Map<string, Cron>()

/** The next fire time of a cron expression in a zone strictly after `after`, or null. */
export function nextCronFire(expr: string, tz: string, after: number): number | null {
  const key = `${expr}\u0000${tz}`
  let c = crons.get(key)
  if (!c) {
    c = new Cron(expr, { timezone: tz, paused: true })
    crons.set(key, c)
  }
  const next = c.nextRun(new Date(after))
  return next ? next.getTime() : null
}
