import { describe, expect, it } from 'vitest'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { HOUR, MIN, T0, deadLetters, decisions, ev, eventTask, flow, material, member, reasons, suppressions, user } from './helpers.ts'

const drop = (userId: string, ts: number, dropPct = 20): object => ev(userId, 'price_drop', ts, { attrs: { dropPct } })

describe('Configuration Center: tasks and materials are broadcast state', () => {
  it('fires a task loaded once for users held by every partition', async () => {
    const d = await flow()
    const users = Array.from({ length: 24 }, (_, i) => `user-${i}`)
    expect(new Set(users.map((u) => partitionFor(u, 4))).size).toBe(4)
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', users.map((u, i) => drop(u, T0 + i)))
    await d.pipe('behavior-events', [ev('u-other', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => x.userId).sort()).toEqual([...users].sort())
    await d.close()
  })

  it('applies a material update at once: the next decision renders the new title', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [drop('u1', T0)])
    await d.pipe('config.materials', [material('m1', { title: 'New title for {{event.itemId}}' })])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR), ev('u1', 'view', T0 + 2 * HOUR)])
    expect(decisions(d).map((x) => x.title)).toEqual(['Title m1', 'New title for item-1'])
    await d.close()
  })

  it('applies a task update at once: the next event is judged by the new rule', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } } })])
    await d.pipe('behavior-events', [drop('u1', T0, 15)])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] } } })])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR, 15), drop('u1', T0 + 2 * HOUR, 35), ev('u1', 'view', T0 + 3 * HOUR)])
    expect(decisions(d).map((x) => x.decidedAt)).toEqual([T0, T0 + 2 * HOUR])
    await d.close()
  })

  it('stops firing a paused task and fires it again once reactivated', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { status: 'paused' })])
    await d.pipe('behavior-events', [drop('u1', T0)])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR)])
    await d.pipe('config.tasks', [eventTask('t1', { status: 'paused' })])
    await d.pipe('behavior-events', [drop('u1', T0 + 2 * HOUR), ev('u1', 'view', T0 + 3 * HOUR)])
    expect(decisions(d).map((x) => x.decidedAt)).toEqual([T0 + HOUR])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it.each([
    ['a null value (tombstone)', null],
    ['status "deleted"', { taskId: 't1', status: 'deleted' }],
  ])('stops firing a task deleted by %s', async (_how, deletion) => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('config.tasks', [deletion], { key: 't1' })
    await d.pipe('behavior-events', [drop('u1', T0), ev('u1', 'view', T0 + HOUR)])
    expect(decisions(d)).toEqual([])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('fires a task only between validFrom (inclusive) and validUntil (exclusive)', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { validFrom: T0 + HOUR, validUntil: T0 + 3 * HOUR })])
    await d.pipe('behavior-events', [drop('u1', T0), drop('u1', T0 + HOUR), drop('u1', T0 + 2 * HOUR), drop('u1', T0 + 3 * HOUR), ev('u1', 'view', T0 + 4 * HOUR)])
    expect(decisions(d).map((x) => x.decidedAt)).toEqual([T0 + HOUR, T0 + 2 * HOUR])
    await d.close()
  })

  it('stops offering a paused or deleted material; with none left the candidate is suppressed as no_material', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1'), material('m2', { prior: { alpha: 1, beta: 5 } })])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    await d.pipe('behavior-events', [drop('u1', T0)])
    await d.pipe('config.materials', [material('m2', { status: 'paused' })])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR)])
    await d.pipe('config.materials', [null], { key: 'm1' })
    await d.pipe('behavior-events', [drop('u1', T0 + 2 * HOUR), ev('u1', 'view', T0 + 3 * HOUR)])
    expect(decisions(d).map((x) => x.materialId)).toEqual(['m2', 'm1'])
    expect(suppressions(d)).toEqual([{ userId: 'u1', taskId: 't1', materialId: null, reason: 'no_material', ts: T0 + 2 * HOUR, triggerEventId: `u1-price_drop-${T0 + 2 * HOUR}` }])
    await d.close()
  })
})

