/**
 * The producer on a worker thread (`kafka.producer.thread`, pipeline/kafka/producer-thread.ts)
 * against a real broker: it writes what the producer on the sink's thread writes, acknowledges
 * the same offsets, commits transactions with their offsets, and fails a refused record with
 * the same Kafka error. The runner's own tests run with it (the default), and without it when HERMES_TEST_PRODUCER_THREAD=0.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { describeKafkaError, isRecoverable } from '../../pipeline/kafka/client.ts'
import { nonRetriableType } from '../../pipeline/kafka/failures.ts'
import type { ProducerFactory, ProduceAck } from '../../pipeline/kafka/producer-port.ts'
import { localProducers } from '../../pipeline/kafka/producer-port.ts'
import { ThreadProducers } from '../../pipeline/kafka/producer-thread.ts'
import type { OutRecord } from '../../pipeline/kafka/sink.ts'
import { committedOffsets, createTopics, kafkaClient, readTopics, runId, silent, testConfig } from './helpers.ts'

const kafka = kafkaClient('hermes-test-producer-thread')
const thread = new ThreadProducers(testConfig().kafka, silent)
const local = localProducers(kafka)
afterAll(() => thread.close())

const records = (topic: string): OutRecord[] =>
  Array.from({ length: 300 }, (_, i) => ({
    owner: 'app/0_0',
    topic,
    partition: i % 3,
    key: i % 7 === 0 ? null : `user-${i % 11}-ü`,
    value: i % 13 === 0 ? null : Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 50) })),
    timestamp: 1_700_000_000_000 + i,
    ...(i % 5 === 0 ? { headers: { 'x-hermes': `h${i}` } } : {}),
  }))

/** What a topic holds, without the offsets (the two topics are compared). */
const contents = (list: ReadonlyArray<{ partition: number; key: string | null; value: string; headers: object }>): unknown => list.map((r) => [r.partition, r.key, r.value, r.headers])
const basesOf = (acks: ProduceAck[]): unknown => acks.map((a) => [a.topicName.replace(/-(thread|local)$/, ''), a.partition, a.baseOffset]).sort()

describe('the producer on a worker thread (real broker)', () => {
  it('writes and acknowledges what the producer on the sink thread writes, send after send', async () => {
    const id = runId()
    const [a, b] = [`pt-${id}-thread`, `pt-${id}-local`]
    await createTopics([a, b].map((topic) => ({ topic, partitions: 3 })))
    const send = async (f: ProducerFactory, topic: string): Promise<unknown[]> => {
      const p = f.create({ maxInFlightRequests: 1 })
      await p.connect()
      try {
        const all = records(topic)
        return [basesOf(await p.sendBatch(all.slice(0, 100))), basesOf(await p.sendBatch(all.slice(100)))]
      } finally {
        await p.disconnect()
      }
    }
    const [acksThread, acksLocal] = [await send(thread, a), await send(local, b)]
    expect(acksThread).toEqual(acksLocal)
    const read = await readTopics([a, b])
    expect((read.get(a) ?? []).length).toBe(300)
    expect(contents(read.get(a) ?? [])).toEqual(contents(read.get(b) ?? []))
  })

  it('commits a transaction with its input offsets, and an aborted one leaves nothing', async () => {
    const id = runId()
    const [out, input, group] = [`pt-${id}-out`, `pt-${id}-in`, `pt-${id}-g`]
    await createTopics([out, input].map((topic) => ({ topic, partitions: 3 })))
    const p = thread.create({ transactionalId: `pt-${id}`, maxInFlightRequests: 1, transactionTimeout: 15_000 })
    await p.connect()
    try {
      const aborted = await p.transaction()
      await aborted.sendBatch(records(out).slice(0, 10))
      await aborted.abort()
      const txn = await p.transaction()
      await txn.sendBatch(records(out).slice(10, 40))
      await txn.sendOffsets({ groupId: group, offsets: [{ topic: input, partition: 1, offset: 42 }] })
      await txn.commit()
    } finally {
      await p.disconnect()
    }
    expect(contents((await readTopics([out])).get(out) ?? [])).toEqual(contents(records(out).slice(10, 40).map((r) => ({ ...r, value: r.value?.toString() ?? 'null', headers: r.headers ?? {} })).sort((x, y) => x.partition - y.partition)))
    expect((await committedOffsets(group, input)).get(1)).toBe(42)
  })

  it('fails a record the broker refuses with the Kafka error the sink thread gets', async () => {
    const id = runId()
    const topic = `pt-${id}-small`
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }] })
    await admin.disconnect()
    const big: OutRecord = { owner: 'app/0_0', topic, partition: 0, key: 'k', value: Buffer.alloc(10_000, 1), timestamp: 1 }
    const refusal = async (f: ProducerFactory): Promise<unknown> => {
      const p = f.create({ maxInFlightRequests: 1 })
      await p.connect()
      try {
        return await p.sendBatch([big]).then(() => null, (e: unknown) => e)
      } finally {
        await p.disconnect()
      }
    }
    const [viaThread, viaLocal] = [await refusal(thread), await refusal(local)]
    expect(nonRetriableType(viaThread)).toBe('MESSAGE_TOO_LARGE')
    expect([(viaThread as Error).name, describeKafkaError(viaThread), nonRetriableType(viaThread), isRecoverable(viaThread)]).toEqual([(viaLocal as Error).name, describeKafkaError(viaLocal), nonRetriableType(viaLocal), isRecoverable(viaLocal)])
  })
})
