import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Exposure } from '../../operators/exposures.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import { experimentReport, wilson } from '../../pipeline/cli/report.ts'
import { buildReport } from '../../console/server/report.ts'
import { T0, VIEWER, as, openConsole } from './helpers.ts'

const H = 3_600_000
const d = (id: string, taskId: string, sendAt: number, arm: string | null, userId = `user-${id}`): Decision => ({ decisionId: id, userId, taskId, materialId: 'm', channel: 'push', title: '', body: '', deeplink: null, sendAt, score: 0, policy: 'greedy', experimentId: arm ? 'exp' : null, arm, triggerEventId: null, decidedAt: sendAt })
const s = (taskId: string, reason: Suppression['reason'], ts: number): Suppression => ({ userId: 'x', taskId, materialId: null, reason, ts, triggerEventId: null })

const x = (userId: string, taskId: string, ts: number, status: Exposure['status'], reason: string | null, arm: string | null, decisionId: string | null = null): Exposure => ({ userId, taskId, decisionId, materialId: null, experimentId: arm ? 'exp' : null, arm, status, reason, ts, expectedCtr: null, features: null, level: null, offset: null, impressions: null })
const ev = (id: string, type: string, decisionId: string): BehaviorEvent => ({ eventId: id, userId: 'u', type, ts: T0, attrs: { decisionId } })

describe('report arithmetic', () => {
  it('counts exposed users, pushes, clicks (once per decision), suppressions by reason from the exposures, and hourly series with intervals', () => {
    const decisions = [d('a', 't1', T0, 'A', 'u1'), d('b', 't1', T0 + 10, 'A', 'u1'), d('c', 't1', T0 + H, 'B', 'u3'), d('e', 't2', T0 + 2 * H, null)]
    const exposures = [
      x('u1', 't1', T0, 'sent', null, 'A', 'a'), x('u1', 't1', T0 + 10, 'sent', null, 'A', 'b'), x('u3', 't1', T0 + H, 'sent', null, 'B', 'c'),
      x('u2', 't1', T0 + 20, 'suppressed', 'fatigue.gap', 'A'), x('u4', 't1', T0 + 30, 'suppressed', 'fatigue.gap', 'B'), x('u5', 't2', T0, 'suppressed', 'quiet_hours', null),
      x('user-e', 't2', T0 + 2 * H, 'sent', null, null, 'e'),
    ]
    const events = [ev('1', 'push_click', 'a'), ev('2', 'push_open', 'a'), ev('3', 'push_click', 'c'), ev('4', 'view', 'e')]
    const r = buildReport({ decisions, exposures, suppressions: [], events, query: { bucket: 'hour' } })
    const t1 = r.tasks.find((t) => t.taskId === 't1')
    expect(t1).toMatchObject({ users: 4, pushes: 3, clicks: 2, suppressions: { 'fatigue.gap': 2 } })
    expect(t1?.series.map((p) => [p.t, p.pushes, p.clicks, p.users])).toEqual([[T0, 2, 1, 3], [T0 + H, 1, 1, 1]])
    const w = wilson(2, 3) as [number, number]
    expect(t1?.ctr).toBeCloseTo(2 / 3)
    expect([t1?.ctrLow, t1?.ctrHigh]).toEqual(w)
    // The bucket's own interval: one push, one click.
    expect(t1?.series[1]?.ctrLow).toBeCloseTo((wilson(1, 1) as [number, number])[0])
    expect(r.tasks.find((t) => t.taskId === 't2')).toMatchObject({ pushes: 1, clicks: 0, ctr: 0, suppressions: { quiet_hours: 1 } })
    expect(r.arms.map((a) => [a.arm, a.users, a.pushes, a.clicks, a.suppressions])).toEqual([['A', 2, 2, 1, { 'fatigue.gap': 1 }], ['B', 2, 1, 1, { 'fatigue.gap': 1 }]])
    const windowed = buildReport({ decisions, exposures, suppressions: [], events, query: { bucket: 'day', from: T0 + H, task: 't1' } })
    expect(windowed.tasks.map((t) => [t.taskId, t.pushes, t.users])).toEqual([['t1', 1, 1]])
  })

  it('reports a holdout arm: its users, held out, no pushes; the other arm against it as `hermes report experiments` does', () => {
    const decisions = [d('a', 't1', T0, 'push', 'u1'), d('b', 't1', T0, 'push', 'u2')]
    const exposures = [x('u1', 't1', T0, 'sent', null, 'push', 'a'), x('u2', 't1', T0, 'sent', null, 'push', 'b'), x('u3', 't1', T0, 'held_out', 'holdout', 'control'), x('u4', 't1', T0, 'held_out', 'holdout', 'control'), x('u5', 't1', T0, 'held_out', 'holdout', 'control')]
    const events = [ev('1', 'push_click', 'a')]
    const r = buildReport({ decisions, exposures, suppressions: [], events, query: { bucket: 'hour' } })
    const control = r.arms.find((a) => a.arm === 'control')
    expect(control).toMatchObject({ users: 3, pushes: 0, clicks: 0, heldOut: 3, suppressions: { holdout: 3 }, vsControl: null, clicksPerUser: 0 })
    const push = r.arms.find((a) => a.arm === 'push')
    const cli = experimentReport({ decisions: decisions as never, exposures: exposures as never, events: events as never })[0]?.arms.find((a) => a.arm === 'push')
    expect(push).toMatchObject({ users: 2, pushes: 2, clicks: 1, clicksPerUser: 0.5 })
    expect(push?.vsControl).toEqual({ control: 'control', ...cli?.vsControl })
    expect(push?.vsControl?.clicksPerUser).toBeCloseTo(0.5)
  })

  it('counts suppressions from the suppression topic when the world has no exposures', () => {
    const r = buildReport({ decisions: [], exposures: [], suppressions: [s('t1', 'fatigue.gap', T0), s('t1', 'fatigue.gap', T0 + 1)], events: [], query: { bucket: 'hour' } })
    expect(r.tasks).toMatchObject([{ taskId: 't1', suppressions: { 'fatigue.gap': 2 }, pushes: 0, ctrLow: 0, ctrHigh: 1 }])
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
    // Both arms of exp-1, from the exposures: u1 (pushed, then fatigue.gap) and u3 (opted out), whichever arms they hash to.
    const arms = r.arms as Array<{ experiment: string; arm: string; users: number; pushes: number; suppressions: { [k: string]: number } }>
    expect(arms.every((a) => a.experiment === 'exp-1')).toBe(true)
    expect(arms.reduce((n, a) => n + a.pushes, 0)).toBe(1)
    expect(arms.reduce((n, a) => n + (a.suppressions.opted_out ?? 0), 0)).toBe(1)
    expect(arms.reduce((n, a) => n + a.users, 0)).toBe(2)
    const bad = await c.app.inject({ method: 'GET', url: '/api/v1/report?bucket=week', headers: as(VIEWER) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().errors[0].path).toBe('bucket')
  })
})
