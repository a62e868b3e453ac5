import { describe, expect, it } from 'vitest'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, reasons, suppressions, user } from './helpers.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

const SHANGHAI = 'Asia/Shanghai' // UTC+8, no DST
/** Local wall-clock time in Shanghai on Monday 2026-11-02 (or later days) as an instant. */
const sh = (hour: number, minute = 0, day = 0): number => Date.UTC(2026, 10, 2 + day, hour - 8, minute)

async function setup(tasks: object[], settings: object = {}, materials = ['m1', 'm2', 'm3', 'm4'], config?: { [k: string]: unknown }): Promise<TopologyTestDriver> {
  const d = await flow({ settings, ...(config ? { config } : {}) })
  await d.pipe('config.materials', materials.map((m) => material(m)))
  await d.pipe('config.tasks', tasks)
  return d
}

/** Events of `type` for a user at the given times, then time moved on so every window closes. */
async function events(d: TopologyTestDriver, userId: string, type: string, times: number[], after = HOUR): Promise<void> {
  await d.pipe('behavior-events', times.map((t) => ev(userId, type, t)))
  await advanceTo(d, Math.max(...times) + after)
}

const view = (id: string, extra: object = {}): object => eventTask(id, { trigger: { type: 'event', events: ['view'] }, ...extra })
const sentAt = (d: TopologyTestDriver): number[] => decisions(d).map((x) => x.sendAt)

describe('fatigue: rolling caps', () => {
  it('caps pushes per user at 3 in any rolling 24 h by default; the window is (t - 24 h, t]', async () => {
    const d = await setup([eventTask('t1')], { fatigue: { materialMax: 100, minGapMs: 0, arbitrationWindowMs: 0 } })
    await events(d, 'u1', 'price_drop', [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR, T0 + DAY - 1, T0 + DAY])
    expect(sentAt(d)).toEqual([T0, T0 + HOUR, T0 + 2 * HOUR, T0 + DAY])
    expect(suppressions(d).map((s) => [s.reason, s.triggerEventId])).toEqual([
      ['fatigue.user', `u1-price_drop-${T0 + 3 * HOUR}`],
      ['fatigue.user', `u1-price_drop-${T0 + DAY - 1}`],
    ])
    await d.close()
  })

  it('takes the user cap and window from settings', async () => {
    const d = await setup([eventTask('t1')], { fatigue: { userMax: 1, userWindowMs: 2 * HOUR, materialMax: 100, minGapMs: 0 } })
    await events(d, 'u1', 'price_drop', [T0, T0 + HOUR, T0 + 2 * HOUR])
    expect(sentAt(d)).toEqual([T0, T0 + 2 * HOUR])
    await d.close()
  })

  it('caps pushes per user and task with the task\'s own fatigue window, leaving other tasks alone', async () => {
    const d = await setup([eventTask('t1', { fatigue: { max: 1, windowMs: 6 * HOUR } }), view('t2', { materials: ['m2'] })], { fatigue: { userMax: 100, materialMax: 100, minGapMs: 0 } })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'price_drop', T0 + HOUR), ev('u1', 'view', T0 + 2 * HOUR), ev('u1', 'price_drop', T0 + 6 * HOUR)])
    await advanceTo(d, T0 + 7 * HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t1', T0], ['t2', T0 + 2 * HOUR], ['t1', T0 + 6 * HOUR]])
    expect(reasons(suppressions(d))).toEqual(['fatigue.task'])
    await d.close()
  })

  it('caps pushes of one material to one user at 1 per rolling 7 days by default, across tasks', async () => {
    const d = await setup([eventTask('t1'), view('t2')], { fatigue: { minGapMs: 0 } })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'view', T0 + HOUR), ev('u2', 'view', T0 + HOUR), ev('u1', 'view', T0 + 7 * DAY)])
    await advanceTo(d, T0 + 7 * DAY + HOUR, 6 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.sendAt])).toEqual([['u1', 't1', T0], ['u2', 't2', T0 + HOUR], ['u1', 't2', T0 + 7 * DAY]])
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.materialId])).toEqual([['u1', 'fatigue.material', 'm1']])
    await d.close()
  })

  it('keeps a minimum gap of 30 minutes between two pushes to a user by default', async () => {
    const d = await setup([eventTask('t1'), view('t2', { materials: ['m2'] }), eventTask('t3', { materials: ['m3'], trigger: { type: 'event', events: ['chat'] } })], { fatigue: { arbitrationWindowMs: 0 } })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'view', T0 + 30 * MIN - 1), ev('u1', 'chat', T0 + 30 * MIN)])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t1', T0], ['t3', T0 + 30 * MIN]])
    expect(reasons(suppressions(d))).toEqual(['fatigue.gap'])
    await d.close()
  })
})

