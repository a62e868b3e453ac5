import { describe, expect, it } from 'vitest'
import { parseSettings } from '../../operators/settings.ts'
import { budgetCheck } from '../../operators/push-budget.ts'
import type { BudgetHistory } from '../../operators/push-budget.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, suppressions, user } from './helpers.ts'

const week = { pushesPerUserDay: 1, windowMs: 7 * DAY, maxCandidates: 64 }

describe('push budget: a candidate goes on only when it ranks within the user\'s budget among their recent candidates', () => {
  it('passes while fewer than pushesPerUserDay × window days of the user\'s candidates were worth more', () => {
    let h: BudgetHistory | undefined
    // Seven candidates at 5 % fill the week's seven slots; each passes (ties pass).
    for (let i = 0; i < 7; i++) {
      const v = budgetCheck(h, 0.05, T0 + i * HOUR, week)
      expect(v.pass).toBe(true)
      h = v.history
    }
    // An eighth at 2 %: seven better ones, no slot left.
    const low = budgetCheck(h, 0.02, T0 + 8 * HOUR, week)
    expect(low).toMatchObject({ pass: false, better: 7, slots: 7 })
    // One at 6 % beats them all; the 2 % candidate stays in the history, below it.
    const high = budgetCheck(low.history, 0.06, T0 + 9 * HOUR, week)
    expect(high).toMatchObject({ pass: true, better: 0 })
    expect(high.history.p).toHaveLength(9)
    // A week later the old candidates have left the window: the 2 % one ranks within it again.
    expect(budgetCheck(high.history, 0.02, T0 + 7 * DAY + 8 * HOUR + MIN, week)).toMatchObject({ pass: true, better: 1 })
  })

  it('never binds when switched off, and keeps at most maxCandidates', () => {
    let h: BudgetHistory | undefined
    for (let i = 0; i < 10; i++) h = budgetCheck(h, 0.5, T0 + i, { ...week, maxCandidates: 8 }).history
    expect(h?.ts).toEqual(Array.from({ length: 8 }, (_, i) => T0 + 2 + i))
    expect(budgetCheck(h, 0.01, T0 + 11, { ...week, pushesPerUserDay: 0 }).pass).toBe(true)
  })

  it('refuses a budget the remembered candidates cannot hold, naming the field and the fix', () => {
    expect(() => parseSettings({ model: { budget: { pushesPerUserDay: 20, windowMs: 7 * DAY } } })).toThrow(/hermes\.model\.budget\.maxCandidates: .*raise maxCandidates to at least 140/)
  })
})

describe('push budget in the decision flow', () => {
  /** A good task (copy with a 10 % prior, on add_to_cart) and a poor one (1 %, on view); caps out of the way. */
  async function shop(budget: object | undefined): Promise<TopologyTestDriver> {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, userMax: 100, materialMax: 100 }, ...(budget ? { model: { budget } } : {}) } })
    await d.pipe('config.materials', [material('mg', { prior: { alpha: 10, beta: 90 } }), material('mp', { prior: { alpha: 1, beta: 99 } })])
    await d.pipe('config.tasks', [
      eventTask('good', { trigger: { type: 'event', events: ['add_to_cart'] }, materials: ['mg'] }),
      eventTask('poor', { trigger: { type: 'event', events: ['view'] }, materials: ['mp'] }),
    ])
    const kinds = { g: 'add_to_cart', p: 'view' } as const
    const at = (u: string, seq: string, from: number): object[] => [...seq].map((k, i) => ev(u, kinds[k as 'g' | 'p'], from + i * HOUR, { eventId: `${u}-${from + i * HOUR}` }))
    await d.pipe('config.users', [user('o', 'UTC', false)])
    await d.pipe('behavior-events', [...at('a', 'gpgp', T0), ...at('b', 'pp', T0), ...at('c', 'pgp', T0), ...at('o', 'gp', T0)].sort((x, y) => (x as { ts: number }).ts - (y as { ts: number }).ts))
    // A day after a's last good candidate, a poor one ranks first among what is left.
    await d.pipe('behavior-events', at('a', 'p', T0 + 2 * HOUR + DAY + MIN))
    await advanceTo(d, T0 + 2 * DAY)
    return d
  }
  // Output topics are read once (the driver hands each record out once).
  const byUser = (d: TopologyTestDriver): ((u: string) => string[]) => {
    const all = decisions(d)
    return (u) => all.filter((x) => x.userId === u).map((x) => x.taskId)
  }

  it('sends each user the best of their candidates, one slot a day: a poor one only while no better one took the slot', async () => {
    const d = await shop({ pushesPerUserDay: 1, windowMs: DAY })
    const sent = byUser(d)
    expect(sent('a')).toEqual(['good', 'good', 'poor'])
    // Only poor candidates: none was worth more than another, so the budget does not bind.
    expect(sent('b')).toEqual(['poor', 'poor'])
    expect(sent('c')).toEqual(['poor', 'good'])
    const all = suppressions(d)
    // An opted-out user's candidates are recorded as opted_out, never as over the budget.
    expect(all.filter((s) => s.userId === 'o').map((s) => s.reason)).toEqual(['opted_out', 'opted_out'])
    const over = all.filter((s) => s.reason === 'low_value')
    expect(over.map((s) => [s.userId, s.taskId, s.materialId, s.ts - T0])).toEqual([['a', 'poor', 'mp', HOUR], ['c', 'poor', 'mp', 2 * HOUR], ['a', 'poor', 'mp', 3 * HOUR]])
    await d.close()
  })

  it('sends every candidate without a budget (the default)', async () => {
    const d = await shop(undefined)
    const sent = byUser(d)
    expect(sent('a')).toEqual(['good', 'poor', 'good', 'poor', 'poor'])
    expect(suppressions(d).filter((s) => s.reason === 'low_value')).toEqual([])
    await d.close()
  })
})
