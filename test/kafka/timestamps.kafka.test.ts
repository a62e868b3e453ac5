/**
 * Implausible event times on a real broker (issue 10, point 2): a JSON behavior event whose `ts`
 * is fractional (120000.5) crashed every commit ("cannot be converted to a BigInt"), one beyond
 * the Date range crashed the task center ("timer time must be a finite number, got NaN"), and
 * both again on every restart. Now each goes to the dead-letter topic with its reason, the run
 * goes on, and a restart starts after them.
 */
import { describe, expect, it } from 'vitest'
import type { Processor, ProcessorContext, Record, Topology } from '../../pipeline/api/index.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { produceToKafka } from '../../pipeline/kafka/topic-io.ts'
import { DLQ_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { FAST, committedOffset, flowTopics, kafkaClient, readTopics, runId, silent, testConfig } from './helpers.ts'

const MIN = 60_000

interface Skewed { userId: string; ts: number; skew: number }

/** Forwards each record with its timestamp multiplied by `skew` (0: unchanged), as a buggy operator might. */
function skewing(): Processor<Skewed, Skewed> {
  let ctx!: ProcessorContext<Skewed>
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<Skewed>) {
      ctx.forward(r.withTimestamp(r.value.skew === 0 ? r.timestamp : r.timestamp * r.value.skew))
    },
  }
}