describe('fatigue: order of a user\'s pushes', () => {
  it('never sends a push before the user\'s previous one: a late event\'s push goes out at the earliest with it', async () => {
    const d = await setup([eventTask('t1'), view('t2', { materials: ['m2'] })], { fatigue: { minGapMs: 0, arbitrationWindowMs: 0 } })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0 + 10 * MIN)])
    await d.pipe('behavior-events', [ev('u1', 'view', T0)]) // arrives late
    expect(decisions(d).map((x) => [x.taskId, x.decidedAt, x.sendAt])).toEqual([['t1', T0 + 10 * MIN, T0 + 10 * MIN], ['t2', T0, T0 + 10 * MIN]])
    await d.close()
  })
})

describe('fatigue: quiet hours in the user\'s time zone', () => {
  it('defers a push in quiet hours to their end (08:00 local), keeping the decision time', async () => {
    const d = await setup([eventTask('t1', { quietHours: 'defer' })])
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(20))])
    await events(d, 'u1', 'price_drop', [sh(23, 30)], 10 * HOUR)
    expect(decisions(d).map((x) => [x.decidedAt, x.sendAt])).toEqual([[sh(23, 30), sh(8, 0, 1)]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('drops a push in quiet hours when the task says drop', async () => {
    const d = await setup([eventTask('t1', { quietHours: 'drop' })])
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(20))])
    await events(d, 'u1', 'price_drop', [sh(23, 30)], 10 * HOUR)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.reason, s.ts, s.materialId])).toEqual([['quiet_hours', sh(23, 30), 'm1']])
    await d.close()
  })

  it('counts 22:00 up to (not including) 08:00 local as quiet', async () => {
    const d = await setup([eventTask('t1', { quietHours: 'drop' })], { fatigue: { materialMax: 100, userMax: 100, minGapMs: 0 } })
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(6))])
    await events(d, 'u1', 'price_drop', [sh(7, 59), sh(8, 0), sh(21, 59), sh(22, 0), sh(3, 0, 1)])
    expect(sentAt(d)).toEqual([sh(8, 0), sh(21, 59)])
    expect(reasons(suppressions(d))).toEqual(['quiet_hours', 'quiet_hours', 'quiet_hours'])
    await d.close()
  })

  it('takes quiet hours from settings', async () => {
    const d = await setup([eventTask('t1', { quietHours: 'drop' })], { fatigue: { quietStartHour: 12, quietEndHour: 14, materialMax: 100, minGapMs: 0 } })
    await events(d, 'u1', 'price_drop', [T0 + HOUR, T0 + 2 * HOUR, T0 + 4 * HOUR])
    expect(sentAt(d)).toEqual([T0 + HOUR, T0 + 4 * HOUR])
    await d.close()
  })

  it('does not send a deferred push whose task was paused during the night: it becomes `expired`', async () => {
    const d = await setup([eventTask('t1')])
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(20))])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', sh(23))])
    await d.pipe('config.tasks', [eventTask('t1', { status: 'paused' })])
    await advanceTo(d, sh(10, 0, 1))
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.reason, s.ts])).toEqual([['expired', sh(8, 0, 1)]])
    await d.close()
  })

  it('does not send a deferred push to a user who opted out during the night', async () => {
    const d = await setup([eventTask('t1')])
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(20))])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', sh(23))])
    await d.pipe('config.users', [user('u1', SHANGHAI, false, sh(2, 0, 1))])
    await advanceTo(d, sh(10, 0, 1))
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.reason, s.ts])).toEqual([['opted_out', sh(8, 0, 1)]])
    await d.close()
  })

  it('lets deferred pushes compete when quiet hours end: one goes out, the other loses arbitration', async () => {
    const d = await setup([eventTask('t1', { priority: 1 }), view('t2', { priority: 2, materials: ['m2'] })])
    await d.pipe('config.users', [user('u1', SHANGHAI, true, sh(20))])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', sh(23)), ev('u1', 'view', sh(1, 0, 1))])
    await advanceTo(d, sh(10, 0, 1))
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t2', sh(8, 0, 1)]])
    expect(suppressions(d).map((s) => [s.taskId, s.reason])).toEqual([['t1', 'arbitration']])
    await d.close()
  })
})

