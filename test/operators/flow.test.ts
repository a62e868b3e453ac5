import { describe, expect, it } from 'vitest'
import { decisionId } from '../../operators/ids.ts'
import { HOUR, MIN, T0, decisions, ev, eventTask, flow, material, reasons, suppressions, user } from './helpers.ts'

describe('the decision flow, end to end', () => {
  it('sends a push for a matching event with rendered material and a deterministic decision id', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'view', T0 + 10 * MIN)])
    const out = decisions(d)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ userId: 'u1', taskId: 't1', materialId: 'm1', body: 'Body of m1 for item-1', deeplink: 'app://item/item-1', policy: 'greedy', sendAt: T0, decidedAt: T0, triggerEventId: `u1-price_drop-${T0}` })
    expect(out[0]?.decisionId).toMatch(/^[0-9a-f]{32}$/)
    await d.close()
  })
})

describe('emission', () => {
  it('writes push-decisions keyed by user with every field of the decision contract', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1', { title: 'Deal on {{event.itemId}}' })])
    await d.pipe('config.tasks', [eventTask('t1', { channel: 'sms' })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'view', T0 + HOUR)])
    const out = d.readOutput('push-decisions')
    expect(out.map((r) => [r.key, r.timestamp])).toEqual([['u1', T0 + 1000]])
    expect(out[0]?.value).toEqual({
      decisionId: decisionId('u1', 't1', `u1-price_drop-${T0}`),
      userId: 'u1',
      taskId: 't1',
      materialId: 'm1',
      channel: 'sms',
      title: 'Deal on item-1',
      body: 'Body of m1 for item-1',
      deeplink: 'app://item/item-1',
      sendAt: T0,
      score: 1 / 21,
      policy: 'greedy',
      experimentId: null,
      arm: null,
      triggerEventId: `u1-price_drop-${T0}`,
      decidedAt: T0,
      // The click model before it has learned anything: the material's rate, nothing to explain.
      expectedCtr: Math.round(1e6 / 21) / 1e6,
      explain: [],
    })
    await d.close()
  })

  it('writes push-suppressions keyed by user for the audit trail', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'price_drop', T0 + 10 * MIN), ev('u2', 'view', T0 + HOUR)])
    const out = d.readOutput('push-suppressions')
    expect(out.map((r) => [r.key, r.value])).toEqual([['u1', { userId: 'u1', taskId: 't1', materialId: 'm1', reason: 'fatigue.material', ts: T0 + 10 * MIN + 1000, triggerEventId: `u1-price_drop-${T0 + 10 * MIN}` }]])
    await d.close()
  })

  it('sends nothing to an opted-out user: the candidate is only recorded as opted_out', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('config.users', [user('u1', 'UTC', false, T0 - HOUR)])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'price_drop', T0 + HOUR), ev('u2', 'view', T0 + 2 * HOUR)])
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.materialId])).toEqual([['u1', 'opted_out', 'm1'], ['u1', 'opted_out', 'm1']])
    await d.pipe('config.users', [user('u1', 'UTC', true, T0 + 3 * HOUR)])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0 + 4 * HOUR), ev('u2', 'view', T0 + 5 * HOUR)])
    expect(decisions(d).map((x) => [x.userId, x.sendAt])).toEqual([['u1', T0 + 4 * HOUR]])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })
})
