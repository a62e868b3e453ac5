import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EDITOR, ORIGIN, T0, VIEWER, as, openConsole } from './helpers.ts'

type Console = Awaited<ReturnType<typeof openConsole>>
let c: Console
beforeAll(async () => {
  c = await openConsole()
})
afterAll(async () => c?.close())

interface Trace {
  taskId: string
  eventId: string | null
  step: string
  passed: boolean
  values: { [k: string]: unknown }
}

describe('console explain', () => {
  it('shows a user\'s profile, segments, events, counts, state, decisions and suppressions', async () => {
    const r = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u1/explain', headers: as(VIEWER) })).json()
    expect(r.profile).toEqual({ timezone: 'UTC', pushEnabled: true })
    expect(r.recentEvents.map((e: { eventId: string }) => e.eventId)).toEqual(['e2', 'e1'])
    expect(r.counts.price_drop).toEqual({ '1h': 0, '24h': 2, '7d': 2 })
    expect(r.decisions).toHaveLength(1)
    expect(r.decisions[0]).toMatchObject({ taskId: 'price-drop', triggerEventId: 'e1', triggerEvent: { eventId: 'e1' } })
    expect(typeof r.decisions[0].score).toBe('number')
    expect(r.suppressions.map((s: { reason: string }) => s.reason)).toEqual(['fatigue.gap'])
    // Read from the task that owns the user's partition: the Task Center's state of u1.
    expect(r.state.owned.length).toBeGreaterThan(0)
    expect(Object.keys(r.state.owned.flatMap((o: { stores: object }) => Object.keys(o.stores)))).not.toHaveLength(0)
  })

  it('traces why not: the audience step for an excluded user, the rule with its values for a false rule', async () => {
    const u2 = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u2/explain?trace=1', headers: as(VIEWER) })).json() as { traces: Trace[] }
    const t2 = u2.traces.find((t) => t.taskId === 'price-drop' && t.eventId === 'e3') as Trace
    expect(t2).toMatchObject({ step: 'audience', passed: false, values: { excludedBy: ['churned'] } })
    const u4 = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u4/explain?trace=1', headers: as(VIEWER) })).json() as { traces: Trace[] }
    const t4 = u4.traces.find((t) => t.taskId === 'price-drop' && t.eventId === 'e5') as Trace
    expect(t4).toMatchObject({ step: 'rule', passed: false, values: { result: false, rule: { '>=': [{ var: 'event.attrs.dropPct' }, 10] }, event: { attrs: { dropPct: 5 } } } })
    const sent = u4.traces.find((t) => t.taskId === 'welcome' && t.eventId === 'e6') as Trace
    expect(sent).toMatchObject({ step: 'outcome', passed: true })
    const u3 = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u3/explain?trace=1', headers: as(VIEWER) })).json() as { traces: Trace[] }
    expect(u3.traces.find((t) => t.eventId === 'e4' && t.taskId === 'price-drop')).toMatchObject({ step: 'opted_out', passed: false })
    const none = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u1/explain', headers: as(VIEWER) })).json()
    expect(none.traces).toBeUndefined()
  })
})

describe('console simulated events', () => {
  it('runs the topologies on a simulated event and returns the decision it caused; a viewer may not', async () => {
    const event = { userId: 'u1', type: 'signup', ts: T0 + 3 * 3_600_000 }
    expect((await c.app.inject({ method: 'POST', url: '/api/v1/events', headers: as(VIEWER), payload: { event } })).statusCode).toBe(403)
    // u1 is not in segment "new": add it, then the signup is pushed.
    await c.app.inject({ method: 'PUT', url: '/api/v1/config/audiences/new:u1', headers: as(EDITOR, { origin: ORIGIN }), payload: { record: { userId: 'u1', segmentId: 'new' }, comment: 'u1 is new' } })
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/events', headers: as(EDITOR), payload: { event } })
    expect(r.statusCode).toBe(200)
    const body = r.json()
    expect(body.accepted).toBe(true)
    expect(body.decisions).toHaveLength(1)
    expect(body.decisions[0]).toMatchObject({ userId: 'u1', taskId: 'welcome', body: 'Hello u1', triggerEventId: body.event.eventId })
    const explain = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u1/explain', headers: as(VIEWER) })).json()
    expect(explain.decisions.map((d: { taskId: string }) => d.taskId)).toEqual(['price-drop', 'welcome'])
    const live = (await c.app.inject({ method: 'GET', url: '/api/v1/metrics/live', headers: as(VIEWER) })).json()
    expect(live.ratePerSec.events).toBeCloseTo(1 / 60)
    expect(live.ratePerSec.decisions).toBeCloseTo(1 / 60)
  })

  it('shows a candidate held by a delay as pending, with its timer, read from the Task Center\'s state', async () => {
    const task = { taskId: 'cart', trigger: { type: 'event', events: ['add_to_cart'], delayMs: 3_600_000 }, materials: ['m3'], quietHours: 'drop' }
    expect((await c.app.inject({ method: 'PUT', url: '/api/v1/config/tasks/cart', headers: as(EDITOR), payload: { record: task, comment: 'delayed' } })).statusCode).toBe(200)
    const ts = T0 + 4 * 3_600_000
    const r = (await c.app.inject({ method: 'POST', url: '/api/v1/events', headers: as(EDITOR), payload: { event: { eventId: 'cart-1', userId: 'u2', type: 'add_to_cart', ts } } })).json()
    expect(r.decisions).toEqual([])
    const explain = (await c.app.inject({ method: 'GET', url: '/api/v1/users/u2/explain', headers: as(VIEWER) })).json()
    expect(explain.pending).toEqual([expect.objectContaining({ held: 'task-center', taskId: 'cart', due: ts + 3_600_000, triggerEventId: 'cart-1' })])
    expect(explain.timers).toContainEqual(expect.objectContaining({ node: 'task-center', domain: 'event', time: ts + 3_600_000 }))
  })

  it('refuses a bad event with the field named', async () => {
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/events', headers: as(EDITOR), payload: { event: { userId: 'u1', type: '' } } })
    expect(r.statusCode).toBe(400)
    expect(r.json().errors[0].path).toBe('event.type')
  })
})
