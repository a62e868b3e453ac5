import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { PRODUCER_RETRY } from '../../pipeline/kafka/client.ts'
import { buildWorld, eventsForHour } from '../../scripts/hermes-workload.ts'
import pushDecisions, { TOPICS } from '../../topologies/push-decisions.ts'
import type { Cleanup } from '../kafka/helpers.ts'
import { FAST, createTopics, kafkaClient, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig } from '../kafka/helpers.ts'
import { REGISTRY_URL, schemaText, schemasWith } from './helpers.ts'

const CHANNEL = { name: 'channel', type: ['null', 'string'], default: null }
const PARTITIONS = 4

/** Decoded decisions without null fields (JSON leaves optional fields out; Avro fills them with null). */
function normalized(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === null ? undefined : v))
}

describe('Avro in the Confluent wire format through the decision flow (real registry and broker)', () => {
  it('reads events written with schema v1 and v2, dead-letters what is not readable, and writes Avro decisions equal to the JSON run', async () => {
    const id = runId()
    const t = (name: string): string => `${name}-${id}`
    // The flow's own settings give this run topics and an application id of its own.
    const topicNames = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [k, t(v)]))
    const topology = pushDecisions({ settings: { topics: topicNames, applications: { decisions: t('push-decisions') } } })
    const [events, decisions, suppressions, dlq] = [t(TOPICS.events), t(TOPICS.decisions), t(TOPICS.suppressions), `${topology.name}.dlq`]

    // Hermes' current schema is v2 (behavior-event plus an optional `channel`); producers still on v1 write the old one.
    const config = testConfig({
      runtime: { mode: 'kafka', stateBackend: 'memory', commitIntervalMs: 200 },
      topics: { defaultPartitions: PARTITIONS, overrides: { [events]: { format: 'avro', schema: 'behavior-event' }, [decisions]: { format: 'avro', schema: 'decision' } } },
      schemaRegistry: { url: REGISTRY_URL, schemasDir: schemasWith('behavior-event', [CHANNEL]) },
    })

    // The world: config topics as JSON, events as Avro. Half of the users' producers are on v1.
    const world = buildWorld({ users: 120, seed: 7 })
    const start = Date.UTC(2026, 10, 2)
    const raw: Array<{ [k: string]: unknown }> = []
    for (let h = 0; h < 24; h++) raw.push(...eventsForHour(world, start + h * 3_600_000, 700 + h))
    raw.sort((a, b) => (a.ts as number) - (b.ts as number))
    const onV2 = (userId: string): boolean => partitionFor(userId, 2) === 1
    // What Hermes reads, in its current (v2) shape: v1 records get the defaults.
    const shaped = raw.map((e) => ({ itemId: null, category: null, attrs: null, ...e, channel: onV2(e.userId as string) ? 'app' : null }))

    const registry = new SchemaRegistry({ host: REGISTRY_URL })
    const subject = `${events}-value`
    const v1 = await registry.register({ type: SchemaType.AVRO, schema: schemaText('behavior-event') }, { subject })
    const v2 = await registry.register({ type: SchemaType.AVRO, schema: schemaText('behavior-event', [CHANNEL]) }, { subject })
    expect(v2.id).not.toBe(v1.id)

    const kafka = kafkaClient()
    await createTopics([{ topic: events, partitions: PARTITIONS }])
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: PRODUCER_RETRY })
    await producer.connect()
    const messages = []
    for (const [i, e] of raw.entries()) {
      const userId = e.userId as string
      const value = onV2(userId) ? await registry.encode(v2.id, { ...(shaped[i] as object) }) : await registry.encode(v1.id, e)
      messages.push({ key: userId, value, timestamp: String(e.ts), partition: partitionFor(userId, PARTITIONS) })
    }
    // Two records that cannot be read: an id the registry never gave out, and JSON on an Avro topic.
    const lastTs = raw[raw.length - 1]?.ts as number
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x00]), Buffer.from('junk')])
    messages.push({ key: 'u-bad-1', value: unknownId, timestamp: String(lastTs), partition: partitionFor('u-bad-1', PARTITIONS) })
    messages.push({ key: 'u-bad-2', value: Buffer.from(JSON.stringify(raw[0])), timestamp: String(lastTs), partition: partitionFor('u-bad-2', PARTITIONS) })
    for (let i = 0; i < messages.length; i += 2000) await producer.send({ topic: events, messages: messages.slice(i, i + 2000) })
    await producer.disconnect()

    const jsonl = (xs: readonly object[]): string[] => xs.map((x) => JSON.stringify(x))
    const configInputs = [
      { topic: t(TOPICS.materials), lines: jsonl(world.materials), keyField: 'materialId' },
      // Tasks after the materials they use (which have no time: 0): broadcast topics are merged by
      // time. A day before the events, as time.minTimestampMs refuses ts: 1.
      { topic: t(TOPICS.tasks), lines: jsonl(world.tasks.map((x) => ({ ...x, ts: start - 86_400_000 }))), keyField: 'taskId' },
      { topic: t(TOPICS.users), lines: jsonl(world.users.map((u) => ({ userId: u.userId, timezone: u.timezone, pushEnabled: u.pushEnabled }))), keyField: 'userId' },
      { topic: t(TOPICS.audiences), lines: jsonl(world.users.flatMap((u) => u.segments.map((s) => ({ userId: u.userId, segmentId: s, member: true })))), keyField: 'userId' },
    ]
    // Profiles compacted, memberships kept forever: as the runner creates (and requires) them.
    const cleanup = new Map<string, Cleanup>([[t(TOPICS.users), 'compact'], [t(TOPICS.audiences), 'forever']])
    for (const input of configInputs) {
      const partitions = input.topic === t(TOPICS.materials) || input.topic === t(TOPICS.tasks) ? 1 : PARTITIONS
      await produceLines(input.topic, input.lines, { partitions, keyField: input.keyField, ...(cleanup.has(input.topic) ? { cleanup: cleanup.get(input.topic) } : {}) })
    }

    const stats = await runKafka({ topologies: [topology], config, logger: silent, timings: FAST, stopWhenIdleMs: 2500 })
    expect(stats.records).toBeGreaterThan(raw.length)

    // The same events as JSON, embedded: the reference.
    const jsonConfig = testConfig({ topics: { defaultPartitions: PARTITIONS } })
    const reference = await runEmbeddedReference([topology], jsonConfig, [
      ...configInputs.map((i) => ({ ...i, partitions: i.topic === t(TOPICS.materials) || i.topic === t(TOPICS.tasks) ? 1 : PARTITIONS })),
      { topic: events, lines: jsonl(shaped), keyField: 'userId' },
    ])

    const got = await readTopics([decisions, suppressions, dlq])
    const wanted = (reference.get(decisions) ?? []).map((r) => ({ key: r.key, value: normalized(JSON.parse(r.value)) }))
    expect(wanted.length).toBeGreaterThan(20)
    const decoded = await Promise.all((got.get(decisions) ?? []).map(async (r) => {
      expect(r.bytes?.[0]).toBe(0)
      return { key: r.key, value: normalized(await registry.decode(r.bytes as Buffer)) }
    }))
    expect(perKey(decoded)).toEqual(perKey(wanted))
    // Suppressions stay JSON (no format set): equal as they are.
    expect(perKey(got.get(suppressions) ?? [])).toEqual(perKey(reference.get(suppressions) ?? []))

    const dead = got.get(dlq) ?? []
    expect(dead.map((d) => d.key).sort()).toEqual(['u-bad-1', 'u-bad-2'])
    const reasons = Object.fromEntries(dead.map((d) => [d.key, d.headers['hermes.dlq.reason'] ?? '']))
    expect(reasons['u-bad-1']).toMatch(/schema id 2147483392 is unknown to the schema registry/)
    expect(reasons['u-bad-2']).toMatch(/not Avro in the Confluent wire format.*looks like JSON/)
    for (const d of dead) {
      expect(d.headers['hermes.dlq.topic']).toBe(events)
      expect(d.headers['hermes.dlq.phase']).toBe('deserialize')
    }
  })
})
