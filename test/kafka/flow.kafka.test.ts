import { describe, expect, it } from 'vitest'
import { TopologyBuilder, broadcastStore, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { PRODUCER_RETRY } from '../../pipeline/kafka/client.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { buffered } from '../../pipeline/kafka/source.ts'
import { Partitioners } from 'kafkajs'
import { FAST, createTopics, kafkaClient, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig } from './helpers.ts'
import type { Event, Rule } from './topology.ts'
import { gate, testEvents } from './topology.ts'

describe('inputs on Kafka (real broker)', () => {
  it('reads broadcast topics in full before keyed records and gives every task the same broadcast state', async () => {
    const id = runId()
    const app = `bc-${id}`
    const [input, rules, out] = [`bc-events-${id}`, `bc-rules-${id}`, `bc-out-${id}`]
    const topology = () => {
      const b = new TopologyBuilder(app)
      const r = b.broadcast<Rule>('rules', { topic: rules, serde: jsonObjectSerde<Rule>(), keyField: 'type' })
      b.source<Event>('events', { topic: input, serde: jsonObjectSerde<Event>(), keyField: 'userId', timestampField: 'ts' })
        .connect(r)
        .process('gate', gate, { broadcastStores: { rules: broadcastStore() } })
        .to('out', { topic: out, serde: jsonSerde() })
      return b.build()
    }
    const ruleLines = ['view', 'click', 'buy', 'chat'].map((type, i) => JSON.stringify({ type, enabled: i % 2 === 0 }))
    const lines = testEvents({ events: 2000, users: 30 })
    const config = testConfig()
    const expected = await runEmbeddedReference([topology()], config, [
      { topic: rules, lines: ruleLines, keyField: 'type', partitions: 2 },
      { topic: input, lines, keyField: 'userId' },
    ])
    await produceLines(rules, ruleLines, { partitions: 2, keyField: 'type' })
    await produceLines(input, lines, { partitions: 4, keyField: 'userId' })
    await runKafka({ topologies: [topology()], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    const got = await readTopics([out])
    expect(got.get(out)?.length).toBeGreaterThan(400)
    expect(perKey(got.get(out) ?? [])).toEqual(perKey(expected.get(out) ?? []))
  })

  it('drops records of aborted transactions, also when they interleave and reading starts inside them', async () => {
    const id = runId()
    const app = `tx-${id}`
    const [input, out] = [`tx-events-${id}`, `tx-out-${id}`]
    const kafka = kafkaClient()
    await createTopics([{ topic: input, partitions: 1 }, { topic: out, partitions: 1 }])
    const event = (name: string): { key: string; value: string; partition: number } => ({ key: 'u1', value: JSON.stringify({ eventId: name, userId: 'u1', type: 'view', ts: Date.now() }), partition: 0 })
    const producer = (txId: string) => kafka.producer({ transactionalId: `${txId}-${id}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: PRODUCER_RETRY })
    const [a, b, plain] = [producer('a'), producer('b'), kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner })]
    await Promise.all([a.connect(), b.connect(), plain.connect()])
    // Offsets 0-3: two open transactions, interleaved; 4, 5: their abort markers; then committed data.
    const ta = await a.transaction()
    await ta.send({ topic: input, messages: [event('aborted-a0')] })
    const tb = await b.transaction()
    await tb.send({ topic: input, messages: [event('aborted-b1')] })
    await ta.send({ topic: input, messages: [event('aborted-a2')] })
    await tb.send({ topic: input, messages: [event('aborted-b3')] })
    await ta.abort()
    await tb.abort()
    await plain.send({ topic: input, messages: [event('plain-6')] })
    const tc = await a.transaction()
    await tc.send({ topic: input, messages: [event('committed-7')] })
    await tc.commit()
    await Promise.all([a.disconnect(), b.disconnect(), plain.disconnect()])
    // Start inside both transactions: kafkajs alone would hand over aborted-b1.
    const admin = kafka.admin()
    await admin.connect()
    await admin.setOffsets({ groupId: app, topic: input, partitions: [{ partition: 0, offset: '1' }] })
    await admin.disconnect()
    const topology = () => {
      const t = new TopologyBuilder(app)
      t.source<Event>('events', { topic: input, serde: jsonObjectSerde<Event>(), keyField: 'userId', timestampField: 'ts' }).to('out', { topic: out, serde: jsonSerde() })
      return t.build()
    }
    await runKafka({ topologies: [topology()], config: testConfig({ topics: { defaultPartitions: 1 } }), logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    const got = await readTopics([out])
    expect((got.get(out) ?? []).map((r) => (JSON.parse(r.value) as Event).eventId)).toEqual(['plain-6', 'committed-7'])
  })

  it('pauses partitions while processing is slower than fetching, keeps buffers bounded, and resumes them', async () => {
    const id = runId()
    const app = `bp-${id}`
    const [input, out] = [`bp-events-${id}`, `bp-out-${id}`]
    const topology = () => {
      const b = new TopologyBuilder(app)
      b.source<Event>('events', { topic: input, serde: jsonObjectSerde<Event>(), keyField: 'userId', timestampField: 'ts' })
        .map('slow', (e) => {
          const until = performance.now() + 0.2
          while (performance.now() < until) {
            // A slow operator (or sink): processing falls behind fetching.
          }
          return e
        })
        .to('out', { topic: out, serde: jsonSerde() })
      return b.build()
    }
    const lines = testEvents({ events: 8000, users: 50 })
    await produceLines(input, lines, { partitions: 4, keyField: 'userId', perRequest: 100 })
    const limit = 200
    // The bounds come from the config, as in a deployment.
    const config = testConfig({ kafka: { maxBufferedPerPartition: limit, consumer: { maxBytesPerPartition: 8192 } } })
    const runner = await KafkaRunner.open({ topologies: [topology()], config, logger: silent, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    let most = 0
    let pausedSeen = 0
    const sampler = setInterval(() => {
      for (const b of runner.apps[0]?.source.buffers.values() ?? []) {
        most = Math.max(most, buffered(b))
        if (b.paused) pausedSeen++
      }
    }, 2)
    try {
      await runner.run({ stopWhenIdleMs: 300 })
    } finally {
      clearInterval(sampler)
      await runner.close()
    }
    expect(pausedSeen).toBeGreaterThan(0)
    // At most one fetch (8 KiB, about 70 records, or one producer batch of about 25) beyond the limit.
    expect(most).toBeLessThanOrEqual(limit + 100)
    expect([...(runner.apps[0]?.source.buffers.values() ?? [])].every((b) => !b.paused)).toBe(true)
    const got = await readTopics([out])
    expect(got.get(out)).toHaveLength(lines.length)
  })
})
