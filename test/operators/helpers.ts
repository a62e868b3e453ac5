import pushDecisions from '../../topologies/push-decisions.ts'
import materialStats from '../../topologies/material-stats.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import type { Decision, Suppression } from '../../operators/types.ts'

export const T0 = Date.UTC(2026, 10, 2, 10, 0) // Monday 10:00 UTC
export const MIN = 60_000
export const HOUR = 3_600_000
export const DAY = 24 * HOUR

/** The user whose `tick` events move the watermark; opted out, and left out of {@link decisions} and {@link suppressions}. */
export const CLOCK = 'zz-clock'

/**
 * A material for every trigger type: its item placeholder has a fallback, so a scheduled or
 * personalized push (no triggering event) renders too. `{ fallbacks: undefined }` leaves it out.
 */
export function material(id: string, extra: object = {}): object {
  return { materialId: id, title: `Title ${id}`, body: `Body of ${id} for {{event.itemId}}`, deeplink: `app://item/{{event.itemId}}`, segments: [], prior: { alpha: 1, beta: 20 }, status: 'active', fallbacks: { 'event.itemId': 'picks' }, ...extra }
}

export function eventTask(id: string, extra: object = {}): object {
  return {
    taskId: id,
    status: 'active',
    priority: 10,
    channel: 'push',
    trigger: { type: 'event', events: ['price_drop'] },
    materials: ['m1'],
    ...extra,
  }
}

export function scheduleTask(id: string, cron: string, extra: object = {}, trigger: object = {}): object {
  return eventTask(id, { trigger: { type: 'schedule', cron, timezone: 'UTC', spreadMs: 0, ...trigger }, ...extra })
}

export function personalizedTask(id: string, windowStartHour: number, windowEndHour: number, extra: object = {}): object {
  return eventTask(id, { trigger: { type: 'personalized', windowStartHour, windowEndHour }, ...extra })
}

export function ev(userId: string, type: string, ts: number, extra: object = {}): object {
  return { eventId: `${userId}-${type}-${ts}`, userId, type, ts, itemId: 'item-1', ...extra }
}

export function user(userId: string, timezone = 'UTC', pushEnabled = true, ts?: number): object {
  return ts === undefined ? { userId, timezone, pushEnabled } : { userId, timezone, pushEnabled, ts }
}

export function member(userId: string, segmentId: string, isMember = true, ts?: number): object {
  return ts === undefined ? { userId, segmentId, member: isMember } : { userId, segmentId, member: isMember, ts }
}

/** A driver running the decision flow (and the stats feedback when asked) with the given settings. */
export async function flow(options: { settings?: object; stats?: boolean; config?: { [k: string]: unknown } } = {}): Promise<TopologyTestDriver> {
  const env = { settings: (options.settings ?? {}) as { [k: string]: unknown } }
  const topologies = options.stats ? [pushDecisions(env), materialStats(env)] : [pushDecisions(env)]
  return TopologyTestDriver.create(topologies, { config: { hermes: options.settings ?? {}, ...(options.config ?? {}) } })
}

/**
 * Moves the decision flow's watermark to `until` with `tick` events of the {@link CLOCK} user,
 * at most `stepMs` apart (a schedule fire far behind the watermark counts as missed, so time
 * must move in steps, as it does under real traffic).
 */
export async function advanceTo(d: TopologyTestDriver, until: number, stepMs = 15 * MIN): Promise<void> {
  const wm = d.watermark('push-decisions')
  let t = Number.isFinite(wm) ? wm : until
  const ticks: object[] = []
  if (!clockReady.has(d)) {
    clockReady.add(d)
    await d.pipe('config.users', [user(CLOCK, 'UTC', false, t)])
  }
  while (t < until) {
    t = Math.min(until, t + stepMs)
    ticks.push(ev(CLOCK, 'tick', t))
  }
  if (ticks.length === 0) ticks.push(ev(CLOCK, 'tick', until))
  await d.pipe('behavior-events', ticks)
}
const clockReady = new WeakSet<TopologyTestDriver>()

const notClock = (r: { userId: string }): boolean => r.userId !== CLOCK

export const decisions = (d: TopologyTestDriver): Decision[] => d.readValues<Decision>('push-decisions').filter(notClock)
export const suppressions = (d: TopologyTestDriver): Suppression[] => d.readValues<Suppression>('push-suppressions').filter(notClock)

/** A dead letter as the driver shows it. */
export interface DeadLetter {
  reason: string
  phase: string
  node: string
  topic: string
  key: string | null
  value: string
}
export const deadLetters = (d: TopologyTestDriver, app = 'push-decisions'): DeadLetter[] => d.readValues<DeadLetter>(`${app}.dlq`)

/** Reasons of suppressions, in order. */
export const reasons = (s: Suppression[]): string[] => s.map((x) => x.reason)
