/**
 * "Why not?" for item, schedule and personalized triggers: a tiny world with an item trigger
 * (a price drop of an item some users favorited), a schedule every half hour and a personalized
 * task, run by the pipeline; explain with `trace=1` names the step that decided for each user:
 * the relation missing (never favorited, or removed), the audience excluding them, the rule
 * false, the outcome (the decision, or a cap that suppressed it).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { buildConsole } from '../../console/server/app.ts'
import { FileAuditSink } from '../../console/server/audit-file.ts'
import { EmbeddedWorld } from '../../console/server/embedded-world.ts'
import type { Trace } from '../../console/server/explain.ts'
import { ConfigStore } from '../../console/server/store.ts'
import { MATERIALS, T0, VIEWER, as, makeWorld, testConfig } from './helpers.ts'

const MIN = 60_000
const TASKS = [
  { taskId: 'fav-drop', priority: 10, trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav'] }, when: { '>=': [{ var: 'event.attrs.dropPct' }, 20] } }, audience: { include: [], exclude: ['churned'] }, materials: ['m1'], quietHours: 'drop' },
  { taskId: 'half-hourly', priority: 5, trigger: { type: 'schedule', cron: '*/30 * * * *', timezone: 'UTC' }, audience: { include: ['news'], exclude: [] }, materials: ['m3'], quietHours: 'drop', fatigue: { max: 1, windowMs: 86_400_000 } },
  { taskId: 'evening', priority: 1, trigger: { type: 'personalized', windowStartHour: 18, windowEndHour: 21 }, audience: { include: ['vip'], exclude: [] }, materials: ['m3'], quietHours: 'drop' },
]
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5'].map((userId) => ({ userId, timezone: 'UTC', pushEnabled: true }))
const AUDIENCES = [
  { userId: 'u3', segmentId: 'churned', member: true },
  { userId: 'u5', segmentId: 'news', member: true },
]
/** u1 favorites i1 (pushed on the 30% drop, not on the 10% one: rule), u2 favorites then unfavorites it (relation ended), u3 favorites it but is churned, u4 never touches it but views i2. */
const EVENTS = [
  { eventId: 'e1', userId: 'u1', type: 'favorite', ts: T0, itemId: 'i1' },
  { eventId: 'e2', userId: 'u2', type: 'favorite', ts: T0 + MIN, itemId: 'i1' },
  { eventId: 'e3', userId: 'u2', type: 'unfavorite', ts: T0 + 2 * MIN, itemId: 'i1' },
  { eventId: 'e4', userId: 'u3', type: 'favorite', ts: T0 + 3 * MIN, itemId: 'i1' },
  { eventId: 'e5', userId: 'u4', type: 'view', ts: T0 + 4 * MIN, itemId: 'i1' },
  // u5 is active from the start (its partition's time arms the schedule) until after three fires.
  { eventId: 'e0', userId: 'u5', type: 'view', ts: T0 - MIN, itemId: 'i9' },
  { eventId: 'e6', userId: 'u5', type: 'view', ts: T0 + 100 * MIN, itemId: 'i9' },
]
const ITEMS = [
  { eventId: 'ie1', itemId: 'i1', type: 'price_drop', ts: T0 + 10 * MIN, category: 'home', attrs: { dropPct: 30 } },
  { eventId: 'ie2', itemId: 'i1', type: 'price_drop', ts: T0 + 50 * MIN, category: 'home', attrs: { dropPct: 10 } },
]

let dir: string
let world: EmbeddedWorld
let app: FastifyInstance

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hermes-console-trace-'))
  // Item events go on their own topic before the run: makeWorld appends the rest and runs.
  const log = EmbeddedLog.open(join(dir, 'state', 'log'))
  log.createTopic('item-events', 4)
  for (const i of ITEMS) log.append('item-events', partitionFor(i.itemId, 4), i.itemId, Buffer.from(JSON.stringify(i)), i.ts)
  log.flush()
  await makeWorld(dir, { tasks: TASKS, materials: MATERIALS, users: USERS, audiences: AUDIENCES, events: EVENTS })
  const logger = createLogger({ level: 'silent' })
  world = await EmbeddedWorld.open({ stateDir: dir, config: testConfig(join(dir, 'state')), logger })
  const sink = new FileAuditSink(join(dir, 'console', 'audit.jsonl'))
  app = await buildConsole({ world, store: new ConfigStore(sink, sink.load()), tokens: [VIEWER], logger, origins: () => [] })
})
afterAll(async () => {
  await app?.close()
  await world?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const traces = async (userId: string): Promise<Trace[]> => {
  const r = await app.inject({ method: 'GET', url: `/api/v1/users/${userId}/explain?trace=1`, headers: as(VIEWER) })
  expect(r.statusCode, r.body).toBe(200)
  return r.json().traces as Trace[]
}
const of = (ts: Trace[], taskId: string, eventId: string | null): Trace | undefined => ts.find((t) => t.taskId === taskId && t.eventId === eventId)

describe('why not? for item triggers', () => {
  it('a related user: pushed on the big drop; the small one fails the rule with the event it saw', async () => {
    const t = await traces('u1')
    expect(of(t, 'fav-drop', 'ie1')).toMatchObject({ step: 'outcome', passed: true, values: { decided: true } })
    const small = of(t, 'fav-drop', 'ie2')
    expect(small).toMatchObject({ step: 'rule', passed: false, values: { result: false } })
    expect((small?.values.event as { attrs: { dropPct: number } }).attrs.dropPct).toBe(10)
    expect(small?.steps.find((s) => s.step === 'relation')?.values.relation).toMatchObject({ type: 'fav', count: 1 })
  })

  it('a removed relation and a view that builds none: the relation step fails, naming the user\'s events with the item', async () => {
    const removed = of(await traces('u2'), 'fav-drop', 'ie1')
    expect(removed).toMatchObject({ step: 'relation', passed: false, values: { itemId: 'i1', relation: null } })
    expect((removed?.values.userEventsWithItem as Array<{ type: string }>).map((e) => e.type)).toEqual(['favorite', 'unfavorite'])
    expect(of(await traces('u4'), 'fav-drop', 'ie1')).toMatchObject({ step: 'relation', passed: false })
  })

  it('a related user excluded by the audience: the audience step fails, naming the segment', async () => {
    expect(of(await traces('u3'), 'fav-drop', 'ie1')).toMatchObject({ step: 'audience', passed: false, values: { excludedBy: ['churned'] } })
  })
})

describe('why not? for schedules and personalized sends', () => {
  it('a user outside the audience fails at the audience; a member shows what the last fire did for them, a cap included', async () => {
    const u1 = await traces('u1')
    expect(of(u1, 'half-hourly', null)).toMatchObject({ step: 'audience', passed: false, values: { include: ['news'] } })
    expect(of(u1, 'evening', null)).toMatchObject({ step: 'audience', passed: false })
    const member = of(await traces('u5'), 'half-hourly', null)
    const recorded = world.decisions().filter((d) => d.userId === 'u5' && d.taskId === 'half-hourly')
    const capped = world.suppressions().filter((s) => s.userId === 'u5' && s.taskId === 'half-hourly')
    // Fires at 10:30, 11:00, 11:30 with one push a day allowed: the first is sent, the next ones capped.
    expect(recorded).toHaveLength(1)
    expect(capped.length).toBeGreaterThan(0)
    expect(member).toMatchObject({ step: 'outcome', passed: false, values: { decided: false, reason: capped.at(-1)?.reason } })
    expect(member?.values.reason).toMatch(/^fatigue\./)
  })
})
