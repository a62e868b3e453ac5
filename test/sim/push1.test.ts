import { DateTime } from 'luxon'
import { describe, expect, it } from 'vitest'
import { Push1 } from '../../scripts/sim/push1.ts'
import { MATERIALS } from '../../scripts/sim/sample-config.ts'
import { DAY, HOUR, World } from '../../scripts/sim/world.ts'

const START = Date.UTC(2026, 10, 2)

function runBaseline(hour?: number): { world: World; push1: Push1 } {
  const world = new World({ users: 40, seed: 11, start: START })
  const push1 = new Push1(world, { materials: MATERIALS, hour })
  for (let h = 0; h < 3 * 24; h++) push1.step(world.advance().hourStart)
  return { world, push1 }
}

describe('Push 1.0', () => {
  it('sends every opted-in user exactly one push per local day, at the fixed local hour, and none to the opted-out', () => {
    const { world, push1 } = runBaseline()
    const optedIn = world.users.filter((u) => u.pushEnabled)
    expect(optedIn.length).toBeGreaterThan(0)
    expect(optedIn.length).toBeLessThan(world.users.length) // the seed has opted-out users, so the test sees them
    for (const scene of push1.results()) {
      const byUserDay = new Map<string, number>()
      for (const p of scene.pushes) {
        const user = world.user(p.userId)
        expect(user?.pushEnabled).toBe(true)
        const local = DateTime.fromMillis(p.sendAt, { zone: user?.timezone as string })
        expect([local.hour, local.minute, local.second]).toEqual([20, 0, 0])
        const key = `${p.userId} ${local.toISODate()}`
        byUserDay.set(key, (byUserDay.get(key) ?? 0) + 1)
      }
      expect([...byUserDay.values()].every((n) => n === 1)).toBe(true)
      // 72 hours from a UTC midnight hold three local 20:00s in every zone of the world.
      for (const u of optedIn) expect([...byUserDay.keys()].filter((k) => k.startsWith(`${u.userId} `))).toHaveLength(3)
    }
  })

  it('honours another fixed hour', () => {
    const { world, push1 } = runBaseline(9)
    for (const p of push1.best().pushes) expect(DateTime.fromMillis(p.sendAt, { zone: world.user(p.userId)?.timezone as string }).hour).toBe(9)
  })

  it('chooses the scene with the best mean true click rate, and judges every scene on the same sends', () => {
    const { push1 } = runBaseline()
    const results = push1.results()
    expect(results.length).toBeGreaterThan(2)
    const rate = (r: (typeof results)[number]): number => r.expectedClicks / r.pushes.length
    for (let i = 1; i < results.length; i++) expect(rate(results[i - 1] as (typeof results)[number])).toBeGreaterThanOrEqual(rate(results[i] as (typeof results)[number]))
    expect(push1.best()).toBe(results[0])
    const sends = (r: (typeof results)[number]): string[] => r.pushes.map((p) => `${p.userId}@${p.sendAt}`)
    for (const r of results) expect(sends(r)).toEqual(sends(results[0] as (typeof results)[number]))
    // Only generic copy and price-drop copy (as deal of the day) are scenes; no segment-only copy.
    expect(results.map((r) => r.materialId).sort()).toEqual(['m1', 'm2', 'm6', 'm7', 'm9'])
    for (const r of results.filter((x) => x.scene.startsWith('deal'))) for (const p of r.pushes) expect(p.itemId).toMatch(/^item-\d+$/)
  })

  it('finds the local send time inside an hour, for whole and half-hour offsets', () => {
    // 2026-11-02 12:00 UTC is 20:00 in Shanghai (UTC+8); 14:30 UTC is 20:00 in Kolkata (UTC+5:30).
    const at14 = START + 14 * HOUR
    expect(Push1.sendTime(START + 12 * HOUR, 'Asia/Shanghai', 20)).toBe(START + 12 * HOUR)
    expect(Push1.sendTime(at14, 'Asia/Shanghai', 20)).toBeNull()
    expect(Push1.sendTime(at14, 'Asia/Kolkata', 20)).toBe(at14 + 30 * 60_000)
    expect(Push1.sendTime(at14, 'UTC', 20)).toBeNull()
    expect(Push1.sendTime(START + 20 * HOUR, 'UTC', 20)).toBe(START + 20 * HOUR)
    expect(Push1.sendTime(START + DAY + 20 * HOUR, 'UTC', 20)).toBe(START + DAY + 20 * HOUR)
  })
})
