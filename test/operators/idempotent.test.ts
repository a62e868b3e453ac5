import { describe, expect, it } from 'vitest'
import { HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, scheduleTask, suppressions } from './helpers.ts'

/** Caps that never bind, so only idempotency keeps a second push away. */
const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0, quietStartHour: 0, quietEndHour: 0 } }

describe('decisions are idempotent by decision id', () => {
  it.each([
    ['inside one arbitration window', { ...open, fatigue: { ...open.fatigue, arbitrationWindowMs: 1000 } }, 0],
    ['without an arbitration window', { ...open, fatigue: { ...open.fatigue, arbitrationWindowMs: 0 } }, 0],
    ['an hour later', open, HOUR],
    ['a week later', open, 7 * 24 * HOUR],
  ])('sends an event delivered twice (%s) once, with no suppression for the copy', async (_when, settings, later) => {
    const d = await flow({ settings })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    const e = { eventId: 'dup-1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'sku-1' }
    await d.pipe('behavior-events', [e, ev('u2', 'price_drop', T0 + 1)])
    await d.pipe('behavior-events', [{ ...e, ts: T0 + later }])
    await advanceTo(d, T0 + later + HOUR)
    expect(decisions(d).map((x) => [x.userId, x.triggerEventId])).toEqual([['u1', 'dup-1'], ['u2', `u2-price_drop-${T0 + 1}`]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('still sends a new event of the same user and a new fire of the same schedule', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1'), scheduleTask('s1', '0 * * * *')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0 + MIN), ev('u1', 'price_drop', T0 + 2 * MIN)])
    await advanceTo(d, T0 + 2 * HOUR + MIN)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t1', T0 + MIN], ['t1', T0 + 2 * MIN], ['s1', T0 + HOUR], ['s1', T0 + 2 * HOUR]])
    await d.close()
  })
})
