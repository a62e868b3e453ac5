import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EDITOR, ORIGIN, VIEWER, as, openConsole } from './helpers.ts'

type Console = Awaited<ReturnType<typeof openConsole>>
let c: Console
beforeAll(async () => {
  c = await openConsole()
})
afterAll(async () => c?.close())

const newTask = { taskId: 'cart', trigger: { type: 'event', events: ['add_to_cart'] }, materials: ['m3'], quietHours: 'drop' }

describe('console access', () => {
  it('refuses /api without a token (401) and with an unknown one', async () => {
    expect((await c.app.inject({ method: 'GET', url: '/api/v1/session' })).statusCode).toBe(401)
    expect((await c.app.inject({ method: 'GET', url: '/api/v1/session', headers: { authorization: 'Bearer nope-nope-nope' } })).statusCode).toBe(401)
  })

  it('names the user, role and mode of the session', async () => {
    const r = await c.app.inject({ method: 'GET', url: '/api/v1/session', headers: as(VIEWER) })
    expect(r.json()).toEqual({ user: 'bob', role: 'viewer', mode: 'embedded' })
  })

  it('refuses a viewer write (403) but lets a viewer validate', async () => {
    const w = await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(VIEWER), payload: { record: newTask, comment: 'x' } })
    expect(w.statusCode).toBe(403)
    const v = await c.app.inject({ method: 'POST', url: '/api/v1/validate/tasks', headers: as(VIEWER), payload: { record: newTask } })
    expect(v.json()).toEqual({ ok: true })
  })

  it('refuses a write from a foreign Origin (403) and a write that is not JSON (415)', async () => {
    const foreign = await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR, { origin: 'https://evil.example' }), payload: { record: newTask } })
    expect(foreign.statusCode).toBe(403)
    const form = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/price-drop/pause', headers: { authorization: `Bearer ${EDITOR.token}`, 'content-type': 'text/plain' }, payload: 'comment=x' })
    expect(form.statusCode).toBe(415)
    const own = await c.app.inject({ method: 'POST', url: '/api/v1/validate/tasks', headers: as(EDITOR, { origin: ORIGIN }), payload: { record: newTask } })
    expect(own.statusCode).toBe(200)
  })

  it('never writes a token into the log', async () => {
    await c.app.inject({ method: 'GET', url: `/api/v1/session?x=1`, headers: as(EDITOR) })
    await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks', headers: { authorization: 'Bearer wrong-token-abcdef' } })
    const text = c.logs.join('')
    expect(text).toContain('/api/v1/session') // requests are logged...
    expect(text).not.toContain(EDITOR.token) // ...without their token
    expect(text).not.toContain('wrong-token-abcdef')
  })
})

