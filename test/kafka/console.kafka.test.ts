/**
 * The console on Kafka (shared broker, topic names unique to this run through `hermes.topics`
 * and `console.auditTopic`): a change is published to its configuration topic, its version to
 * the compacted audit topic, a second console rebuilds versions and configuration from the
 * topics, and outputs on the decision topics reach the report.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { readTopicFromKafka } from '../../pipeline/kafka/topic-io.ts'
import { buildConsole } from '../../console/server/app.ts'
import { KafkaWorld } from '../../console/server/kafka-world.ts'
import { EDITOR, VIEWER, as, openKafkaConsole } from '../console/helpers.ts'
import { flowTopics, kafkaClient, runId, silent, testConfig } from './helpers.ts'

const id = runId()
const topics = flowTopics(id)
const auditTopic = `hermes.console.audit-${id}`
const config = testConfig({ hermes: { topics }, console: { auditTopic } })
const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

const open = (): ReturnType<typeof openKafkaConsole> => openKafkaConsole(config, silent, closers)

describe('hermes console on Kafka', () => {
  it('publishes changes to the configuration topics, keeps versions in the audit topic, and a new console reads both back', async () => {
    const { app } = await open()
    const material = { materialId: 'm1', title: 'Hi', body: 'Hello {{user.userId}}', deeplink: null }
    const task = { taskId: 't1', trigger: { type: 'event', events: ['signup'] }, materials: ['m1'] }
    expect((await app.inject({ method: 'PUT', url: '/api/v1/config/materials/m1', headers: as(EDITOR), payload: { record: material, comment: 'first material' } })).json()).toEqual({ version: 1 })
    expect((await app.inject({ method: 'PUT', url: '/api/v1/config/tasks/t1', headers: as(EDITOR), payload: { record: task, comment: 'first task' } })).json()).toEqual({ version: 1 })
    expect((await app.inject({ method: 'POST', url: '/api/v1/config/tasks/t1/pause', headers: as(EDITOR), payload: { comment: 'wait' } })).json()).toEqual({ version: 2 })
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/config/materials/m1', headers: as(EDITOR), payload: { comment: 'gone' } })).json()).toEqual({ version: 2 })

    const tasks = await readTopicFromKafka({ config, logger: silent, topic: topics.tasks })
    expect(tasks.map((r) => [r.key, JSON.parse(String(r.value)).status ?? 'active'])).toEqual([['t1', 'active'], ['t1', 'paused']])
    const materials = await readTopicFromKafka({ config, logger: silent, topic: topics.materials })
    // The deletion is a tombstone.
    expect(materials.map((r) => [r.key, r.value === null])).toEqual([['m1', false], ['m1', true]])
    const audit = await readTopicFromKafka({ config, logger: silent, topic: auditTopic })
    expect(audit.map((r) => r.key)).toEqual(['materials/m1/1', 'tasks/t1/1', 'tasks/t1/2', 'materials/m1/2'])
    const admin = kafkaClient().admin()
    await admin.connect()
    try {
      const [resource] = (await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: auditTopic, configNames: ['cleanup.policy'] }] })).resources
      expect(resource?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact')
    } finally {
      await admin.disconnect()
    }

    const second = await open()
    const detail = (await second.app.inject({ method: 'GET', url: '/api/v1/config/tasks/t1', headers: as(VIEWER) })).json()
    expect(detail.current).toMatchObject({ version: 2, paused: true })
    expect(detail.versions.map((v: { by: string; comment: string }) => [v.by, v.comment])).toEqual([['alice', 'first task'], ['alice', 'wait']])
    expect(((await second.app.inject({ method: 'GET', url: '/api/v1/config/materials', headers: as(VIEWER) })).json() as unknown[]).length).toBe(0)
    const log = (await second.app.inject({ method: 'GET', url: '/api/v1/audit', headers: as(VIEWER) })).json() as Array<{ action: string }>
    expect(log.map((e) => e.action)).toEqual(['delete', 'pause', 'create', 'create'])
  })

  it('reads decisions and clicks from their topics into the report, and produces simulated events', async () => {
    const { world, app } = await open()
    const producer = kafkaClient().producer()
    await producer.connect()
    const decision = { decisionId: 'd1', userId: 'u1', taskId: 't1', materialId: 'm1', channel: 'push', title: 'Hi', body: 'Hello u1', deeplink: null, sendAt: Date.now(), score: 0.1, policy: 'greedy', experimentId: null, arm: null, triggerEventId: 'e1', decidedAt: Date.now() }
    await producer.send({ topic: topics.decisions, messages: [{ key: 'u1', value: JSON.stringify(decision) }] })
    await producer.send({ topic: topics.events, messages: [{ key: 'u1', value: JSON.stringify({ eventId: 'c1', userId: 'u1', type: 'push_click', ts: Date.now(), attrs: { decisionId: 'd1' } }) }] })
    await producer.disconnect()
    // The console's consumer reads on: wait for what was produced to arrive.
    for (let i = 0; i < 200 && (world.decisions().length < 1 || world.events().length < 1); i++) await new Promise((r) => setTimeout(r, 50))
    const report = (await app.inject({ method: 'GET', url: '/api/v1/report', headers: as(VIEWER) })).json()
    expect(report.tasks).toEqual([expect.objectContaining({ taskId: 't1', pushes: 1, clicks: 1, ctr: 1 })])
    const sim = await app.inject({ method: 'POST', url: '/api/v1/events', headers: as(EDITOR), payload: { event: { eventId: 'sim-1', userId: 'u2', type: 'signup' } } })
    expect(sim.json()).toMatchObject({ accepted: true, decisions: [], suppressions: [] })
    const events = await readTopicFromKafka({ config, logger: silent, topic: topics.events })
    expect(events.map((r) => JSON.parse(String(r.value)).eventId)).toContain('sim-1')
  })
})

describe('backtests on Kafka', () => {
  it('replay the configuration read and the behavior and item events of the topics: an item trigger decides in the replay', async () => {
    const bid = runId()
    const btopics = flowTopics(bid)
    const bconfig = testConfig({ hermes: { topics: btopics }, console: { auditTopic: `hermes.console.audit-${bid}` } })
    const { world, app } = await openKafkaConsole(bconfig, silent, closers)
    const t0 = Date.UTC(2026, 10, 2, 12)
    const material = { materialId: 'm1', title: 'Price drop', body: '{{event.itemId}} is cheaper', deeplink: null }
    const task = { taskId: 'fav-drop', trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav'] } }, materials: ['m1'] }
    expect((await app.inject({ method: 'PUT', url: '/api/v1/config/materials/m1', headers: as(EDITOR), payload: { record: material, comment: 'm' } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'PUT', url: '/api/v1/config/tasks/fav-drop', headers: as(EDITOR), payload: { record: task, comment: 't' } })).statusCode).toBe(200)
    const producer = kafkaClient().producer()
    await producer.connect()
    await producer.send({ topic: btopics.events, messages: [{ key: 'u1', value: JSON.stringify({ eventId: 'f1', userId: 'u1', type: 'favorite', itemId: 'sku-1', ts: t0 }) }, { key: 'u2', value: JSON.stringify({ eventId: 'v2', userId: 'u2', type: 'view', itemId: 'sku-2', ts: t0 + 60_000 }) }, { key: 'u2', value: JSON.stringify({ eventId: 'v3', userId: 'u2', type: 'view', itemId: 'sku-2', ts: t0 + 3_600_000 }) }] })
    await producer.send({ topic: btopics.items, messages: [{ key: 'sku-1', value: JSON.stringify({ eventId: 'pd1', itemId: 'sku-1', type: 'price_drop', ts: t0 + 120_000, attrs: { dropPct: 30 } }) }] })
    await producer.disconnect()
    // The console's consumer reads on: wait for what was produced to arrive.
    for (let i = 0; i < 200 && (world.events().length < 3 || world.itemEvents().length < 1); i++) await new Promise((r) => setTimeout(r, 50))
    expect(world.itemEvents()).toHaveLength(1)
    const r = await app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(VIEWER), payload: { from: t0, to: t0 + 7_200_000, changes: { tasks: [{ ...task, status: 'paused' }] } } })
    expect(r.statusCode, r.body).toBe(200)
    const b = r.json() as { current: { byTask: Array<{ taskId: string; decisions: number }> }; proposed: { decisions: number }; agreement: { recorded: number } }
    // u1 favorited sku-1 before its price dropped: the replay pushes it to u1 (and to nobody else).
    expect(b.current.byTask).toEqual([{ taskId: 'fav-drop', decisions: 1, suppressions: 0 }])
    expect(b.proposed.decisions).toBe(0)
    // No instance ran on these topics: nothing recorded to agree with.
    expect(b.agreement.recorded).toBe(0)
  })
})

describe('interactive-query routing on Kafka', () => {
  it('asks the instance that owns the user\'s partition, found by its address in the consumer group', async () => {
    const { createServer } = await import('node:http')
    const { coPartitionAssigner } = await import('../../pipeline/kafka/assigner.ts')
    // A stand-in instance: answers interactive queries as the observability server does.
    const asked: string[] = []
    const instance = createServer((req, res) => {
      asked.push(req.url ?? '')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ key: 'u1', owned: [{ app: 'push-decisions', partition: 0, stores: { 'task-center.user': { segments: ['vip'] } }, timers: [] }] }))
    })
    await new Promise<void>((r) => instance.listen(0, '127.0.0.1', () => r()))
    const address = `http://127.0.0.1:${(instance.address() as { port: number }).port}`
    const group = `push-decisions-${id}`
    const groupConfig = testConfig({ hermes: { topics, applications: { decisions: group, stats: `material-stats-${id}` } }, console: { auditTopic } })
    const member = kafkaClient().consumer({ groupId: group, partitionAssigners: [coPartitionAssigner([[topics.events]], { queryAddress: address })], sessionTimeout: 6000, heartbeatInterval: 500 })
    await member.connect()
    const joined = new Promise<void>((r) => member.on(member.events.GROUP_JOIN, () => r()))
    await member.subscribe({ topics: [topics.events] })
    await member.run({ eachMessage: async () => {} })
    await joined
    const world = await KafkaWorld.open({ config: groupConfig, logger: silent })
    const app = await buildConsole({ world, store: world.store, tokens: [VIEWER], logger: silent, origins: () => [] })
    try {
      expect(await world.ownerOf('u1')).toBe(address)
      const r = (await app.inject({ method: 'GET', url: '/api/v1/users/u1/explain', headers: as(VIEWER) })).json()
      expect(r.state).toMatchObject({ owner: address, owned: [{ stores: { 'task-center.user': { segments: ['vip'] } } }] })
      expect(asked).toEqual(['/query/users/u1'])
    } finally {
      await app.close()
      await world.close()
      await member.disconnect()
      await new Promise<void>((r) => instance.close(() => r()))
    }
  })
})
