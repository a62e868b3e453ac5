/**
 * Issue 10, point 2, through the decision flow with time.maxFutureMs and time.minTimestampMs on
 * (the defaults; TopologyTestDriver turns them off unless a test sets them): one bad timestamp
 * must not poison time for everyone.
 */
import { describe, expect, it } from 'vitest'
import { DLQ_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import { CLOCK, MIN, T0, advanceTo, ev, eventTask, material } from './helpers.ts'

const YEAR_3000 = Date.UTC(3000, 0, 1)
const settings = { fatigue: { userMax: 10, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 } }
const cart = eventTask('cart', { trigger: { type: 'event', events: ['cart_add'], delayMs: 10 * MIN, unless: { events: ['purchase'], withinMs: 10 * MIN } } })
const now = eventTask('now')

/** The decision flow with the rules of config/default.yaml, its wall clock at T0 + 1 min. */
async function flowWithRules(): Promise<TopologyTestDriver> {
  const d = await TopologyTestDriver.create([pushDecisions({ settings })], {
    wallClock: T0 + MIN,
    config: { hermes: settings, time: { maxFutureMs: 3_600_000, minTimestampMs: 1e12 } },
  })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', [cart, now])
  return d
}

const reasons = (d: TopologyTestDriver) => d.readOutput('push-decisions.dlq').map((r) => r.headers[DLQ_HEADERS.reason])
const decided = (d: TopologyTestDriver) => d.readValues<Decision>('push-decisions').filter((x) => x.userId !== CLOCK).map((x) => [x.userId, x.taskId, x.sendAt])

describe('an implausible time in the decision flow', () => {
  it('a year-3000 event is dead-lettered: held pushes wait, and a purchase 9 minutes after an add-to-cart still cancels it', async () => {
    const d = await flowWithRules()
    await d.pipe('behavior-events', [ev('alice', 'cart_add', T0), ev('bob', 'cart_add', T0 + MIN)])
    await d.pipe('behavior-events', [ev('mallory', 'price_drop', YEAR_3000)])
    expect(reasons(d)).toEqual([`event time "ts" = ${YEAR_3000} is 973 years ahead of the wall clock (time.maxFutureMs: 3600000)`])
    expect(d.watermark('push-decisions')).toBe(T0 + MIN)
    // Nothing went out at once: both cart pushes are still held.
    expect(decided(d)).toEqual([])
    await d.pipe('behavior-events', [ev('alice', 'purchase', T0 + 9 * MIN)])
    await advanceTo(d, T0 + 20 * MIN, MIN)
    expect(decided(d)).toEqual([['bob', 'cart', T0 + 11 * MIN]])
    expect(d.readValues<Suppression>('push-suppressions').filter((s) => s.userId === 'alice').map((s) => s.reason)).toEqual(['cancelled.unless'])
    await d.close()
  })

  it.each([
    ['seconds instead of milliseconds', 1_793_613_600, /is before 2001-09-09T01:46:40Z \(1000000000000 ms, time\.minTimestampMs\): seconds instead of milliseconds\?$/],
    ['zero', 0, /= 0 is zero, not a time/],
    ['a negative time', -1, /= -1 is negative$/],
    ['a fractional time', T0 + 0.5, /is not an integer number of milliseconds$/],
    ['1e300', 1e300, /is beyond the range of dates/],
    ['two hours ahead of the wall clock', T0 + 2 * 60 * MIN, /is 119 minutes ahead of the wall clock \(time\.maxFutureMs: 3600000\)$/],
    // The behavior-event serde checks this one first.
    ['a string', String(T0), /^behavior event needs "ts" as epoch milliseconds$/],
  ])('%s is dead-lettered with its reason, and the next good record is decided', async (_what, ts, reason) => {
    const d = await flowWithRules()
    await d.pipe('behavior-events', [ev('alice', 'price_drop', T0 - MIN)])
    await d.pipe('behavior-events', [{ ...ev('mallory', 'price_drop', 0), ts }])
    expect(reasons(d)).toEqual([expect.stringMatching(reason)])
    expect(d.watermark('push-decisions')).toBe(T0 - MIN)
    await d.pipe('behavior-events', [ev('bob', 'price_drop', T0)])
    expect(decided(d)).toEqual([['alice', 'now', T0 - MIN], ['bob', 'now', T0]])
    await d.close()
  })
})
