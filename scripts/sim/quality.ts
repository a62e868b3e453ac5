/**
 * Decision quality: what a system's pushes earned in the world (pushes, clicks, CTR per user-day),
 * Hermes beside Push 1.0 with their ratios, and the rule violations counted from the pushes
 * themselves with the world's definitions (the caps, gap and quiet hours Hermes is configured
 * with), never taken from Hermes' own bookkeeping.
 */
import { localHour } from '../../operators/clock.ts'
import type { JudgedPush } from './push1.ts'

/** What one system earned. */
export interface SystemQuality {
  name: string
  pushes: number
  delivered: number
  clicks: number
  /** Sum of the true click probabilities of the pushes. */
  expectedClicks: number
  userDays: number
  pushesPerUserDay: number
  /** Clicks per push sent. */
  ctr: number
  /** Mean true click probability per push (the CTR without the draw's noise). */
  expectedCtr: number
  clicksPerUserDay: number
  violations: Violations
}

/** Pushes that broke a rule, by rule. */
export interface Violations {
  /** Pushes over the user cap or a task's cap in their rolling window. */
  cap: number
  /** Pushes sent less than the minimum gap after the user's previous push. */
  gap: number
  /** Pushes sent in the user's quiet hours. */
  quietHours: number
  /** Pushes over the material cap (material, or material plus item when caps count content). */
  materialCap: number
}

/** The rules the pushes are checked against (Hermes' `hermes.fatigue` settings and task caps). */
export interface Rules {
  userMax: number
  userWindowMs: number
  materialMax: number
  materialWindowMs: number
  minGapMs: number
  quietStartHour: number
  quietEndHour: number
  /** Per task id: its own cap, when it has one. */
  taskCaps: { [taskId: string]: { max: number; windowMs: number } }
  /** Whether the material cap counts content (material plus item) instead of the material. */
  contentCaps: boolean
}

/** Counts pushes beyond `max` within any rolling window `(t - windowMs, t]` of one key. */
function overCap(times: number[], max: number, windowMs: number): number {
  let over = 0
  let lo = 0
  for (let i = 0; i < times.length; i++) {
    while ((times[lo] as number) <= (times[i] as number) - windowMs) lo++
    if (i - lo + 1 > max) over++
  }
  return over
}

const group = <T>(items: T[], key: (t: T) => string): Map<string, T[]> => {
  const m = new Map<string, T[]>()
  for (const it of items) {
    const k = key(it)
    const list = m.get(k)
    if (list) list.push(it)
    else m.set(k, [it])
  }
  return m
}

/** Counts the violations of `rules` in `pushes`; `timezone` gives each user's zone. */
export function countViolations(pushes: JudgedPush[], rules: Rules, timezone: (userId: string) => string): Violations {
  const v: Violations = { cap: 0, gap: 0, quietHours: 0, materialCap: 0 }
  const sorted = [...pushes].sort((a, b) => a.sendAt - b.sendAt || (a.decisionId < b.decisionId ? -1 : 1))
  const times = (list: JudgedPush[]): number[] => list.map((p) => p.sendAt)
  for (const [userId, list] of group(sorted, (p) => p.userId)) {
    v.cap += overCap(times(list), rules.userMax, rules.userWindowMs)
    for (const [taskId, ofTask] of group(list, (p) => p.taskId)) {
      const cap = rules.taskCaps[taskId]
      if (cap) v.cap += overCap(times(ofTask), cap.max, cap.windowMs)
    }
    for (const ofContent of group(list, (p) => (rules.contentCaps ? `${p.materialId}\u0000${p.itemId ?? ''}` : p.materialId)).values()) {
      v.materialCap += overCap(times(ofContent), rules.materialMax, rules.materialWindowMs)
    }
    for (let i = 1; i < list.length; i++) if ((list[i] as JudgedPush).sendAt - (list[i - 1] as JudgedPush).sendAt < rules.minGapMs) v.gap++
    const tz = timezone(userId)
    const { quietStartHour: s, quietEndHour: e } = rules
    for (const p of list) {
      const h = localHour(p.sendAt, tz)
      if (s !== e && (s < e ? h >= s && h < e : h >= s || h < e)) v.quietHours++
    }
  }
  return v
}

/** Sums one system's pushes over `userDays` user-days. */
export function systemQuality(name: string, pushes: JudgedPush[], userDays: number, violations: Violations): SystemQuality {
  const clicks = pushes.filter((p) => p.clicked).length
  const expectedClicks = pushes.reduce((s, p) => s + p.p, 0)
  const n = pushes.length
  return {
    name,
    pushes: n,
    delivered: pushes.filter((p) => p.delivered).length,
    clicks,
    expectedClicks,
    userDays,
    pushesPerUserDay: userDays ? n / userDays : 0,
    ctr: n ? clicks / n : 0,
    expectedCtr: n ? expectedClicks / n : 0,
    clicksPerUserDay: userDays ? clicks / userDays : 0,
    violations,
  }
}

/** Hermes / Push 1.0 ratios (NaN when Push 1.0's figure is 0). */
export interface Ratios {
  pushesPerUserDay: number
  ctr: number
  expectedCtr: number
  clicksPerUserDay: number
}

/** Each of Hermes' figures divided by Push 1.0's (NaN where Push 1.0's is 0). */
export function ratios(hermes: SystemQuality, push1: SystemQuality): Ratios {
  const r = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b)
  return {
    pushesPerUserDay: r(hermes.pushesPerUserDay, push1.pushesPerUserDay),
    ctr: r(hermes.ctr, push1.ctr),
    expectedCtr: r(hermes.expectedCtr, push1.expectedCtr),
    clicksPerUserDay: r(hermes.clicksPerUserDay, push1.clicksPerUserDay),
  }
}

/** The side-by-side table: Hermes, Push 1.0 and the ratio, then the violations of each. */
export function formatComparison(hermes: SystemQuality, push1: SystemQuality, push1Scene: string, push1Hour: number): string {
  const r = ratios(hermes, push1)
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
  const x = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-')
  const row = (label: string, a: string, b: string, c: string): string => `    ${label.padEnd(26)} ${a.padStart(10)} ${b.padStart(10)} ${c.padStart(18)}`
  const v = (q: SystemQuality): string => `${q.violations.cap}/${q.violations.gap}/${q.violations.quietHours}/${q.violations.materialCap}`
  return [
    `  decision quality: Hermes vs Push 1.0 in the same world, same click model (docs/quality.md)`,
    row('', 'Hermes', 'Push 1.0', 'Hermes / Push 1.0'),
    row('pushes per user-day', hermes.pushesPerUserDay.toFixed(3), push1.pushesPerUserDay.toFixed(3), x(r.pushesPerUserDay)),
    row('CTR (clicks / pushes)', pct(hermes.ctr), pct(push1.ctr), x(r.ctr)),
    row('clicks per user-day', hermes.clicksPerUserDay.toFixed(4), push1.clicksPerUserDay.toFixed(4), x(r.clicksPerUserDay)),
    row('expected CTR (true p)', pct(hermes.expectedCtr), pct(push1.expectedCtr), x(r.expectedCtr)),
    row('pushes / clicks', `${hermes.pushes}/${hermes.clicks}`, `${push1.pushes}/${push1.clicks}`, ''),
    row('violations cap/gap/quiet/mat', v(hermes), v(push1), ''),
    `    Push 1.0: one push per opted-in user per day at ${String(push1Hour).padStart(2, '0')}:00 local time, scene "${push1Scene}" (best average true rate, chosen with hindsight)`,
  ].join('\n')
}
