import { describe, expect, it } from 'vitest'
import { featureIndex } from '../../operators/ctr-model.ts'
import { bestSendTime } from '../../operators/hold.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

// T0 is Monday 10:00 UTC; these are the day's hours in UTC (every user here is in UTC).
const MON = T0 - 10 * HOUR
const WED = MON + 2 * DAY
const drop = (u: string, ts: number): object => ev(u, 'price_drop', ts, { eventId: `${u}-drop-${ts}` })
/** Twenty views at `hour` on Monday: the user's activity peaks at that hour of the day. */
/**
 * The first peak hour of a user active at 20:00: activity is smoothed over neighbouring hours
 * (operators/ctr-model.ts, ACTIVITY_KERNEL), so 19:00 is a peak hour too, and the earliest.
 */
const PEAK = WED + 19 * HOUR
const activeAt = (u: string, hour: number): object[] => Array.from({ length: 20 }, (_, k) => ev(u, 'view', MON + hour * HOUR + k * MIN, { eventId: `${u}-view-${k}` }))

describe('held pushes: the best hour within maxHoldMs, net of the trigger\'s decay', () => {
  const base = { at: 9 * HOUR, maxHoldMs: 12 * HOUR, triggerTs: 9 * HOUR, halfLifeMs: 6 * HOUR, margin: 0.1, quiet: () => false }
  const evening = (t: number): number => (t === 20 * HOUR ? 0.2 : 0.02)

  it('waits for a much better hour when it pays for the decay', () => {
    expect(bestSendTime({ ...base, expected: evening })).toBe(20 * HOUR)
  })

  it('sends at once when the trigger decays fast, when now is as good, or when the best hour is in quiet hours', () => {
    expect(bestSendTime({ ...base, expected: evening, halfLifeMs: HOUR })).toBe(9 * HOUR)
    expect(bestSendTime({ ...base, expected: () => 0.1 })).toBe(9 * HOUR)
    expect(bestSendTime({ ...base, expected: evening, quiet: (t) => t >= 20 * HOUR })).toBe(9 * HOUR)
    // A small gain below the margin is no reason to wait.
    expect(bestSendTime({ ...base, expected: (t) => (t === 10 * HOUR ? 0.105 : 0.1), halfLifeMs: 1000 * HOUR })).toBe(9 * HOUR)
  })

  it('applies the configured decay only to the share of the age effect the model has not learned', () => {
    // Twice as good at 17:00, a 3-hour half-life: 2 × 2^(-8/3) ≈ 0.31 of now, so not worth it...
    const twice = (t: number): number => (t === 17 * HOUR ? 0.2 : 0.1)
    expect(bestSendTime({ ...base, expected: twice, halfLifeMs: 3 * HOUR })).toBe(9 * HOUR)
    expect(bestSendTime({ ...base, expected: twice, halfLifeMs: 3 * HOUR, unlearned: () => 1 })).toBe(9 * HOUR)
    // ...unless the model has learned what 8-hour-old triggers earn (its p(t) already says it):
    // 2 × 2^(-0.1 × 8/3) ≈ 1.66 of now.
    expect(bestSendTime({ ...base, expected: twice, halfLifeMs: 3 * HOUR, unlearned: (t) => (t > 12 * HOUR ? 0.1 : 1) })).toBe(17 * HOUR)
  })

  it('never looks past maxHoldMs', () => {
    expect(bestSendTime({ ...base, expected: evening, maxHoldMs: 10 * HOUR })).toBe(9 * HOUR)
    expect(bestSendTime({ ...base, expected: evening, maxHoldMs: 0 })).toBe(9 * HOUR)
  })
})