describe('fatigue: per-task rate limit', () => {
  // The limit is kept per partition (each partition counts its own users' pushes); one partition makes it exact here.
  it('caps a task\'s pushes over all users in a rolling window', async () => {
    const d = await setup([eventTask('t1', { rateLimit: { max: 2, windowMs: HOUR } }), view('t2', { materials: ['m2'] })], {}, undefined, { topics: { defaultPartitions: 1 } })
    await d.pipe('behavior-events', [ev('a', 'price_drop', T0), ev('b', 'price_drop', T0 + MIN), ev('c', 'price_drop', T0 + 2 * MIN), ev('c', 'view', T0 + 3 * MIN), ev('d', 'price_drop', T0 + HOUR + MIN)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.taskId])).toEqual([['a', 't1'], ['b', 't1'], ['c', 't2'], ['d', 't1']])
    expect(suppressions(d).map((s) => [s.userId, s.reason])).toEqual([['c', 'rate_limit']])
    await d.close()
  })
})

describe('fatigue: arbitration', () => {
  it('lets the highest priority win among candidates of one user inside the arbitration window', async () => {
    const d = await setup([eventTask('low', { priority: 1, materials: ['m1'] }), eventTask('high', { priority: 9, materials: ['m2'] }), view('mid', { priority: 5, materials: ['m3'] })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'view', T0 + 999)])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d).map((x) => x.taskId)).toEqual(['high'])
    expect(suppressions(d).map((s) => [s.taskId, s.reason, s.materialId, s.ts])).toEqual([['mid', 'arbitration', 'm3', T0 + 1000], ['low', 'arbitration', 'm1', T0 + 1000]])
    await d.close()
  })

  it('breaks a priority tie by the higher expected click rate', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('weak', { prior: { alpha: 1, beta: 40 } }), material('strong', { prior: { alpha: 1, beta: 10 } })])
    await d.pipe('config.tasks', [eventTask('a', { materials: ['weak'] }), eventTask('b', { materials: ['strong'] })])
    await events(d, 'u1', 'price_drop', [T0])
    expect(decisions(d).map((x) => [x.taskId, x.materialId])).toEqual([['b', 'strong']])
    expect(suppressions(d).map((s) => [s.taskId, s.reason])).toEqual([['a', 'arbitration']])
    await d.close()
  })

  it('does not make candidates further apart than the window compete, however late the window\'s timer fires', async () => {
    const d = await setup([eventTask('t1', { priority: 1 }), view('t2', { priority: 9, materials: ['m2'] })], { fatigue: { minGapMs: 0 } })
    // The view arrives after the price_drop's window closed (T0 + 1 s) but before any later record moved the watermark.
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0)])
    await d.pipe('behavior-events', [ev('u1', 'view', T0 + 1001)])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t1', T0], ['t2', T0 + 1001]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('groups candidates by their time, not by arrival: a delayed push fired after a later app open does not join its window', async () => {
    // A cart push held an hour fires once the watermark passes T0 + 1 h. With 15 min of allowed
    // disorder the app open at T0 + 70 min is processed first and opens its window, and the cart
    // candidate (time T0 + 1 h) arrives while it is open; in order, it was decided alone an hour
    // earlier. After a restart or a rebalance records and timers can interleave either way (the
    // chaos run's seed 4): the pushes must be the same.
    const run = async (maxOutOfOrdernessMs: number): Promise<unknown[]> => {
      const tasks = [eventTask('cart', { priority: 9, trigger: { type: 'event', events: ['add_to_cart'], delayMs: HOUR } }), eventTask('winback', { priority: 1, materials: ['m2'], trigger: { type: 'event', events: ['app_open'] } })]
      const d = await setup(tasks, { fatigue: { minGapMs: 0 } }, ['m1', 'm2'], { time: { maxOutOfOrdernessMs } })
      await d.pipe('behavior-events', [ev('u1', 'add_to_cart', T0), ev('u2', 'view', T0 + 61 * MIN), ev('u1', 'app_open', T0 + 70 * MIN)])
      await advanceTo(d, T0 + 3 * HOUR)
      const out = [...decisions(d).map((x) => ['sent', x.taskId, x.sendAt]), ...suppressions(d).map((s) => [s.reason, s.taskId, s.ts])]
      await d.close()
      return out
    }
    const inOrder = await run(0)
    expect(inOrder).toEqual([['sent', 'cart', T0 + HOUR], ['sent', 'winback', T0 + 70 * MIN]])
    expect(await run(15 * MIN)).toEqual(inOrder)
  })

  it('decides each candidate at once with an arbitration window of 0', async () => {
    const d = await setup([eventTask('a', { priority: 1 }), eventTask('b', { priority: 2, materials: ['m2'] })], { fatigue: { arbitrationWindowMs: 0, minGapMs: 0 } })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0)])
    // No timer, no competition: both candidates of the event are decided as they come, and both pass.
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['a', T0], ['b', T0]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })
})

