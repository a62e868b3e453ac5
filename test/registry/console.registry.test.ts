/**
 * The console on Kafka when the deployment's topics are Avro (real broker and schema registry,
 * topic names unique to this run): a task and a material published from the console go out as
 * Avro in the Confluent wire format, in the form the pipeline reads back; Avro decisions,
 * exposures and click events written by the pipeline's serdes reach the report; a second console
 * reads the Avro configuration back into the JSON form the forms edit.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { materialSchema, parseWith, taskSchema } from '../../operators/config.ts'
import { readTopicFromKafka, sendToKafka } from '../../pipeline/kafka/topic-io.ts'
import { decodeAsWritten } from '../../pipeline/registry/avro-serde.ts'
import { SchemaRegistryClient } from '../../pipeline/registry/client.ts'
import { EDITOR, VIEWER, as, openKafkaConsole } from '../console/helpers.ts'
import { flowTopics, runId, silent, testConfig } from '../kafka/helpers.ts'
import { REGISTRY_URL } from './helpers.ts'

const id = runId()
const topics = flowTopics(id)
const auditTopic = `hermes.console.audit-${id}`
const avro = (schema: string) => ({ format: 'avro', schema })
const config = testConfig({
  hermes: { topics },
  console: { auditTopic },
  schemaRegistry: { url: REGISTRY_URL },
  topics: {
    overrides: {
      [topics.tasks]: avro('task'),
      [topics.materials]: avro('material'),
      [topics.audiences]: avro('audience'),
      [topics.users]: avro('user'),
      [topics.events]: avro('behavior-event'),
      [topics.decisions]: avro('decision'),
      [topics.suppressions]: avro('suppression'),
      [topics.exposures]: avro('exposure'),
      [topics.stats]: avro('material-stats'),
    },
  },
})
const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

const open = (): ReturnType<typeof openKafkaConsole> => openKafkaConsole(config, silent, closers)

const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 50))
  expect(ok(), what).toBe(true)
}

describe('hermes console on Kafka with Avro topics (real broker and registry)', () => {
  const material = { materialId: 'm1', title: 'Deal', body: '{{event.itemId}} is cheaper', deeplink: 'app://item/{{event.itemId}}' }
  const task = { taskId: 't1', trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } }, audience: { include: [], exclude: ['churned'] }, materials: ['m1'], experiment: { id: 'exp', arms: [{ name: 'a', weight: 50, policy: 'greedy' }, { name: 'hold', weight: 50, holdout: true }] } }

  it('publishes tasks and materials as Avro in the Confluent wire format, in the form the pipeline reads', async () => {
    const { app } = await open()
    expect((await app.inject({ method: 'PUT', url: '/api/v1/config/materials/m1', headers: as(EDITOR), payload: { record: material, comment: 'first' } })).json()).toEqual({ version: 1 })
    const put = await app.inject({ method: 'PUT', url: '/api/v1/config/tasks/t1', headers: as(EDITOR), payload: { record: task, comment: 'first' } })
    expect(put.json(), put.body).toEqual({ version: 1 })
    const registry = new SchemaRegistryClient(config.schemaRegistry, silent)
    const [t] = await readTopicFromKafka({ config, logger: silent, topic: topics.tasks })
    expect(t?.key).toBe('t1')
    expect(t?.value?.[0]).toBe(0) // magic byte: Avro, not JSON
    const decodedTask = parseWith(taskSchema, 'task', await decodeAsWritten(t?.value as Buffer, registry))
    expect(decodedTask.ok && decodedTask.value).toMatchObject(task)
    const [m] = await readTopicFromKafka({ config, logger: silent, topic: topics.materials })
    expect(m?.value?.[0]).toBe(0)
    const decodedMaterial = parseWith(materialSchema, 'material', await decodeAsWritten(m?.value as Buffer, registry))
    expect(decodedMaterial.ok && decodedMaterial.value).toMatchObject(material)
  })

  it('reads Avro configuration back in the JSON form, and Avro decisions, exposures and clicks into the report', async () => {
    const now = Date.now()
    const decision = { decisionId: 'd1', userId: 'u1', taskId: 't1', materialId: 'm1', channel: 'push', title: 'Deal', body: 'sofa is cheaper', deeplink: null, sendAt: now, score: 0.1, policy: 'greedy', experimentId: 'exp', arm: 'a', triggerEventId: 'e1', decidedAt: now }
    const exposure = (userId: string, arm: string, status: string, decisionId: string | null, reason: string | null) => ({ userId, taskId: 't1', decisionId, materialId: decisionId ? 'm1' : null, experimentId: 'exp', arm, status, reason, ts: now, expectedCtr: null, features: null, level: null, offset: null, impressions: null })
    await sendToKafka({
      config,
      logger: silent,
      records: [
        { topic: topics.decisions, key: 'u1', json: decision, value: null, headers: {}, timestamp: 0 },
        { topic: topics.exposures, key: 'u1', json: exposure('u1', 'a', 'sent', 'd1', null), value: null, headers: {}, timestamp: 0 },
        { topic: topics.exposures, key: 'u2', json: exposure('u2', 'hold', 'held_out', null, 'holdout'), value: null, headers: {}, timestamp: 0 },
        { topic: topics.events, key: 'u1', json: { eventId: 'c1', userId: 'u1', type: 'push_click', ts: now + 1000, attrs: { decisionId: 'd1' } }, value: null, headers: {}, timestamp: 0 },
      ],
    })
    const { world, app } = await open()
    await until('Avro records read back', () => world.decisions().length === 1 && world.exposures().length === 2 && world.events().length === 1)
    const detail = (await app.inject({ method: 'GET', url: '/api/v1/config/tasks/t1', headers: as(VIEWER) })).json()
    // The record as published (plus what the Avro schema's defaults fill in: status, priority...), nested objects as objects again.
    expect(detail.current.record).toMatchObject(task)
    expect(typeof detail.current.record.trigger).toBe('object')
    expect(((await app.inject({ method: 'GET', url: '/api/v1/config/materials/m1', headers: as(VIEWER) })).json()).current.record).toMatchObject(material)
    // What was read back validates as it is: the form can save it again.
    const again = await app.inject({ method: 'POST', url: '/api/v1/validate/tasks', headers: as(VIEWER), payload: { record: detail.current.record } })
    expect(again.json()).toEqual({ ok: true })
    const report = (await app.inject({ method: 'GET', url: '/api/v1/report', headers: as(VIEWER) })).json()
    expect(report.tasks).toEqual([expect.objectContaining({ taskId: 't1', users: 2, pushes: 1, clicks: 1, ctr: 1 })])
    expect(report.arms.map((a: { arm: string; users: number; pushes: number; heldOut: number }) => [a.arm, a.users, a.pushes, a.heldOut])).toEqual([['a', 1, 1, 0], ['hold', 1, 0, 1]])
  })
})