describe('held pushes in the decision flow', () => {
  /**
   * The decision flow with a published click model that prices the user's activity at the send
   * hour (as test/operators/ctr-model.test.ts shows it learns to): at the peak hour a push is
   * worth about seven times one at a usual hour, at an idle hour less.
   */
  async function withHourModel(settings: object = {}): Promise<TopologyTestDriver> {
    const d = await flow({ settings: { fatigue: { minGapMs: 0 }, ...settings } })
    await d.pipe('config.materials', [material('m1')])
    const w = (name: string, mean: number): [number, number, number] => [featureIndex(name, 4096), mean, 0.01]
    const weights = [w('activity=peak', 2), w('activity=high', 1), w('activity=low', -0.5), w('activity=idle', -1)].sort((a, b) => a[0] - b[0])
    await d.pipe('ctr-model', [{ modelId: 'ctr', ts: MON, dims: 4096, priorVariance: 0.25, examples: 1000, weights }])
    return d
  }

  it('holds a 09:00 trigger of a user active at 20:00 until its first peak hour, 19:00, and sends at once for a user active now or a fast-decaying task', async () => {
    const d = await withHourModel()
    await d.pipe('config.tasks', [
      eventTask('hold', { maxHoldMs: 12 * HOUR }),
      eventTask('fast', { trigger: { type: 'event', events: ['flash_sale'] }, maxHoldMs: 12 * HOUR, holdHalfLifeMs: 30 * MIN }),
    ])
    await d.pipe('behavior-events', [...activeAt('evening', 20), ...activeAt('morning', 9), ...activeAt('flash', 20)])
    await d.pipe('behavior-events', [drop('evening', WED + 9 * HOUR), drop('morning', WED + 9 * HOUR + 1000), ev('flash', 'flash_sale', WED + 9 * HOUR + 2000)])
    await advanceTo(d, WED + 9 * HOUR + 10 * MIN, MIN)
    const now = decisions(d)
    expect(now.map((x) => [x.userId, x.taskId, x.sendAt])).toEqual([['morning', 'hold', WED + 9 * HOUR + 1000], ['flash', 'fast', WED + 9 * HOUR + 2000]])
    await advanceTo(d, WED + 21 * HOUR, 15 * MIN)
    const held = decisions(d)
    expect(held.map((x) => [x.userId, x.taskId, x.sendAt, x.decidedAt])).toEqual([['evening', 'hold', PEAK, WED + 9 * HOUR]])
    // Scored as it is sent: at the user's peak hour.
    expect(held[0]?.explain).toEqual([{ feature: 'activity=peak', weight: 2 }])
    // σ(logit(1/21) + 2): the material's prior rate moved by the peak hour's weight.
    expect(held[0]?.expectedCtr).toBeCloseTo(1 / (1 + 20 * Math.exp(-2)), 5)
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('explores the hold: with holdExploreShare, a push the prior half-life would send at once waits for the peak, so the model can learn what older triggers earn', async () => {
    // A 1-hour half-life: waiting 11 hours costs 2^-11 under the prior, so no push waits...
    const run = async (holdExploreShare: number): Promise<number[]> => {
      const d = await withHourModel({ model: { holdExploreShare } })
      await d.pipe('config.tasks', [eventTask('hold', { maxHoldMs: 12 * HOUR, holdHalfLifeMs: HOUR })])
      const us = Array.from({ length: 40 }, (_, i) => `u${String(i).padStart(2, '0')}`)
      await d.pipe('behavior-events', us.flatMap((u) => activeAt(u, 20)))
      await d.pipe('behavior-events', us.map((u, i) => drop(u, WED + 9 * HOUR + i * 1000)))
      await advanceTo(d, WED + 21 * HOUR, 15 * MIN)
      const sent = decisions(d).map((x) => x.sendAt)
      await d.close()
      return sent
    }
    const none = await run(0)
    expect(none).toHaveLength(40)
    expect(none.filter((t) => t === PEAK)).toEqual([])
    // ...unless it explores: about a quarter wait for the peak (the model's p(t), its age weights unlearned).
    const some = await run(0.25)
    const waited = some.filter((t) => t === PEAK).length
    expect(some).toHaveLength(40)
    expect(waited).toBeGreaterThan(3)
    expect(waited).toBeLessThan(20)
  })

  it('sends at once without a model: every hour looks the same, and waiting only loses relevance', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('hold', { maxHoldMs: 12 * HOUR })])
    await d.pipe('behavior-events', [...activeAt('evening', 20), drop('evening', WED + 9 * HOUR)])
    await advanceTo(d, WED + 9 * HOUR + 10 * MIN, MIN)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([WED + 9 * HOUR])
    await d.close()
  })

  it('checks fatigue at the send time: a cap reached during the hold suppresses the held push with the usual reason', async () => {
    const d = await withHourModel({ fatigue: { minGapMs: 0, userMax: 1 } })
    await d.pipe('config.tasks', [
      eventTask('hold', { maxHoldMs: 12 * HOUR }),
      eventTask('noon', { trigger: { type: 'event', events: ['cart_add'] } }),
    ])
    await d.pipe('behavior-events', [...activeAt('evening', 20), drop('evening', WED + 9 * HOUR)])
    await advanceTo(d, WED + 12 * HOUR, 15 * MIN)
    expect(decisions(d)).toEqual([])
    await d.pipe('behavior-events', [ev('evening', 'cart_add', WED + 12 * HOUR + MIN)])
    await advanceTo(d, WED + 21 * HOUR, 15 * MIN)
    expect(decisions(d).map((x) => [x.userId, x.taskId])).toEqual([['evening', 'noon']])
    // Suppressed when the arbitration window of the 19:00 send closes.
    expect(suppressions(d).map((x) => [x.userId, x.taskId, x.reason, x.ts])).toEqual([['evening', 'hold', 'fatigue.user', PEAK + 1000]])
    await d.close()
  })

  it('suppresses a held push as expired when its task is paused during the hold', async () => {
    const d = await withHourModel()
    await d.pipe('config.tasks', [eventTask('hold', { maxHoldMs: 12 * HOUR })])
    await d.pipe('behavior-events', [...activeAt('evening', 20), drop('evening', WED + 9 * HOUR)])
    await advanceTo(d, WED + 12 * HOUR, 15 * MIN)
    await d.pipe('config.tasks', [eventTask('hold', { maxHoldMs: 12 * HOUR, status: 'paused' })])
    await advanceTo(d, WED + 21 * HOUR, 15 * MIN)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((x) => [x.taskId, x.reason, x.ts])).toEqual([['hold', 'expired', PEAK]])
    await d.close()
  })
})
