import { describe, expect, it } from 'vitest'
import { HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material, personalizedTask, reasons, scheduleTask, suppressions } from './helpers.ts'

const NOON = T0 + 2 * HOUR

describe('the decision flow with tasks that wait for their materials', () => {
  it('arms a schedule and plans a personalized task when their material arrives, with event time already running', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.tasks', [scheduleTask('daily', '0 12 * * *', { materials: ['m1'], ts: T0 + MIN }), personalizedTask('evening', 18, 19, { materials: ['m2'], ts: T0 + MIN })])
    await d.pipe('config.materials', [material('m1', { ts: T0 + 2 * MIN }), material('m2', { ts: T0 + 2 * MIN })])
    await advanceTo(d, T0 + 10 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.sendAt])).toEqual([['u1', 'daily', NOON], ['u1', 'evening', T0 + 8 * HOUR]])
    await d.close()
  })

  it('dead-letters a task once when its wait runs out in event time, naming the missing material', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m404'], ts: T0 + MIN })])
    await advanceTo(d, T0 + HOUR)
    expect(deadLetters(d).map((x) => [x.node, x.reason])).toEqual([['task-center', expect.stringMatching(/^invalid task t1: unknown material m404 \(waited until event time /)]])
    await d.close()
  })

  it('waits hermes.materialWaitMs in both operators that hold tasks, so a late material still applies the task everywhere', async () => {
    const d = await flow({ settings: { materialWaitMs: 3 * HOUR } })
    await d.pipe('behavior-events', [ev('u0', 'view', T0)])
    await d.pipe('config.tasks', [eventTask('t1', { ts: T0 + MIN })])
    await advanceTo(d, T0 + 2 * HOUR)
    await d.pipe('config.materials', [material('m1', { ts: T0 + 2 * HOUR })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0 + 2 * HOUR + MIN), ev('u2', 'view', T0 + 3 * HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d).map((x) => [x.userId, x.taskId])).toEqual([['u1', 't1']])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })
})