describe('Configuration Center: audiences and user profiles are keyed state', () => {
  it('limits a task with audience.include to members, and member:false removes a user at once', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { audience: { include: ['vip'], exclude: [] } })])
    await d.pipe('config.audiences', [member('u1', 'vip')])
    await d.pipe('behavior-events', [drop('u1', T0), drop('u2', T0)])
    await d.pipe('config.audiences', [member('u1', 'vip', false, T0 + 10 * MIN)])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR), ev('u1', 'view', T0 + 2 * HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.decidedAt])).toEqual([['u1', T0]])
    await d.close()
  })

  it('keeps members of an excluded segment out even when they are in an included one', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { audience: { include: ['vip'], exclude: ['churned'] } })])
    await d.pipe('config.audiences', [member('u1', 'vip'), member('u2', 'vip'), member('u2', 'churned')])
    await d.pipe('behavior-events', [drop('u1', T0), drop('u2', T0), ev('u3', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })

  it('treats a user without a profile as UTC and enabled, and applies a profile update to the next candidate', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'], quietHours: 'drop' })])
    // 23:00 UTC is quiet for a UTC user; 07:00 next day in Shanghai is quiet too, 09:00 Shanghai is not.
    await d.pipe('behavior-events', [drop('u1', T0 - 10 * HOUR + 3 * HOUR)]) // 03:00 UTC: quiet
    await d.pipe('config.users', [user('u1', 'Asia/Shanghai', true, T0 - 6 * HOUR)])
    await d.pipe('behavior-events', [drop('u1', T0 - 5 * HOUR)]) // 05:00 UTC = 13:00 Shanghai
    await d.pipe('config.users', [user('u1', 'Asia/Shanghai', false, T0)])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR), ev('u1', 'view', T0 + 2 * HOUR)])
    expect(decisions(d).map((x) => x.decidedAt)).toEqual([T0 - 5 * HOUR])
    expect(reasons(suppressions(d))).toEqual(['quiet_hours', 'opted_out'])
    await d.close()
  })
})

