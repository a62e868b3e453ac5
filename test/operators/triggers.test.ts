import { describe, expect, it } from 'vitest'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, member, reasons, suppressions, user } from './helpers.ts'

/** Settings that let every candidate through the caps, so these tests see the triggers alone. */
const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 } }

async function withTask(trigger: object, extra: object = {}) {
  const d = await flow({ settings: open })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', [eventTask('t1', { trigger, ...extra })])
  return d
}

const fired = (d: Awaited<ReturnType<typeof flow>>): Array<[string, number]> => decisions(d).map((x) => [x.userId, x.decidedAt])

describe('event triggers (IFTTT)', () => {
  it('fires only on the event types the task listens to', async () => {
    const d = await withTask({ type: 'event', events: ['price_drop', 'back_in_stock'] })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u1', 'price_drop', T0 + MIN), ev('u1', 'chat', T0 + 2 * MIN), ev('u1', 'back_in_stock', T0 + 3 * MIN)])
    expect(fired(d)).toEqual([['u1', T0 + MIN], ['u1', T0 + 3 * MIN]])
    await d.close()
  })

  it('fires when the JsonLogic `when` rule holds over the event and not otherwise', async () => {
    const d = await withTask({ type: 'event', events: ['price_drop'], when: { and: [{ '>=': [{ var: 'event.attrs.dropPct' }, 10] }, { '==': [{ var: 'event.category' }, 'shoes'] }] } })
    await d.pipe('behavior-events', [
      ev('u1', 'price_drop', T0, { category: 'shoes', attrs: { dropPct: 9 } }),
      ev('u1', 'price_drop', T0 + MIN, { category: 'shoes', attrs: { dropPct: 10 } }),
      ev('u1', 'price_drop', T0 + 2 * MIN, { category: 'hats', attrs: { dropPct: 50 } }),
      ev('u1', 'price_drop', T0 + 3 * MIN, { category: 'shoes' }),
    ])
    expect(fired(d)).toEqual([['u1', T0 + MIN]])
    await d.close()
  })

  it('lets `when` test the user: segments, time zone and id', async () => {
    const d = await withTask({ type: 'event', events: ['price_drop'], when: { and: [{ in: ['vip', { var: 'user.segments' }] }, { '==': [{ var: 'user.timezone' }, 'Europe/Paris'] }] } })
    await d.pipe('config.audiences', [member('u1', 'vip'), member('u2', 'vip'), member('u3', 'other')])
    await d.pipe('config.users', [user('u1', 'Europe/Paris'), user('u2', 'UTC'), user('u3', 'Europe/Paris')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'price_drop', T0), ev('u3', 'price_drop', T0)])
    expect(fired(d)).toEqual([['u1', T0]])
    await d.close()
  })

  it('gives `when` the rolling count of the user\'s events of each type in the last hour, the triggering one included', async () => {
    const d = await withTask({ type: 'event', events: ['view'], when: { '>=': [{ var: 'counts.view.1h' }, 3] } })
    // u1: three views within the hour fire on the third and fourth; u2: views 40 minutes apart never reach three in an hour.
    await d.pipe('behavior-events', [
      ...[0, 10, 20, 30].map((m) => ev('u1', 'view', T0 + m * MIN)),
      ...[0, 40, 80, 120].map((m) => ev('u2', 'view', T0 + m * MIN)),
    ])
    expect(fired(d)).toEqual([['u1', T0 + 20 * MIN], ['u1', T0 + 30 * MIN]])
    await d.close()
  })

  it('counts an event exactly one hour old out of the 1h window, and counts each user apart', async () => {
    const d = await withTask({ type: 'event', events: ['view'], when: { '==': [{ var: 'counts.view.1h' }, 2] } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0 + 30 * MIN), ev('u1', 'view', T0 + HOUR), ev('u1', 'view', T0 + HOUR + 1)])
    expect(fired(d)).toEqual([['u1', T0 + HOUR + 1]])
    await d.close()
  })

  it('gives `when` 24h and 7d counts and counts of other event types', async () => {
    const rule = { and: [{ '>=': [{ var: 'counts.view.7d' }, 3] }, { '==': [{ var: 'counts.view.24h' }, 1] }, { '>=': [{ var: 'counts.cart_add.7d' }, 1] }] }
    const d = await withTask({ type: 'event', events: ['view'], when: rule })
    await d.pipe('behavior-events', [
      ev('u1', 'view', T0),
      ev('u1', 'cart_add', T0 + HOUR),
      ev('u1', 'view', T0 + 2 * DAY), // 7d: 2
      ev('u1', 'view', T0 + 5 * DAY), // 7d: 3, 24h: 1 → fires
      ev('u1', 'view', T0 + 5 * DAY + HOUR), // 24h: 2
      ev('u1', 'view', T0 + 9 * DAY), // 7d: the cart_add is 8 days old
    ])
    expect(fired(d)).toEqual([['u1', T0 + 5 * DAY]])
    await d.close()
  })

  it('holds a candidate for delayMs: decidedAt is the event time, sendAt the event time plus the delay', async () => {
    const d = await withTask({ type: 'event', events: ['price_drop'], delayMs: 20 * MIN })
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0)])
    await advanceTo(d, T0 + 19 * MIN)
    expect(decisions(d)).toEqual([])
    await advanceTo(d, T0 + 21 * MIN)
    expect(decisions(d).map((x) => [x.decidedAt, x.sendAt, x.triggerEventId])).toEqual([[T0, T0 + 20 * MIN, `u1-price_drop-${T0}`]])
    await d.close()
  })

  it('cancels a held candidate when an `unless` event of the same user arrives within the window', async () => {
    const d = await withTask({ type: 'event', events: ['view'], unless: { events: ['chat', 'purchase'], withinMs: HOUR } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0), ev('u1', 'purchase', T0 + 59 * MIN)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.decidedAt, x.sendAt])).toEqual([['u2', T0, T0 + HOUR]])
    expect(suppressions(d)).toEqual([{ userId: 'u1', taskId: 't1', materialId: null, reason: 'cancelled.unless', ts: T0 + 59 * MIN, triggerEventId: `u1-view-${T0}` }])
    await d.close()
  })

  it('does not cancel for an `unless` event after the window, from another user, or of another type', async () => {
    const d = await withTask({ type: 'event', events: ['view'], unless: { events: ['chat'], withinMs: HOUR } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'chat', T0 + 10 * MIN), ev('u1', 'purchase', T0 + 20 * MIN), ev('u1', 'chat', T0 + HOUR + 1)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(fired(d)).toEqual([['u1', T0]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('holds for the longer of delayMs and unless.withinMs', async () => {
    const d = await withTask({ type: 'event', events: ['view'], delayMs: 10 * MIN, unless: { events: ['chat'], withinMs: 30 * MIN } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0), ev('u2', 'chat', T0 + 25 * MIN)])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d).map((x) => [x.userId, x.sendAt])).toEqual([['u1', T0 + 30 * MIN]])
    expect(reasons(suppressions(d))).toEqual(['cancelled.unless'])
    await d.close()
  })

  it('suppresses a held candidate as expired when its task is paused before the hold ends', async () => {
    const d = await withTask({ type: 'event', events: ['view'], delayMs: 30 * MIN })
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.tasks', [eventTask('t1', { status: 'paused', trigger: { type: 'event', events: ['view'], delayMs: 30 * MIN } })])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.reason, s.ts, s.triggerEventId])).toEqual([['expired', T0 + 30 * MIN, `u1-view-${T0}`]])
    await d.close()
  })

  it('re-reads the user when a hold ends: an opt-out during the hold leaves only an opted_out suppression', async () => {
    const d = await withTask({ type: 'event', events: ['view'], delayMs: 30 * MIN })
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.users', [user('u1', 'UTC', false, T0 + 10 * MIN)])
    await advanceTo(d, T0 + HOUR)
    expect(decisions(d)).toEqual([])
    expect(reasons(suppressions(d))).toEqual(['opted_out'])
    await d.close()
  })

  it('treats a rule that is false on a missing value as false, without a suppression', async () => {
    // json-logic-js's `in` over a missing list is false, not an error.
    const d = await withTask({ type: 'event', events: ['view'], when: { in: ['x', { var: 'event.attrs.tags' }] } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0, { attrs: { tags: 'x,y' } })])
    expect(fired(d)).toEqual([['u2', T0]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('suppresses the candidate as rule_error when the rule fails while evaluating, and goes on', async () => {
    // `missing_some` over a missing list of names throws inside json-logic-js.
    const d = await withTask({ type: 'event', events: ['view'], when: { or: [{ '==': [{ var: 'event.attrs.tags' }, 'x,y'] }, { missing_some: [1, { var: 'event.attrs.tags' }] }] } })
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0, { attrs: { tags: 'x,y' } })])
    expect(fired(d)).toEqual([['u2', T0]])
    expect(suppressions(d)).toEqual([{ userId: 'u1', taskId: 't1', materialId: null, reason: 'rule_error', ts: T0, triggerEventId: `u1-view-${T0}` }])
    await d.close()
  })
})
