import { describe, expect, it } from 'vitest'
import { decisionId } from '../../operators/ids.ts'
import { assignArm } from '../../operators/scoring.ts'
import type { Arm } from '../../operators/scoring.ts'
import type { Decision } from '../../operators/types.ts'
import { HOUR, T0, advanceTo, decisions, ev, eventTask, flow, material, member, reasons, scheduleTask, suppressions } from './helpers.ts'

const users = (n: number, prefix = 'user'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)
const stats = (materialId: string, impressions: number, clicks: number): object => ({ materialId, impressions, clicks, ts: T0 - HOUR })

/** One price_drop per user, then a view to close the arbitration windows. */
async function decide(config: { materials: object[]; tasks: object[]; stats?: object[]; users: string[] }): Promise<Decision[]> {
  const d = await flow()
  await d.pipe('config.materials', config.materials)
  await d.pipe('config.tasks', config.tasks)
  if (config.stats) await d.pipe('material-stats', config.stats)
  await d.pipe('behavior-events', config.users.map((u) => ev(u, 'price_drop', T0, { attrs: { dropPct: 25 } })))
  await d.pipe('behavior-events', [ev('zz-late', 'view', T0 + HOUR)])
  const out = decisions(d)
  await d.close()
  return out
}

describe('Matching Center: candidate materials', () => {
  it('offers only the task\'s active materials that target the user\'s segments', async () => {
    const d = await flow()
    await d.pipe('config.materials', [
      material('vip-only', { segments: ['vip'], prior: { alpha: 1, beta: 2 } }),
      material('everyone', { prior: { alpha: 1, beta: 20 } }),
      material('not-in-task', { prior: { alpha: 9, beta: 1 } }),
      material('paused', { prior: { alpha: 9, beta: 1 }, status: 'paused' }),
    ])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['vip-only', 'everyone', 'paused'] }), eventTask('t2', { materials: ['vip-only'], trigger: { type: 'event', events: ['view'] } })])
    await d.pipe('config.audiences', [member('u1', 'vip')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'price_drop', T0), ev('u2', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.materialId])).toEqual([['u1', 'vip-only'], ['u2', 'everyone']])
    expect(suppressions(d).map((s) => [s.userId, s.taskId, s.reason, s.materialId])).toEqual([['u2', 't2', 'no_material', null]])
    await d.close()
  })
})

describe('Matching Center: scores from Beta posteriors', () => {
  it('scores greedy by the posterior mean: prior alpha plus clicks, prior beta plus unclicked impressions', async () => {
    const out = await decide({
      materials: [material('m1'), material('m2')],
      tasks: [eventTask('t1', { materials: ['m1', 'm2'] })],
      stats: [stats('m1', 100, 2), stats('m2', 100, 30)],
      users: ['u1'],
    })
    expect(out.map((x) => [x.materialId, x.policy, x.score])).toEqual([['m2', 'greedy', (1 + 30) / (1 + 30 + 20 + 70)]])
  })

  it('uses the prior alone for a material without stats (cold start) and breaks ties by the task\'s material order', async () => {
    const out = await decide({ materials: [material('m1'), material('m2')], tasks: [eventTask('t1', { materials: ['m2', 'm1'] })], users: ['u1'] })
    expect(out.map((x) => [x.materialId, x.score])).toEqual([['m2', 1 / 21]])
  })

  it('draws Thompson samples seeded from the decision id: it explores, and a fresh run makes the same choices', async () => {
    const config = { materials: [material('m1'), material('m2')], tasks: [eventTask('t1', { materials: ['m1', 'm2'], policy: 'thompson' })], users: users(200) }
    const first = await decide(config)
    const chosen = first.map((x) => x.materialId)
    expect(chosen.filter((m) => m === 'm1').length).toBeGreaterThan(60)
    expect(chosen.filter((m) => m === 'm2').length).toBeGreaterThan(60)
    for (const x of first) expect(x.policy).toBe('thompson')
    expect(new Set(first.map((x) => x.score)).size).toBeGreaterThan(150) // samples, not the common mean
    expect(await decide(config)).toEqual(first)
  })

  it('lets Thompson sampling follow the evidence: a far better posterior wins almost always', async () => {
    const out = await decide({
      materials: [material('m1'), material('m2')],
      tasks: [eventTask('t1', { materials: ['m1', 'm2'], policy: 'thompson' })],
      stats: [stats('m1', 2000, 20), stats('m2', 2000, 400)],
      users: users(100),
    })
    expect(out.filter((x) => x.materialId === 'm2').length).toBeGreaterThanOrEqual(98)
  })

  it('adds an exploration bonus with UCB, so a less-shown material can beat a slightly better known one', async () => {
    const config = (policy: string) => ({
      materials: [material('fresh'), material('known')],
      tasks: [eventTask('t1', { materials: ['known', 'fresh'], policy })],
      stats: [stats('known', 1000, 60)],
      users: ['u1'],
    })
    const greedy = await decide(config('greedy'))
    const ucb = await decide(config('ucb'))
    expect(greedy.map((x) => x.materialId)).toEqual(['known'])
    expect(ucb.map((x) => [x.materialId, x.policy])).toEqual([['fresh', 'ucb']])
    // mean 1/21 plus 0.1 × sqrt(ln(1000 + 1) / 21)
    expect(ucb[0]?.score).toBeCloseTo(1 / 21 + 0.1 * Math.sqrt(Math.log(1001) / 21), 12)
  })
})