describe('implausible event times (real broker)', () => {
  it.each(['at_least_once', 'exactly_once'])('dead-letters a fractional ts and one beyond the Date range, decides the rest, holds what is held, and restarts cleanly (%s)', async (guarantee) => {
    const id = runId()
    const topics = flowTopics(id)
    const app = `push-decisions-${id}`
    const settings = {
      topics,
      applications: { decisions: app, stats: `material-stats-${id}` },
      fatigue: { userMax: 5, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 },
    }
    const topologies = (): Topology[] => [pushDecisions({ settings })]
    const config = testConfig({ runtime: { guarantee }, topics: { defaultPartitions: 1 } })

    const material = { materialId: 'm1', title: 'Title', body: 'Body', deeplink: 'app://home', segments: [], prior: { alpha: 1, beta: 20 }, status: 'active' }
    const now = { taskId: 'now', status: 'active', priority: 10, channel: 'push', trigger: { type: 'event', events: ['price_drop'] }, materials: ['m1'] }
    // A cart push held 10 minutes unless a purchase follows: a watermark moved by a bad time would release it.
    const cart = { taskId: 'cart', status: 'active', priority: 5, channel: 'push', trigger: { type: 'event', events: ['cart_add'], delayMs: 10 * MIN, unless: { events: ['purchase'], withinMs: 10 * MIN } }, materials: ['m1'] }
    const t = Date.now() - 30 * MIN
    const event = (userId: string, type: string, ts: unknown): object => ({ eventId: `${userId}-${type}`, userId, type, ts })
    const events = [
      event('good-1', 'price_drop', t),
      event('shopper', 'cart_add', t + 1000),
      event('fractional', 'price_drop', t + 2000.5),
      event('far-beyond', 'price_drop', 1e300),
      event('past-dates', 'price_drop', 9e15),
      event('good-2', 'price_drop', t + 3000),
    ]

    const produce = async (): Promise<void> => {
      const producer = kafkaClient().producer({ idempotent: true, maxInFlightRequests: 1 })
      await producer.connect()
      await producer.send({ topic: topics.materials, messages: [{ key: 'm1', value: JSON.stringify(material) }] })
      await producer.send({ topic: topics.tasks, messages: [now, cart].map((x) => ({ key: x.taskId, value: JSON.stringify(x) })) })
      // Stamped by the producer with its clock, as clients do: only the value's ts is wrong.
      await producer.send({ topic: topics.events, messages: events.map((e) => ({ key: (e as { userId: string }).userId, value: JSON.stringify(e) })) })
      await producer.disconnect()
    }
    // The runner creates the topics (configuration topics compacted) before anything is produced.
    const runOnce = async (before?: () => Promise<void>): Promise<void> => {
      const runner = await KafkaRunner.open({ topologies: topologies(), config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
      try {
        await before?.()
        await runner.run({ stopWhenIdleMs: 500 })
      } finally {
        await runner.close()
      }
    }
    await runOnce(produce)
    const read = async () => {
      const got = await readTopics([topics.decisions, `${app}.dlq`])
      return {
        decisions: (got.get(topics.decisions) ?? []).map((r) => JSON.parse(r.value) as { userId: string; taskId: string; sendAt: number; decidedAt: number }),
        dlq: got.get(`${app}.dlq`) ?? [],
      }
    }
    const first = await read()
    expect(first.decisions.map((d) => [d.userId, d.taskId, d.sendAt, d.decidedAt])).toEqual([
      ['good-1', 'now', t, t],
      ['good-2', 'now', t + 3000, t + 3000],
    ])
    expect(first.dlq.map((r) => [(JSON.parse(r.value) as { userId: string }).userId, r.headers[DLQ_HEADERS.phase], r.headers[DLQ_HEADERS.reason]])).toEqual([
      ['fractional', 'deserialize', `event time "ts" = ${t + 2000.5} is not an integer number of milliseconds`],
      ['far-beyond', 'deserialize', 'event time "ts" = 1e+300 is beyond the range of dates (±8640000000000000 ms)'],
      ['past-dates', 'deserialize', 'event time "ts" = 9000000000000000 is beyond the range of dates (±8640000000000000 ms)'],
    ])
    // As read: the bytes the producer sent, so they can be fixed and replayed.
    expect(first.dlq.map((r) => r.value)).toEqual([2, 3, 4].map((i) => JSON.stringify(events[i])))
    expect(await committedOffset(app, topics.events)).toBe(events.length)

    // A restart does not crash on them again, nor decide anything twice.
    await runOnce()
    const second = await read()
    expect(second.decisions).toEqual(first.decisions)
    expect(second.dlq).toHaveLength(3)
  })

  it('hermes produce sends lines whose ts is fractional or huge (Hermes judges them), instead of failing the batch', async () => {
    const topic = `ts-produce-${runId()}`
    const lines = [{ userId: 'u1', ts: 1_800_000_000_000.5 }, { userId: 'u2', ts: 1e300 }, { userId: 'u3', ts: 1_800_000_000_000 }].map((v) => JSON.stringify(v))
    const result = await produceToKafka({ config: testConfig({ topics: { defaultPartitions: 1 } }), logger: silent, topic, lines, keyField: 'userId', timeField: 'ts' })
    expect(result).toEqual({ produced: 3, rejected: [] })
    const got = (await readTopics([topic])).get(topic) ?? []
    expect(got.map((r) => r.value)).toEqual(lines)
  })

  it('writes an output whose timestamp an operator made fractional or huge, instead of failing every send', async () => {
    // Defense in depth behind the source check: a time an operator computes reaches the Kafka
    // sink too, and kafkajs turns it into a BigInt.
    const id = runId()
    const [app, input, out] = [`skew-${id}`, `skew-in-${id}`, `skew-out-${id}`]
    const b = new TopologyBuilder(app)
    b.source<Skewed>('in', { topic: input, serde: jsonObjectSerde<Skewed>(), keyField: 'userId', timestampField: 'ts' })
      .process('skew', skewing)
      .to('out', { topic: out, serde: jsonSerde() })
    const config = testConfig({ topics: { defaultPartitions: 1 } })
    const t = Date.now() - MIN
    const values = [{ userId: 'u1', ts: t, skew: 0 }, { userId: 'u2', ts: t + 1, skew: 1.5 }, { userId: 'u3', ts: t + 2, skew: 1e290 }, { userId: 'u4', ts: t + 3, skew: 0 }]
    const runner = await KafkaRunner.open({ topologies: [b.build()], config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    try {
      const producer = kafkaClient().producer({ idempotent: true, maxInFlightRequests: 1 })
      await producer.connect()
      await producer.send({ topic: input, messages: values.map((v) => ({ key: v.userId, value: JSON.stringify(v) })) })
      await producer.disconnect()
      await runner.run({ stopWhenIdleMs: 500 })
    } finally {
      await runner.close()
    }
    const got = await readTopics([out])
    expect((got.get(out) ?? []).map((r) => (JSON.parse(r.value) as { userId: string }).userId)).toEqual(['u1', 'u2', 'u3', 'u4'])
    expect(await committedOffset(app, input)).toBe(values.length)
  })
})
