import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { readTopicSince } from '../../pipeline/embedded/files.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import { AUDIENCES, EDITOR, EVENTS, MATERIALS, T0, TASKS, USERS, VIEWER, as, makeWorld, openConsole } from './helpers.ts'

type Console = Awaited<ReturnType<typeof openConsole>>
let c: Console
beforeAll(async () => {
  c = await openConsole()
})
afterAll(async () => c?.close())

/** What a direct embedded run (RocksDB, on disk, as `npm start`) of these tasks over the tiny world decides. */
async function directRun(tasks: unknown[]): Promise<{ decisions: Decision[]; suppressions: Suppression[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-direct-'))
  try {
    await makeWorld(dir, { tasks, materials: MATERIALS, users: USERS, audiences: AUDIENCES, events: EVENTS })
    const log = EmbeddedLog.open(join(dir, 'state', 'log'))
    return { decisions: readTopicSince(log, 'push-decisions', []).map((l) => JSON.parse(l) as Decision), suppressions: readTopicSince(log, 'push-suppressions', []).map((l) => JSON.parse(l) as Suppression) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const count = (xs: Suppression[]): { [r: string]: number } => xs.reduce<{ [r: string]: number }>((m, s) => ({ ...m, [s.reason]: (m[s.reason] ?? 0) + 1 }), {})

describe('console previews', () => {
  it('renders a material for a user and event with the pipeline\'s templates, naming fallbacks used and what is missing', async () => {
    const ok = (await c.app.inject({ method: 'POST', url: '/api/v1/preview/render', headers: as(VIEWER), payload: { materialId: 'm1', userId: 'u1', event: { type: 'price_drop', itemId: 'sofa', attrs: { dropPct: 15 } } } })).json()
    expect(ok).toMatchObject({ title: 'Price drop', body: 'sofa is 15% cheaper', deeplink: 'app://item/sofa' })
    expect(ok.incomplete).toBeUndefined()
    const fb = (await c.app.inject({ method: 'POST', url: '/api/v1/preview/render', headers: as(VIEWER), payload: { materialId: 'm2', userId: 'u1' } })).json()
    expect(fb).toMatchObject({ body: 'Now cheaper: an item you like', fallbacks: ['event.itemId'] })
    const missing = (await c.app.inject({ method: 'POST', url: '/api/v1/preview/render', headers: as(VIEWER), payload: { materialId: 'm1', userId: 'u1' } })).json()
    expect(missing).toMatchObject({ incomplete: true, missing: ['event.itemId', 'event.itemId'] })
    const draft = await c.app.inject({ method: 'POST', url: '/api/v1/preview/render', headers: as(VIEWER), payload: { material: { materialId: 'd', title: 'x', body: '{{user.userid}}' } } })
    expect(draft.statusCode).toBe(400)
    expect(draft.json().errors[0].path).toBe('body')
  })

  it('estimates the audience of a task from the profiles and memberships', async () => {
    const all = (await c.app.inject({ method: 'POST', url: '/api/v1/preview/audience', headers: as(VIEWER), payload: { task: 'price-drop' } })).json()
    // u1..u4; u2 is churned (excluded); u3 is in it but opted out.
    expect(all).toEqual({ users: 3, total: 4, optedOut: 1 })
    const newOnly = (await c.app.inject({ method: 'POST', url: '/api/v1/preview/audience', headers: as(VIEWER), payload: { task: { ...TASKS[1], audience: { include: ['new', 'churned'] } } } })).json()
    expect(newOnly).toEqual({ users: 2, total: 4, optedOut: 0 })
  })
})

describe('console backtest', () => {
  it('gives for the current configuration what a direct embedded run decides, and for the proposed one what a direct run of it decides', async () => {
    const stricter = { ...TASKS[0], trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 25] } }, audience: { include: [], exclude: [] } }
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(VIEWER), payload: { changes: { tasks: [stricter] } } })
    expect(r.statusCode).toBe(200)
    const body = r.json()
    const current = await directRun(TASKS)
    const proposed = await directRun([stricter, TASKS[1]])
    expect(body.current.decisions).toBe(current.decisions.length)
    expect(body.current.suppressions).toEqual(count(current.suppressions))
    expect(body.current.sample.map((d: Decision) => d.decisionId)).toEqual(current.decisions.map((d) => d.decisionId))
    expect(body.proposed.decisions).toBe(proposed.decisions.length)
    expect(body.proposed.suppressions).toEqual(count(proposed.suppressions))
    // The change shows: u2 (churned) is no longer excluded and gets the push the current config does not send.
    expect(proposed.decisions.some((d) => d.userId === 'u2')).toBe(true)
    expect(body.proposed.byTask.find((t: { taskId: string }) => t.taskId === 'price-drop').decisions).toBe(proposed.decisions.filter((d) => d.taskId === 'price-drop').length)
    const armDecisions = body.proposed.byArm.reduce((s: number, a: { decisions: number }) => s + a.decisions, 0)
    expect(armDecisions).toBe(proposed.decisions.filter((d) => d.experimentId !== null).length)
    expect(body.current.byHour.reduce((s: number, h: { decisions: number }) => s + h.decisions, 0)).toBe(current.decisions.length)
    expect(body.window.to - body.window.from).toBe(86_400_000)
    expect(typeof body.elapsedMs).toBe('number')
  })

  it('runs the current configuration once for several proposals, and again after a change is published', async () => {
    const post = (changes: object) => c.app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(VIEWER), payload: { changes } })
    const a = (await post({ tasks: [{ ...TASKS[1], audience: { include: [] } }] })).json()
    const b = (await post({ materials: [{ ...MATERIALS[2], status: 'paused' }] })).json()
    expect(b.currentCached).toBe(true)
    expect(b.current).toEqual(a.current)
    // Paused material: the welcome push has no material left.
    expect(b.proposed.suppressions.no_material).toBe(1)
    await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/welcome/pause', headers: as(EDITOR), payload: { comment: 'x' } })
    const after = (await post({})).json()
    expect(after.currentCached).toBe(false)
    expect(after.current.decisions).toBe(a.current.decisions - 1)
    await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/welcome/resume', headers: as(EDITOR), payload: { comment: 'x' } })
  })

  it('warms up on the events before the window, so fatigue history is there, and then agrees with what the world recorded', async () => {
    const from = T0 + 30_000 // after u1's first push (e1), before the second price drop (e2)
    const post = (warmupMs: number) => c.app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(VIEWER), payload: { from, warmupMs } })
    const cold = (await post(0)).json()
    const warm = (await post(3_600_000)).json()
    expect(warm.recorded).toMatchObject({ decisions: 1, suppressions: { 'fatigue.gap': 1, opted_out: 1 } })
    // Without history, u1's second price drop is pushed: the gap to the first push is unknown.
    expect(cold.current.decisions).toBe(2)
    expect(cold.current.suppressions['fatigue.gap']).toBeUndefined()
    expect(warm.warmupEvents).toBe(1)
    expect({ decisions: warm.current.decisions, suppressions: warm.current.suppressions }).toEqual({ decisions: warm.recorded.decisions, suppressions: warm.recorded.suppressions })
  })

  it('refuses invalid proposed records with their path in the changes', async () => {
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(EDITOR), payload: { changes: { tasks: [{ ...TASKS[0], quietHours: 'later' }] } } })
    expect(r.statusCode).toBe(400)
    expect(r.json().errors.map((e: { path: string }) => e.path)).toEqual(['changes.tasks.0.quietHours'])
  })
})

describe('console lookups', () => {
  it('lists segments with their sizes and users (optionally of a segment)', async () => {
    expect((await c.app.inject({ method: 'GET', url: '/api/v1/segments', headers: as(VIEWER) })).json()).toEqual([{ segmentId: 'churned', users: 1 }, { segmentId: 'new', users: 1 }])
    const users = (await c.app.inject({ method: 'GET', url: '/api/v1/users?segment=new', headers: as(VIEWER) })).json()
    expect(users).toEqual([{ userId: 'u4', timezone: 'UTC', pushEnabled: true, segments: ['new'] }])
    expect(((await c.app.inject({ method: 'GET', url: '/api/v1/users?limit=2', headers: as(VIEWER) })).json() as unknown[]).length).toBe(2)
  })
})