describe('Matching Center: experiments', () => {
  const arms: Arm[] = [
    { name: 'control', weight: 3, policy: 'greedy' },
    { name: 'explore', weight: 1, policy: 'ucb' },
  ]

  it('assigns arms by a stable hash of experiment and user with the configured weights, and records policy, experiment and arm', async () => {
    const out = await decide({
      materials: [material('m1'), material('m2')],
      tasks: [eventTask('t1', { materials: ['m1', 'm2'], experiment: { id: 'exp-1', arms } })],
      users: users(400),
    })
    expect(out).toHaveLength(400)
    for (const x of out) {
      const arm = assignArm('exp-1', x.userId, arms)
      expect(x).toMatchObject({ experimentId: 'exp-1', arm: arm.name, policy: arm.policy })
    }
    const control = out.filter((x) => x.arm === 'control').length / out.length
    expect(control).toBeGreaterThan(0.68)
    expect(control).toBeLessThan(0.82)
  })

  it('keeps a user in the same arm across tasks and events of one experiment, and assigns another experiment independently', async () => {
    const d = await flow({ settings: { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [
      eventTask('a', { experiment: { id: 'exp-1', arms } }),
      eventTask('b', { trigger: { type: 'event', events: ['view'] }, experiment: { id: 'exp-1', arms } }),
      eventTask('c', { trigger: { type: 'event', events: ['chat'] }, experiment: { id: 'exp-2', arms } }),
    ])
    const us = users(120)
    await d.pipe('behavior-events', us.flatMap((u) => [ev(u, 'price_drop', T0), ev(u, 'view', T0 + HOUR), ev(u, 'price_drop', T0 + 2 * HOUR), ev(u, 'chat', T0 + 3 * HOUR)]))
    await advanceTo(d, T0 + 4 * HOUR)
    const out = decisions(d)
    expect(out).toHaveLength(4 * us.length)
    const armOf = (u: string, exp: string): Set<string | null> => new Set(out.filter((x) => x.userId === u && x.experimentId === exp).map((x) => x.arm))
    let differ = 0
    for (const u of us) {
      expect(armOf(u, 'exp-1').size).toBe(1)
      if ([...armOf(u, 'exp-1')][0] !== [...armOf(u, 'exp-2')][0]) differ++
    }
    expect(differ).toBeGreaterThan(20)
    await d.close()
  })

  it('records the task\'s policy and no experiment or arm for a task without an experiment', async () => {
    const out = await decide({ materials: [material('m1')], tasks: [eventTask('t1', { policy: 'ucb' })], users: ['u1'] })
    expect(out.map((x) => [x.policy, x.experimentId, x.arm])).toEqual([['ucb', null, null]])
  })
})

describe('Matching Center: rendering and ids', () => {
  it('fills placeholders from the triggering event, the user and the task', async () => {
    const out = await decide({
      materials: [material('m1', { title: 'Hi {{ user.userId }}', body: '{{event.attrs.dropPct}}% off {{event.itemId}} ({{user.timezone}})', deeplink: 'app://{{task.taskId}}/{{event.itemId}}' })],
      tasks: [eventTask('t1')],
      users: ['u1'],
    })
    expect(out.map((x) => [x.title, x.body, x.deeplink])).toEqual([['Hi u1', '25% off item-1 (UTC)', 'app://t1/item-1']])
  })

  it('uses a material\'s fallback text for a placeholder without a value, and the value when there is one', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1', { body: 'Save {{event.attrs.saving}} on {{event.itemId}}', deeplink: 'app://item/{{event.itemId}}', fallbacks: { 'event.attrs.saving': 'a lot', 'event.itemId': 'your-item' } })])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { attrs: { saving: '40%' } }), ev('u2', 'price_drop', T0, { itemId: null })])
    await d.pipe('behavior-events', [ev('zz-late', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.body, x.deeplink])).toEqual([
      ['u1', 'Save 40% on item-1', 'app://item/item-1'],
      ['u2', 'Save a lot on your-item', 'app://item/your-item'],
    ])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })

  it('never sends a push with a hole in it: a missing placeholder without fallback moves to the next-best material that renders', async () => {
    const d = await flow()
    // m1 ranks first (better prior) but needs the drop percentage; m2 needs only the item.
    await d.pipe('config.materials', [
      material('m1', { body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper today', prior: { alpha: 5, beta: 20 }, fallbacks: undefined }),
      material('m2', { body: 'The price of {{event.itemId}} just dropped', fallbacks: undefined }),
    ])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { attrs: { dropPct: 40 } }), ev('u2', 'price_drop', T0)])
    await d.pipe('behavior-events', [ev('zz-late', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.materialId, x.body])).toEqual([
      ['u1', 'm1', 'item-1 is 40% cheaper today'],
      ['u2', 'm2', 'The price of item-1 just dropped'],
    ])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })

  it('suppresses as template_incomplete, with the best material, when no material renders completely', async () => {
    const d = await flow()
    await d.pipe('config.materials', [
      material('m1', { body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper today', prior: { alpha: 5, beta: 20 }, fallbacks: undefined }),
      material('m2', { title: 'Hi', body: 'Dropped', deeplink: 'app://item/{{event.itemId}}', fallbacks: undefined }),
    ])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    // An empty item id is no value either: "app://item/" would be a broken link.
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { itemId: '' }), ev('u2', 'price_drop', T0, { itemId: 'item-2', attrs: { dropPct: 40 } })])
    await d.pipe('behavior-events', [ev('zz-late', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.materialId, x.body, x.deeplink])).toEqual([['u2', 'm1', 'item-2 is 40% cheaper today', 'app://item/item-2']])
    expect(suppressions(d)).toEqual([{ userId: 'u1', taskId: 't1', materialId: 'm1', reason: 'template_incomplete', ts: T0, triggerEventId: `u1-price_drop-${T0}` }])
    await d.close()
  })

  it('suppresses a scheduled push whose material needs the (absent) triggering event, and sends one whose fallback covers it', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1', { deeplink: null, fallbacks: undefined }), material('m2', { deeplink: null, fallbacks: { 'event.itemId': 'this week\'s picks' } })])
    await d.pipe('config.tasks', [scheduleTask('s1', '0 12 * * *'), scheduleTask('s2', '0 13 * * *', { materials: ['m2'] })])
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.body, x.deeplink])).toEqual([['s2', 'Body of m2 for this week\'s picks', null]])
    expect(suppressions(d).map((x) => [x.taskId, x.materialId, x.reason])).toEqual([['s1', 'm1', 'template_incomplete']])
    await d.close()
  })

  it('refuses a list or an object as a placeholder value (no "[object Object]" in a push)', async () => {
    const d = await flow()
    // ({{user.segments}}, a list, is refused when the material loads; an event attribute can still hold one.)
    await d.pipe('config.materials', [material('m1', { body: 'For {{event.attrs.tags}}', fallbacks: undefined }), material('m2', { body: 'For you', fallbacks: undefined })])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { attrs: { tags: ['a', 'b'] } })])
    await d.pipe('behavior-events', [ev('zz-late', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => [x.materialId, x.body])).toEqual([['m2', 'For you']])
    await d.close()
  })

  it('derives the decision id from user, task and trigger: the same for a replayed event (sent once), different otherwise', async () => {
    const d = await flow({ settings: { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1'), eventTask('t2', { priority: 1, trigger: { type: 'event', events: ['view'] } })])
    const e = { eventId: 'e-1', userId: 'u1', type: 'price_drop', ts: T0 }
    await d.pipe('behavior-events', [e, { ...e, userId: 'u2' }, { ...e, ts: T0 + HOUR }, ev('u1', 'view', T0 + 2 * HOUR), ev('u3', 'view', T0 + 3 * HOUR)])
    await advanceTo(d, T0 + 4 * HOUR)
    // The replay of e-1 an hour later has the first one's id, so it is not sent again.
    expect(decisions(d).map((x) => [x.userId, x.decisionId])).toEqual([
      ['u1', decisionId('u1', 't1', 'e-1')],
      ['u2', decisionId('u2', 't1', 'e-1')],
      ['u1', decisionId('u1', 't2', `u1-view-${T0 + 2 * HOUR}`)],
      ['u3', decisionId('u3', 't2', `u3-view-${T0 + 3 * HOUR}`)],
    ])
    expect(decisionId('u1', 't1', 'e-1')).toMatch(/^[0-9a-f]{32}$/)
    expect(new Set([decisionId('u1', 't1', 'e-1'), decisionId('u2', 't1', 'e-1'), decisionId('u1', 't2', 'e-1'), decisionId('u1', 't1', 'e-2')]).size).toBe(4)
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })
})
