// First, as in the producer thread: the patched produce path goes in before kafkajs loads its own.
import { settledSends } from '../../pipeline/kafka/kafkajs-sends.ts'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

// kafkajs' produce path as Hermes patches it (pipeline/kafka/kafkajs-sends.ts): a send spanning
// two brokers whose request to one fails is retried only after the request to the other has
// settled, so the one that succeeded is not sent again. kafkajs 2.2.4 retried at once and sent
// it a second time, with new sequence numbers (the broker keeps both: records twice in one
// committed transaction). A fake cluster of two brokers; no Kafka.

const require = createRequire(import.meta.url)
type SendMessages = (o: object) => (req: object) => Promise<Array<{ topicName: string; partition: number; baseOffset: string }>>

function cluster(brokers: Record<number, { produce: (req: { topicData: Array<{ partitions: Array<{ partition: number; firstSequence: number }> }> }) => Promise<unknown> }>) {
  const byNode = Object.fromEntries(Object.entries(brokers).map(([id, b]) => [id, { nodeId: Number(id), ...b }]))
  return {
    targetTopics: new Set<string>(),
    refreshMetadataIfNecessary: async () => {},
    refreshMetadata: async () => {},
    addMultipleTargetTopics: async () => {},
    isConnected: () => true,
    connect: async () => {},
    removeBroker: () => {},
    findTopicPartitionMetadata: () => [{ partitionId: 0, leader: 0 }, { partitionId: 1, leader: 1 }],
    // Partition p is led by broker p.
    findLeaderForPartitions: (_topic: string, partitions: string[]) => Object.fromEntries(partitions.map((p) => [p, [Number(p)]])),
    findBroker: async ({ nodeId }: { nodeId: string }) => byNode[nodeId],
  }
}

function eosManager() {
  const sequences = new Map<string, number>()
  return {
    acquireBrokerLock: async () => {},
    releaseBrokerLock: async () => {},
    isTransactional: () => false,
    addPartitionsToTransaction: async () => {},
    getSequence: (t: string, p: number) => sequences.get(`${t}:${p}`) ?? 0,
    updateSequence: (t: string, p: number, n: number) => void sequences.set(`${t}:${p}`, (sequences.get(`${t}:${p}`) ?? 0) + n),
    getTransactionalId: () => undefined,
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
  }
}

const response = (partition: number) => ({ topics: [{ topicName: 't', partitions: [{ partition, errorCode: 0, baseOffset: '0' }] }] })
const retriable = () => Object.assign(new Error('not the leader'), { name: 'KafkaJSProtocolError', type: 'NOT_LEADER_OR_FOLLOWER', retriable: true })

describe('kafkajs produce path, patched (kafkajs-sends.ts)', () => {
  it('is installed when loaded before kafkajs', () => {
    expect(settledSends).toBe(true)
    expect((require('kafkajs/src/producer/sendMessages.js') as { __hermesSettled?: boolean }).__hermesSettled).toBe(true)
  })

  it('retries a failed broker only after the other broker answered, and sends that one once, with the same sequence', async () => {
    const calls: Array<{ broker: number; firstSequence: number }> = []
    let failures = 1
    const fast = {
      // Broker 0 refuses the first attempt at once.
      produce: async (req: { topicData: Array<{ partitions: Array<{ partition: number; firstSequence: number }> }> }) => {
        calls.push({ broker: 0, firstSequence: req.topicData[0]?.partitions[0]?.firstSequence ?? -1 })
        if (failures-- > 0) throw retriable()
        return response(0)
      },
    }
    const slow = {
      // Broker 1 answers 50 ms later, after the failure above.
      produce: async (req: { topicData: Array<{ partitions: Array<{ partition: number; firstSequence: number }> }> }) => {
        calls.push({ broker: 1, firstSequence: req.topicData[0]?.partitions[0]?.firstSequence ?? -1 })
        await new Promise((r) => setTimeout(r, 50))
        return response(1)
      },
    }
    const createRetry = require('kafkajs/src/retry/index.js') as (o: object) => unknown
    const create = require('kafkajs/src/producer/sendMessages.js') as SendMessages
    const send = create({
      logger: { debug: () => {}, error: () => {} },
      cluster: cluster({ 0: fast, 1: slow }),
      partitioner: ({ message }: { message: { partition: number } }) => message.partition,
      eosManager: eosManager(),
      retrier: createRetry({ retries: 3, initialRetryTime: 5, maxRetryTime: 20 }),
    })
    const acks = await send({ acks: -1, timeout: 1000, compression: 0, topicMessages: [{ topic: 't', messages: [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }, { partition: 1, value: 'c' }] }] })
    expect(calls.filter((c) => c.broker === 1)).toHaveLength(1)
    // The retry reuses the sequence numbers the failed attempt gave back.
    expect(calls.filter((c) => c.broker === 0)).toEqual([
      { broker: 0, firstSequence: 0 },
      { broker: 0, firstSequence: 0 },
    ])
    expect(acks.map((a) => `${a.topicName}:${a.partition}`).sort()).toEqual(['t:0', 't:1'])
  })
})
