import { describe, expect, it } from 'vitest'
import type { JudgedPush } from '../../scripts/sim/push1.ts'
import { countViolations, formatComparison, ratios, systemQuality } from '../../scripts/sim/quality.ts'
import type { Rules } from '../../scripts/sim/quality.ts'

const H = 3_600_000
const DAY = 24 * H
// Monday 2026-11-02 00:00 UTC.
const T0 = Date.UTC(2026, 10, 2)

const push = (userId: string, sendAt: number, over: Partial<JudgedPush> = {}): JudgedPush => ({
  userId, decisionId: `${userId}-${sendAt}`, taskId: 't1', materialId: 'm1', itemId: null, sendAt, p: 0.1, delivered: true, clicked: false, ...over,
})

const rules: Rules = {
  userMax: 2, userWindowMs: DAY, materialMax: 1, materialWindowMs: 7 * DAY, minGapMs: 30 * 60_000,
  quietStartHour: 22, quietEndHour: 8, taskCaps: { t2: { max: 1, windowMs: DAY } }, contentCaps: false,
}

describe('violations, counted from the pushes with the world definitions', () => {
  it('are zero for pushes that keep every rule', () => {
    const pushes = [push('a', T0 + 9 * H, { materialId: 'm1' }), push('a', T0 + 12 * H, { materialId: 'm2' }), push('b', T0 + 9 * H), push('a', T0 + 8 * DAY + 9 * H)]
    expect(countViolations(pushes, rules, () => 'UTC')).toEqual({ cap: 0, gap: 0, quietHours: 0, materialCap: 0 })
  })

  it('count each push over the user cap, a task cap, the gap, quiet hours and the material cap', () => {
    const pushes = [
      push('a', T0 + 9 * H, { materialId: 'm1' }),
      push('a', T0 + 10 * H, { materialId: 'm2' }),
      push('a', T0 + 10 * H + 10 * 60_000, { materialId: 'm3' }), // third in 24 h (cap) and 10 min after the last (gap)
      push('b', T0 + 23 * H, { materialId: 'm1' }), // 23:00 UTC: quiet
      push('b', T0 + DAY + 12 * H, { materialId: 'm1' }), // m1 again within 7 days
      push('c', T0 + 9 * H, { taskId: 't2', materialId: 'm4' }),
      push('c', T0 + 15 * H, { taskId: 't2', materialId: 'm5' }), // t2 allows one a day
    ]
    expect(countViolations(pushes, rules, () => 'UTC')).toEqual({ cap: 2, gap: 1, quietHours: 1, materialCap: 1 })
  })

  it('read quiet hours in each user’s zone', () => {
    // 14:00 UTC is 22:00 in Shanghai.
    const pushes = [push('a', T0 + 14 * H), push('b', T0 + 14 * H + 1)]
    expect(countViolations(pushes, rules, (u) => (u === 'a' ? 'Asia/Shanghai' : 'UTC')).quietHours).toBe(1)
  })

  it('count content (material and item) when caps count content', () => {
    const pushes = [push('a', T0 + 9 * H, { itemId: 'item-1' }), push('a', T0 + 12 * H, { itemId: 'item-2' })]
    expect(countViolations(pushes, rules, () => 'UTC').materialCap).toBe(1)
    expect(countViolations(pushes, { ...rules, contentCaps: true }, () => 'UTC').materialCap).toBe(0)
  })
})

describe('the side-by-side report', () => {
  // 10 users over 2 days: Hermes sends 8 pushes, 2 clicked; Push 1.0 sends 20, 2 clicked.
  const none = { cap: 0, gap: 0, quietHours: 0, materialCap: 0 }
  const hermesPushes = Array.from({ length: 8 }, (_, i) => push(`u${i}`, T0 + 9 * H, { clicked: i < 2, p: 0.25 }))
  const push1Pushes = Array.from({ length: 20 }, (_, i) => push(`u${i % 10}`, T0 + 20 * H + Math.floor(i / 10) * DAY, { clicked: i < 2, delivered: i !== 5, p: 0.05 }))
  const hermes = systemQuality('Hermes', hermesPushes, 20, none)
  const push1 = systemQuality('Push 1.0', push1Pushes, 20, { ...none, materialCap: 10 })

  it('sums pushes, clicks and rates per user-day', () => {
    expect(hermes).toMatchObject({ pushes: 8, clicks: 2, delivered: 8, pushesPerUserDay: 0.4, ctr: 0.25, clicksPerUserDay: 0.1 })
    expect(hermes.expectedCtr).toBeCloseTo(0.25, 12)
    expect(push1).toMatchObject({ pushes: 20, clicks: 2, delivered: 19, pushesPerUserDay: 1, ctr: 0.1, clicksPerUserDay: 0.1 })
    expect(push1.expectedClicks).toBeCloseTo(1, 12)
  })

  it('divides Hermes by Push 1.0', () => {
    const r = ratios(hermes, push1)
    expect(r.pushesPerUserDay).toBeCloseTo(0.4, 12)
    expect(r.ctr).toBeCloseTo(2.5, 12)
    expect(r.clicksPerUserDay).toBeCloseTo(1, 12)
    expect(r.expectedCtr).toBeCloseTo(5, 12)
    expect(ratios(hermes, systemQuality('none', [], 20, none)).ctr).toBeNaN()
  })

  it('prints the figures and ratios side by side', () => {
    const text = formatComparison(hermes, push1, 'deal of the day (m2)', 20)
    expect(text).toMatch(/pushes per user-day\s+0\.400\s+1\.000\s+0\.40x/)
    expect(text).toMatch(/CTR \(clicks \/ pushes\)\s+25\.00%\s+10\.00%\s+2\.50x/)
    expect(text).toMatch(/clicks per user-day\s+0\.1000\s+0\.1000\s+1\.00x/)
    expect(text).toMatch(/violations cap\/gap\/quiet\/mat\s+0\/0\/0\/0\s+0\/0\/0\/10/)
    expect(text).toContain('at 20:00 local time, scene "deal of the day (m2)"')
  })
})
