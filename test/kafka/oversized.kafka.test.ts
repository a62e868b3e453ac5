/**
 * Outputs the broker refuses (real broker): an output over its topic's max.message.bytes sends
 * its input to the dead-letter topic and the partition goes on; a write Kafka keeps refusing
 * ends the run with an error naming it instead of retrying forever.
 */
import { ConfigResourceTypes, Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { DLQ_HEADERS } from '../../pipeline/runtime/task.ts'
import { FAST, committedOffset, createTopics, kafkaClient, readTopics, runId, silent, testConfig } from './helpers.ts'

interface Item {
  id: string
  userId: string
  itemId: string
  ts: number
}

/** Copies each input to the output with its itemId three times over: the output is larger than its input. */
function topology(app: string, input: string, out: string) {
  const b = new TopologyBuilder(app)
  b.source<Item>('items', { topic: input, serde: jsonObjectSerde<Item>(), keyField: 'userId', timestampField: 'ts' })
    .map('triple', (v) => ({ ...v, itemId: v.itemId.repeat(3) }))
    .to('out', { topic: out, serde: jsonSerde() })
  return b.build()
}

/** Creates a one-partition topic with topic-level settings (e.g. a small max.message.bytes) and waits for its leader. */
async function createTopic(topic: string, configs: { [name: string]: string } = {}): Promise<void> {
  const admin = kafkaClient().admin()
  await admin.connect()
  try {
    // Leaders are waited for as the runner does (kafkajs#1563, see createTopics).
    await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }] })
  } finally {
    await admin.disconnect()
  }
  await createTopics([{ topic, partitions: 1 }])
}

async function produce(topic: string, items: Item[]): Promise<void> {
  const producer = kafkaClient().producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  for (const it of items) await producer.send({ topic, messages: [{ key: it.userId, value: JSON.stringify(it), partition: 0, timestamp: String(it.ts) }] })
  await producer.disconnect()
}


const items = (n: number, big: Map<number, number>): Item[] => {
  const t0 = Date.now() - 60_000
  return Array.from({ length: n }, (_, i) => ({ id: `i${i}`, userId: 'u1', itemId: 'x'.repeat(big.get(i) ?? 10), ts: t0 + i }))
}