describe('Configuration Center: invalid records are rejected and the previous version stays in force', () => {
  const valid = eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } } })
  const cases: Array<[string, object, RegExp]> = [
    ['an unknown trigger type', eventTask('t1', { trigger: { type: 'webhook', events: ['price_drop'] } }), /trigger\.type: unknown trigger type: use "event", "schedule", "personalized" or "item"/],
    ['a bad cron expression', eventTask('t1', { trigger: { type: 'schedule', cron: '61 * * * *', timezone: 'UTC' } }), /trigger\.cron: bad cron expression "61 \* \* \* \*"/],
    ['an unknown time zone', eventTask('t1', { trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Mars/Olympus' } }), /trigger\.timezone: unknown time zone "Mars\/Olympus"/],
    ['an unknown JsonLogic operation', eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { eval: ['1+1'] } } }), /trigger\.when: malformed JsonLogic: .*unknown or forbidden JsonLogic operation "eval"/],
    ['a JsonLogic object with two operators', eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { '==': [1, 1], '!=': [1, 2] } } }), /malformed JsonLogic: .*exactly one operator key, got ==, !=/],
    ['a misspelt field', eventTask('t1', { quiteHours: 'drop' }), /^invalid task t1: unknown field "quiteHours" \(did you mean "quietHours"\?\)$/],
    ['a misspelt nested field', eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], delayMS: 60000 } }), /^invalid task t1: trigger: unknown field "delayMS" \(did you mean "delayMs"\?\)$/],
    ['a misspelt experiment arm field', eventTask('t1', { experiment: { id: 'e', arms: [{ name: 'a', wieght: 1, weight: 1, policy: 'greedy' }] } }), /experiment\.arms\.0: unknown field "wieght" \(did you mean "weight"\?\)/],
    ['a key that differs from its taskId', { ...valid, taskId: 't2' }, /task record key "t1" differs from its taskId "t2"/],
    ['a personalized window that ends before it starts', eventTask('t1', { trigger: { type: 'personalized', windowStartHour: 18, windowEndHour: 9 } }), /trigger\.windowEndHour: windowEndHour must be after windowStartHour/],
    ['an experiment arm with a negative weight', eventTask('t1', { experiment: { id: 'e', arms: [{ name: 'a', weight: -1, policy: 'greedy' }] } }), /experiment\.arms\.0\.weight/],
    ['an unknown policy', eventTask('t1', { policy: 'random' }), /policy: /],
    ['no materials at all', eventTask('t1', { materials: [] }), /materials: /],
  ]

  it.each(cases)('dead-letters a task with %s once, names the problem, and keeps the previous version', async (_what, bad, reason) => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [valid])
    await d.pipe('config.tasks', [bad], { key: 't1' })
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]).toMatchObject({ topic: 'config.tasks', node: 'task-center', key: 't1' })
    expect(dlq[0]?.reason).toMatch(reason)
    expect(JSON.parse(dlq[0]?.value ?? 'null')).toEqual(bad)
    await d.pipe('behavior-events', [drop('u1', T0, 5), drop('u2', T0, 20), ev('u3', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.materialId])).toEqual([['u2', 't1', 'm1']])
    await d.close()
  })

  it('rejects a first version outright: an invalid new task never fires', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { quietHours: 'sometimes' })])
    await d.pipe('behavior-events', [drop('u1', T0), ev('u1', 'view', T0 + HOUR)])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(/^invalid task t1: quietHours: /)])
    expect(decisions(d)).toEqual([])
    await d.close()
  })

  it.each([
    ['material', material('m1', { tilte: 'x' }), /^invalid material m1: unknown field "tilte" \(did you mean "title"\?\)$/],
    ['material prior', material('m1', { prior: { alpha: 1, beta: 20, gamma: 3 } }), /^invalid material m1: prior: unknown field "gamma" \(known fields: alpha, beta\)$/],
  ])('refuses an unknown field of a %s with the nearest known name', async (_what, bad, reason) => {
    const d = await flow()
    await d.pipe('config.materials', [bad])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(reason)])
    await d.close()
  })

  it('refuses unknown fields of user profiles and audience records, and accepts the ts Hermes writes', async () => {
    const d = await flow()
    await d.pipe('config.users', [{ userId: 'u1', timeZone: 'Asia/Shanghai' }, user('u2', 'UTC', true, T0)])
    await d.pipe('config.audiences', [{ userId: 'u1', segment: 'vip' }, member('u2', 'vip', true, T0)])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([
      'invalid user profile: unknown field "timeZone" (did you mean "timezone"?)',
      'invalid audience membership: segmentId: Invalid input: expected string, received undefined; unknown field "segment" (did you mean "segmentId"?)',
    ])
    await d.close()
  })

  it('dead-letters an invalid material update once and keeps the previous material', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('config.materials', [material('m1', { title: 'Broken', prior: { alpha: -1, beta: 20 } })])
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]?.reason).toMatch(/^invalid material m1: prior\.alpha: /)
    await d.pipe('behavior-events', [drop('u1', T0), ev('u1', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => x.title)).toEqual(['Title m1'])
    await d.close()
  })

  it('dead-letters a user profile with an unknown time zone and keeps the previous profile', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { quietHours: 'drop' })])
    await d.pipe('config.users', [user('u1', 'Asia/Shanghai', true, T0 - HOUR)])
    await d.pipe('config.users', [user('u1', 'Moon/Base', true, T0 - 30 * MIN)])
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]).toMatchObject({ topic: 'config.users', key: 'u1' })
    expect(dlq[0]?.reason).toMatch(/^invalid user profile: timezone: unknown time zone/)
    // 10:00 UTC is 18:00 in Shanghai (not quiet); 15:00 UTC is 23:00 there (quiet, dropped).
    await d.pipe('behavior-events', [drop('u1', T0), drop('u1', T0 + 5 * HOUR), ev('u1', 'view', T0 + 6 * HOUR)])
    expect(decisions(d).map((x) => x.decidedAt)).toEqual([T0])
    expect(reasons(suppressions(d))).toEqual(['quiet_hours'])
    await d.close()
  })

  it('dead-letters an audience record without a segment and keeps the memberships', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { audience: { include: ['vip'], exclude: [] } })])
    await d.pipe('config.audiences', [member('u1', 'vip'), { userId: 'u1', member: false }])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(/^invalid audience membership: segmentId: /)])
    await d.pipe('behavior-events', [drop('u1', T0), ev('u1', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })
})