describe('whether to send: expected value against a rising threshold', () => {
  // Prior Beta(1, 20): an expected click rate of 1/21 ≈ 0.0476.
  const task = (extra: object = {}) => eventTask('t1', { minExpectedCtr: 0.04, ...extra })
  const settings = (fatigueCost?: number) => ({ fatigue: { minGapMs: 0, materialMax: 100, userMax: 100, ...(fatigueCost === undefined ? {} : { fatigueCost }) } })

  it('sends while 1/21 ≥ 0.04 × (1 + 0.5 n) and suppresses as low_value once n pushes in 24 h raise the bar', async () => {
    const d = await setup([task()], settings())
    await events(d, 'u1', 'price_drop', [T0, T0 + HOUR, T0 + 25 * HOUR])
    expect(sentAt(d)).toEqual([T0, T0 + 25 * HOUR])
    expect(suppressions(d).map((s) => [s.reason, s.materialId, s.ts])).toEqual([['low_value', 'm1', T0 + HOUR + 1000]])
    await d.close()
  })

  it('takes the fatigue cost from the task before the global setting', async () => {
    const d = await setup([task({ fatigueCost: 0.1 })], settings(5))
    // 0.04 × 1.1 = 0.044 ≤ 0.0476 < 0.04 × 1.2 = 0.048
    await events(d, 'u1', 'price_drop', [T0, T0 + HOUR, T0 + 2 * HOUR])
    expect(sentAt(d)).toEqual([T0, T0 + HOUR])
    expect(reasons(suppressions(d))).toEqual(['low_value'])
    await d.close()
  })

  it('takes the global fatigue cost from settings', async () => {
    const d = await setup([task()], settings(0))
    await events(d, 'u1', 'price_drop', [T0, T0 + HOUR, T0 + 2 * HOUR])
    expect(sentAt(d)).toEqual([T0, T0 + HOUR, T0 + 2 * HOUR])
    await d.close()
  })

  it('suppresses a candidate below minExpectedCtr even for a rested user', async () => {
    const d = await setup([task({ minExpectedCtr: 0.05 })])
    await events(d, 'u1', 'price_drop', [T0])
    expect(decisions(d)).toEqual([])
    expect(reasons(suppressions(d))).toEqual(['low_value'])
    await d.close()
  })

  it('sends a cold-start candidate (prior only) with default settings, so the flow learns', async () => {
    const d = await setup([eventTask('t1')], {}, ['m1'])
    await events(d, 'u1', 'price_drop', [T0])
    expect(decisions(d).map((x) => [x.materialId, x.score])).toEqual([['m1', 1 / 21]])
    await d.close()
  })
})

describe('the suppression audit trail', () => {
  it('gives every candidate exactly one outcome: a decision or a suppression with its reason', async () => {
    const d = await setup([eventTask('t1', { quietHours: 'drop' }), view('t2', { materials: ['m2'], priority: 1 })])
    const times = [T0, T0 + 10 * MIN, T0 + 20 * MIN, T0 + 40 * MIN, T0 + 2 * HOUR, T0 + 3 * HOUR, T0 + 4 * HOUR, T0 + 13 * HOUR]
    await d.pipe('behavior-events', times.flatMap((t) => [ev('u1', 'price_drop', t), ev('u1', 'view', t + 1)]))
    await advanceTo(d, T0 + 23 * HOUR) // the view at 23:00 is deferred to 08:00
    const ds = decisions(d)
    const ss = suppressions(d)
    const outcomes = [...ds.map((x) => x.triggerEventId), ...ss.map((s) => s.triggerEventId)].sort()
    const expected = times.flatMap((t) => [`u1-price_drop-${t}`, `u1-view-${t + 1}`]).sort()
    expect(outcomes).toEqual(expected)
    expect(ds).toHaveLength(2)
    expect(new Set(reasons(ss))).toEqual(new Set(['arbitration', 'fatigue.gap', 'fatigue.material', 'quiet_hours']))
    await d.close()
  })
})

describe('material fallback', () => {
  it('sends the next-best material when the chosen one is capped for the user', async () => {
    const { flow, material, eventTask, ev, decisions, suppressions, T0, HOUR } = await import('./helpers.ts')
    const d = await flow({ settings: { fatigue: { minGapMs: 0, arbitrationWindowMs: 0 } } })
    await d.pipe('config.materials', [material('m1', { prior: { alpha: 5, beta: 20 } }), material('m2', { prior: { alpha: 1, beta: 20 } })])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'price_drop', T0 + HOUR), ev('u1', 'price_drop', T0 + 2 * HOUR)])
    // m1 scores higher; after it is sent once (material cap 1 per 7 days) m2 goes, then nothing is left.
    expect(decisions(d).map((x) => x.materialId)).toEqual(['m1', 'm2'])
    expect(suppressions(d).map((s) => [s.reason, s.materialId])).toEqual([['fatigue.material', 'm1']])
    await d.close()
  })
})
