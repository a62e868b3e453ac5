import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Decision, Suppression } from '../../operators/types.ts'
import { buildReport, clickedDecisions, wilson } from '../../console/server/report.ts'
import { T0, VIEWER, as, openConsole } from './helpers.ts'

const H = 3_600_000
const d = (id: string, taskId: string, sendAt: number, arm: string | null, userId = `user-${id}`): Decision => ({ decisionId: id, userId, taskId, materialId: 'm', channel: 'push', title: '', body: '', deeplink: null, sendAt, score: 0, policy: 'greedy', experimentId: arm ? 'exp' : null, arm, triggerEventId: null, decidedAt: sendAt })
const s = (taskId: string, reason: Suppression['reason'], ts: number): Suppression => ({ userId: 'x', taskId, materialId: null, reason, ts, triggerEventId: null })

describe('report arithmetic', () => {
  it('gives the Wilson 95% interval (reference values), [0, 1] without data', () => {
    const a = wilson(1, 10)
    expect(a.low).toBeCloseTo(0.01787, 4)
    expect(a.high).toBeCloseTo(0.40415, 4)
    const b = wilson(5, 5)
    expect(b.low).toBeCloseTo(0.56552, 4)
    expect(b.high).toBe(1)
    expect(wilson(0, 0)).toEqual({ low: 0, high: 1 })
  })

  it('counts pushes, clicks (once per decision), suppressions by reason, arms and hourly series', () => {
    const decisions = [d('a', 't1', T0, 'A', 'u1'), d('b', 't1', T0 + 10, 'A', 'u1'), d('c', 't1', T0 + H, 'B'), d('e', 't2', T0 + 2 * H, null)]
    const clicked = clickedDecisions([
      { eventId: '1', userId: 'u1', type: 'push_click', ts: T0 + 5, attrs: { decisionId: 'a' } },
      { eventId: '2', userId: 'u1', type: 'push_open', ts: T0 + 6, attrs: { decisionId: 'a' } },
      { eventId: '3', userId: 'u', type: 'push_click', ts: T0 + H + 5, attrs: { decisionId: 'c' } },
      { eventId: '4', userId: 'u', type: 'view', ts: T0 + H + 5, attrs: { decisionId: 'e' } },
    ])
    const r = buildReport({ decisions, suppressions: [s('t1', 'fatigue.gap', T0), s('t1', 'fatigue.gap', T0 + 1), s('t2', 'quiet_hours', T0)], clicked, query: { bucket: 'hour' } })
    const t1 = r.tasks.find((t) => t.taskId === 't1')
    expect(t1).toMatchObject({ pushes: 3, clicks: 2, suppressions: { 'fatigue.gap': 2 }, series: [{ t: T0, pushes: 2, clicks: 1 }, { t: T0 + H, pushes: 1, clicks: 1 }] })
    expect(t1?.ctr).toBeCloseTo(2 / 3)
    expect(t1?.ctrLow).toBeCloseTo(wilson(2, 3).low)
    expect(r.tasks.find((t) => t.taskId === 't2')).toMatchObject({ pushes: 1, clicks: 0, ctr: 0, suppressions: { quiet_hours: 1 } })
    expect(r.arms.map((a) => [a.arm, a.users, a.pushes, a.clicks])).toEqual([['A', 1, 2, 1], ['B', 1, 1, 1]])
    const windowed = buildReport({ decisions, suppressions: [], clicked, query: { bucket: 'day', from: T0 + H, task: 't1' } })
    expect(windowed.tasks.map((t) => [t.taskId, t.pushes])).toEqual([['t1', 1]])
  })
})

describe('report route', () => {
  let c: Awaited<ReturnType<typeof openConsole>>
  beforeAll(async () => {
    c = await openConsole()
  })
  afterAll(async () => c?.close())

  it('reports the world\'s decisions by task and arm, and refuses a bad bucket', async () => {
    const r = (await c.app.inject({ method: 'GET', url: '/api/v1/report?bucket=day', headers: as(VIEWER) })).json()
    expect(r.tasks.map((t: { taskId: string; pushes: number }) => [t.taskId, t.pushes])).toEqual([['price-drop', 1], ['welcome', 1]])
    expect(r.tasks[0].suppressions).toEqual({ 'fatigue.gap': 1, opted_out: 1 })
    expect(r.arms.map((a: { experiment: string; arm: string }) => `${a.experiment}/${a.arm}`)).toEqual(['exp-1/ts'])
    const bad = await c.app.inject({ method: 'GET', url: '/api/v1/report?bucket=week', headers: as(VIEWER) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().errors[0].path).toBe('bucket')
  })
})