describe('console configuration', () => {
  it('lists the world\'s tasks as version 1, and experiments from the tasks that run them', async () => {
    const tasks = (await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks', headers: as(VIEWER) })).json() as Array<{ id: string; version: number; updatedBy: string }>
    expect(tasks.map((t) => [t.id, t.version, t.updatedBy])).toEqual([['price-drop', 1, 'world'], ['welcome', 1, 'world']])
    const exps = (await c.app.inject({ method: 'GET', url: '/api/v1/config/experiments', headers: as(VIEWER) })).json() as Array<{ id: string }>
    expect(exps.map((e) => e.id)).toEqual(['exp-1'])
    expect((await c.app.inject({ method: 'GET', url: '/api/v1/config/widgets', headers: as(VIEWER) })).statusCode).toBe(404)
  })

  it('validates with the ingest schemas and names each bad field with the fix', async () => {
    const bad = { ...newTask, quiteHours: 'drop', trigger: { type: 'event', events: [], when: { eval: ['x'] } }, minExpectedCtr: 2 }
    const r = (await c.app.inject({ method: 'POST', url: '/api/v1/validate/tasks', headers: as(EDITOR), payload: { record: bad } })).json() as { ok: boolean; errors: Array<{ path: string; message: string }> }
    expect(r.ok).toBe(false)
    const byPath = Object.fromEntries(r.errors.map((e) => [e.path, e.message]))
    expect(byPath.quiteHours).toMatch(/did you mean "quietHours"/)
    expect(byPath['trigger.events']).toBeDefined()
    expect(byPath['trigger.when']).toMatch(/forbidden JsonLogic operation "eval"/)
    expect(byPath.minExpectedCtr).toBeDefined()
    const put = await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: { record: bad, comment: 'bad' } })
    expect(put.statusCode).toBe(400)
    expect((put.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toContain('quiteHours')
    const material = (await c.app.inject({ method: 'POST', url: '/api/v1/validate/materials', headers: as(EDITOR), payload: { record: { materialId: 'm9', title: 'x', body: '{{event.itemid}}' } } })).json() as { errors: Array<{ path: string; message: string }> }
    expect(material.errors[0]).toEqual({ path: 'body', message: expect.stringMatching(/did you mean \{\{event.itemId\}\}/) })
  })

  it('checks a JsonLogic rule as you type, with the safe evaluator', async () => {
    const ok = await c.app.inject({ method: 'POST', url: '/api/v1/rules/check', headers: as(VIEWER), payload: { rule: { '>=': [{ var: 'event.attrs.dropPct' }, 10] }, data: { event: { attrs: { dropPct: 12 } } } } })
    expect(ok.json()).toEqual({ ok: true, value: true })
    const bad = await c.app.inject({ method: 'POST', url: '/api/v1/rules/check', headers: as(VIEWER), payload: { rule: { method: [{ var: 'x' }, 'toString'] } } })
    expect(bad.json()).toEqual({ ok: false, error: expect.stringMatching(/forbidden JsonLogic operation "method"/) })
  })

  it('creates, updates (409 on a stale base), pauses, resumes, diffs and rolls back, with an audit trail', async () => {
    const put = (record: unknown, comment: string, baseVersion?: number) => c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: { record, comment, ...(baseVersion ? { baseVersion } : {}) } })
    expect((await put(newTask, 'new cart task')).json()).toEqual({ version: 1 })
    expect((await put({ ...newTask, priority: 7 }, 'higher priority', 1)).json()).toEqual({ version: 2 })
    const stale = await put({ ...newTask, priority: 9 }, 'stale', 1)
    expect(stale.statusCode).toBe(409)
    const pause = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/cart/pause', headers: as(EDITOR), payload: { comment: 'hold it' } })
    expect(pause.json()).toEqual({ version: 3 })
    // Published: the world's task is paused now.
    expect((c.world.current('tasks').get('cart') as { status: string }).status).toBe('paused')
    const resume = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/cart/resume', headers: as(EDITOR), payload: { comment: 'go' } })
    expect(resume.json()).toEqual({ version: 4 })
    const diff = (await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks/cart/diff?from=1&to=2', headers: as(VIEWER) })).json() as { patch: string }
    expect(diff.patch).toContain('+  "priority": 7')
    const rb = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/cart/rollback', headers: as(EDITOR), payload: { version: 1, comment: 'undo' } })
    expect(rb.json()).toEqual({ version: 5 })
    expect(c.world.current('tasks').get('cart')).toEqual(newTask)
    const detail = (await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks/cart', headers: as(VIEWER) })).json() as { current: { version: number; paused: boolean }; versions: Array<{ version: number; action: string; by: string; comment: string }> }
    expect(detail.current).toMatchObject({ version: 5, paused: false })
    expect(detail.versions.map((v) => [v.version, v.action, v.by])).toEqual([[1, 'create', 'alice'], [2, 'update', 'alice'], [3, 'pause', 'alice'], [4, 'resume', 'alice'], [5, 'rollback', 'alice']])
    const del = await c.app.inject({ method: 'DELETE', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: { comment: 'gone' } })
    expect(del.json()).toEqual({ version: 6 })
    expect(c.world.current('tasks').has('cart')).toBe(false)
    const audit = (await c.app.inject({ method: 'GET', url: '/api/v1/audit?limit=3', headers: as(VIEWER) })).json() as Array<{ action: string; user: string; version: number; comment: string }>
    expect(audit.map((a) => [a.action, a.version, a.comment])).toEqual([['delete', 6, 'gone'], ['rollback', 5, 'undo'], ['resume', 4, 'go']])
    // Kept in the data directory: one line per change.
    const lines = readFileSync(join(c.dir, 'console', 'audit.jsonl'), 'utf8').trim().split('\n')
    expect(lines).toHaveLength(6)
  })

  it('keeps the world\'s record as version 1 when a task is first changed through the console', async () => {
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/welcome/pause', headers: as(EDITOR), payload: { comment: 'pause welcome' } })
    expect(r.json()).toEqual({ version: 2 })
    const d = (await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks/welcome/diff', headers: as(VIEWER) })).json() as { from: number; to: number; patch: string }
    expect([d.from, d.to]).toEqual([1, 2])
    expect(d.patch).toContain('+  "status": "paused"')
    await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/welcome/resume', headers: as(EDITOR), payload: { comment: 'back' } })
  })

  it('changes an experiment by republishing the tasks that run it, each with a version', async () => {
    const arms = [{ name: 'greedy', weight: 80, policy: 'greedy' }, { name: 'ucb', weight: 20, policy: 'ucb' }]
    const bad = await c.app.inject({ method: 'PUT', url: '/api/v1/config/experiments/exp-1', headers: as(EDITOR), payload: { record: { id: 'exp-1', arms: [{ name: 'x', weight: 0, policy: 'nope' }] }, comment: 'bad' } })
    expect(bad.statusCode).toBe(400)
    expect((bad.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort()).toEqual(['arms.0.policy', 'arms.0.weight'])
    const ok = await c.app.inject({ method: 'PUT', url: '/api/v1/config/experiments/exp-1', headers: as(EDITOR), payload: { record: { id: 'exp-1', arms }, comment: '80/20' } })
    expect(ok.json()).toEqual({ version: 2 })
    expect((c.world.current('tasks').get('price-drop') as { experiment: unknown }).experiment).toEqual({ id: 'exp-1', arms })
    const task = (await c.app.inject({ method: 'GET', url: '/api/v1/config/tasks/price-drop', headers: as(VIEWER) })).json() as { versions: Array<{ comment: string }> }
    expect(task.versions.at(-1)?.comment).toBe('experiment exp-1 version 2: 80/20')
  })

  it('answers a body that is not JSON with 400, not a failure', async () => {
    const r = await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: '{"record": {' })
    expect(r.statusCode).toBe(400)
    expect(r.json().error).toMatch(/JSON/i)
    const missing = await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: { comment: 'no record' } })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().errors).toEqual([{ path: 'record', message: 'required: the whole record (use DELETE to delete it)' }])
  })

  it('refuses to pause what has no status, and 404s what does not exist', async () => {
    const a = await c.app.inject({ method: 'POST', url: '/api/v1/config/audiences/new:u4/pause', headers: as(EDITOR), payload: {} })
    expect(a.statusCode).toBe(400)
    const missing = await c.app.inject({ method: 'POST', url: '/api/v1/config/tasks/nope/pause', headers: as(EDITOR), payload: {} })
    expect(missing.statusCode).toBe(404)
  })

  it('adds and removes an audience membership', async () => {
    const put = await c.app.inject({ method: 'PUT', url: '/api/v1/config/audiences/new:u1', headers: as(EDITOR), payload: { record: { userId: 'u1', segmentId: 'new', member: true }, comment: 'add u1' } })
    expect(put.json()).toEqual({ version: 1 })
    expect(c.world.users().get('u1')?.segments).toEqual(['new'])
    const del = await c.app.inject({ method: 'DELETE', url: '/api/v1/config/audiences/new:u1', headers: as(EDITOR), payload: { comment: 'remove u1' } })
    expect(del.json()).toEqual({ version: 2 })
    expect(c.world.users().get('u1')?.segments).toEqual([])
  })
})
