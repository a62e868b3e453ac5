import { describe, expect, it } from 'vitest'
import { presenceAt } from '../../operators/matching-center.ts'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

// T0 is Monday 10:00 UTC; every user here is in UTC.
const MON = T0 - 10 * HOUR
const WED = MON + 2 * DAY
const drop = (u: string, ts: number): object => ev(u, 'price_drop', ts, { eventId: `${u}-drop-${ts}` })
/** Twenty views at `hour` on Monday: the user is around at that hour of the day. */
const activeAt = (u: string, hour: number): object[] => Array.from({ length: 20 }, (_, k) => ev(u, 'view', MON + hour * HOUR + k * MIN, { eventId: `${u}-view-${k}` }))

describe('held pushes priced by the user\'s presence (hermes.model.holdHour: presence)', () => {
  const presence = { fatigue: { minGapMs: 0 }, model: { holdHour: 'presence' } }

  // The default (holdHour: model) sends the same evening user's push at once without a model: test/operators/hold.test.ts.
  it('holds a 09:00 trigger of a user active at 20:00 until 20:00 with no model published yet; sends at once for a user active now, one without history, and a fast-decaying task', async () => {
    const d = await flow({ settings: presence })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [
      eventTask('hold', { maxHoldMs: 12 * HOUR }),
      eventTask('fast', { trigger: { type: 'event', events: ['flash_sale'] }, maxHoldMs: 12 * HOUR, holdHalfLifeMs: 30 * MIN }),
    ])
    await d.pipe('behavior-events', [...activeAt('evening', 20), ...activeAt('morning', 9), ...activeAt('flash', 20)])
    await d.pipe('behavior-events', [drop('evening', WED + 9 * HOUR), drop('morning', WED + 9 * HOUR + 1000), drop('new', WED + 9 * HOUR + 1500), ev('flash', 'flash_sale', WED + 9 * HOUR + 2000)])
    await advanceTo(d, WED + 9 * HOUR + 10 * MIN, MIN)
    // Waiting 11 hours for the evening user's peak: presence 7.0 against 0.5 now, times 2^(-11/6) of decay, pays.
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.sendAt])).toEqual([
      ['morning', 'hold', WED + 9 * HOUR + 1000],
      ['new', 'hold', WED + 9 * HOUR + 1500],
      ['flash', 'fast', WED + 9 * HOUR + 2000],
    ])
    await advanceTo(d, WED + 21 * HOUR, 15 * MIN)
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.sendAt, x.decidedAt])).toEqual([['evening', 'hold', WED + 20 * HOUR, WED + 9 * HOUR]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('does not wait past the hold or into quiet hours: a peak at 23:00 (quiet from 22:00) or beyond maxHoldMs sends at once', async () => {
    const d = await flow({ settings: presence })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('hold', { maxHoldMs: 6 * HOUR })])
    await d.pipe('behavior-events', [...activeAt('late', 23), ...activeAt('evening', 20)])
    await d.pipe('behavior-events', [drop('late', WED + 9 * HOUR), drop('evening', WED + 9 * HOUR + 1000)])
    await advanceTo(d, WED + 23 * HOUR, 15 * MIN)
    expect(decisions(d).map((x) => [x.userId, x.sendAt])).toEqual([['late', WED + 9 * HOUR], ['evening', WED + 9 * HOUR + 1000]])
    await d.close()
  })

  it('presence is the smoothed activity at the hour plus the floor, and flat without history', () => {
    const hist = Array.from({ length: 168 }, (_, h) => (h % 24 === 20 ? 5 : 0))
    const at = (hour: number): number => MON + hour * HOUR
    // All activity at 20:00: 24 / (sum of the kernel) times an average hour there, less next to it, none at 09:00.
    expect(presenceAt(hist, at(20), 'UTC', 0.5)).toBeGreaterThan(6.5)
    expect(presenceAt(hist, at(21), 'UTC', 0.5)).toBeLessThan(presenceAt(hist, at(20), 'UTC', 0.5))
    expect(presenceAt(hist, at(21), 'UTC', 0.5)).toBeGreaterThan(4)
    expect(presenceAt(hist, at(9), 'UTC', 0.5)).toBe(0.5)
    expect(presenceAt(null, at(20), 'UTC', 0.5)).toBe(1)
    expect(presenceAt(new Array<number>(168).fill(0), at(20), 'UTC', 0.5)).toBe(1)
  })
})

describe('the activity histogram', () => {
  it('does not count a gateway\'s delivery reports as the user being around', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('behavior-events', [
      ev('u1', 'view', MON + 9 * HOUR),
      ev('u1', 'push_delivered', MON + 20 * HOUR, { attrs: { decisionId: 'd1', materialId: 'm1' } }),
      ev('u1', 'push_failed', MON + 21 * HOUR, { attrs: { decisionId: 'd2', materialId: 'm1' } }),
      ev('u1', 'push_click', MON + 22 * HOUR, { attrs: { decisionId: 'd1', materialId: 'm1' } }),
    ])
    const hist = (d.storeValue('task-center', 'user', 'u1') as { hist: number[] }).hist
    // Monday 09:00 (the view) and 22:00 (the click: the user opened the app); not 20:00 or 21:00.
    expect(hist.flatMap((w, i) => (w > 0 ? [i] : []))).toEqual([9, 22])
    await d.close()
  })
})