describe('outputs the broker refuses (real broker)', () => {
  it.each(['at_least_once', 'exactly_once'] as const)('%s: an output over the topic max.message.bytes dead-letters its input, and the records after it are decided and committed', async (guarantee) => {
    const id = runId()
    const [app, input, out] = [`big-${id}`, `big-in-${id}`, `big-out-${id}`]
    await createTopic(input)
    await createTopic(out, { 'max.message.bytes': '10000' })
    // Record 2's output is ~3 × 4000 bytes: over 10 kB. Its input (~4 kB) is not.
    await produce(input, items(5, new Map([[2, 4000]])))
    const config = testConfig({ runtime: { commitIntervalMs: 100, guarantee } })
    await runKafka({ topologies: [topology(app, input, out)], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    const got = await readTopics([out, `${app}.dlq`])
    expect((got.get(out) ?? []).map((r) => (JSON.parse(r.value) as Item).id)).toEqual(['i0', 'i1', 'i3', 'i4'])
    const dlq = got.get(`${app}.dlq`) ?? []
    expect(dlq).toHaveLength(1)
    expect((JSON.parse(dlq[0]?.value ?? '{}') as Item).id).toBe('i2')
    expect(dlq[0]?.headers[DLQ_HEADERS.phase]).toBe('produce')
    expect(dlq[0]?.headers[DLQ_HEADERS.offset]).toBe('2')
    expect(dlq[0]?.headers[DLQ_HEADERS.reason]).toMatch(new RegExp(`output record to ${out} is 12\\d\\d\\d bytes, over the 10000 bytes the topic accepts \\(max\\.message\\.bytes\\)`))
    expect(await committedOffset(app, input)).toBe(5)
  })

  it('outputs that fit one by one but not in one batch are all written, in order (batches split under the limit)', async () => {
    const id = runId()
    const [app, input, out] = [`many-${id}`, `many-in-${id}`, `many-out-${id}`]
    await createTopic(input)
    await createTopic(out, { 'max.message.bytes': '10000' })
    // 60 outputs of ~700 bytes for one partition, processed in one chunk: ~42 kB in one batch.
    await produce(input, items(60, new Map(Array.from({ length: 60 }, (_, i) => [i, 200]))))
    const config = testConfig({ runtime: { commitIntervalMs: 100 } })
    await runKafka({ topologies: [topology(app, input, out)], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST, maxOutageMs: 20_000 })
    const got = await readTopics([out, `${app}.dlq`])
    expect((got.get(out) ?? []).map((r) => (JSON.parse(r.value) as Item).id)).toEqual(Array.from({ length: 60 }, (_, i) => `i${i}`))
    expect(got.get(`${app}.dlq`)).toEqual([])
  })

  it('at the broker default (1 MiB): a 1.2 MB output is dead-lettered, and its 1.2 MB input is written to the dead-letter topic without its value', async () => {
    const id = runId()
    const [app, input, out] = [`huge-${id}`, `huge-in-${id}`, `huge-out-${id}`]
    await createTopic(input, { 'max.message.bytes': String(4 << 20) })
    await createTopic(out)
    await produce(input, items(3, new Map([[1, 1_200_000]])))
    const config = testConfig({ runtime: { commitIntervalMs: 100 } })
    await runKafka({ topologies: [topology(app, input, out)], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    const got = await readTopics([out, `${app}.dlq`])
    expect((got.get(out) ?? []).map((r) => (JSON.parse(r.value) as Item).id)).toEqual(['i0', 'i2'])
    const dlq = got.get(`${app}.dlq`) ?? []
    expect(dlq).toHaveLength(1)
    expect(dlq[0]?.bytes).toBeNull()
    expect(dlq[0]?.key).toBe('u1')
    expect(dlq[0]?.headers[DLQ_HEADERS.offset]).toBe('1')
    expect(dlq[0]?.headers[DLQ_HEADERS.reason]).toMatch(/is 36\d{5} bytes, over the 1048588 bytes the topic accepts/)
    expect(dlq[0]?.headers['hermes.dlq.dropped']).toMatch(/^value \(12\d{5} bytes\): the dead letter was 12\d{5} bytes, over the 1048588 bytes/)
    expect(await committedOffset(app, input)).toBe(3)
  })

  it('a write Kafka keeps refusing ends the run with an error naming the topic and the Kafka error, well before kafka.maxOutageMs', async () => {
    const id = runId()
    const [app, input, out] = [`refused-${id}`, `refused-in-${id}`, `refused-out-${id}`]
    await createTopic(input)
    await createTopic(out)
    const config = testConfig({ runtime: { commitIntervalMs: 100 } })
    const runner = await KafkaRunner.open({ topologies: [topology(app, input, out)], config, logger: silent, state: { kind: 'memory', maps: new Map() }, timings: FAST, maxOutageMs: 120_000 })
    try {
      // The runner learned a 1 MiB limit at start-up; the topic now refuses more than 1000 bytes.
      const admin = kafkaClient().admin()
      await admin.connect()
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: out, configEntries: [{ name: 'max.message.bytes', value: '1000' }] }] })
      await admin.disconnect()
      await produce(input, items(3, new Map([[1, 2000]])))
      const started = Date.now()
      const error = await runner.run().then(
        () => null,
        (err: unknown) => err as Error,
      )
      expect(error?.message).toMatch(/Kafka refused the same write 3 times in a row \(MESSAGE_TOO_LARGE\)/)
      expect(error?.message).toContain(`${out}[0]`)
      expect(Date.now() - started).toBeLessThan(60_000)
      expect(runner.liveness()).toEqual({ live: false, reason: error?.message })
    } finally {
      await runner.close()
    }
    // Nothing after the refused record was committed past it.
    expect(await committedOffset(app, input)).toBeLessThanOrEqual(1)
  })
})
