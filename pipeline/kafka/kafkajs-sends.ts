import { createRequire, Module } from 'node:module'

/**
 * kafkajs 2.2.4's produce path (src/producer/sendMessages.js), patched in two ways, for the
 * threads that load this module before kafkajs' producer code (producer-worker.ts does; see
 * {@link settledSends}).
 *
 * 1. A send to partitions led by several brokers makes one request per broker and awaits them
 *    with `Promise.all`: when one fails, the retry starts while the others may still be in
 *    flight, and sends them again with new sequence numbers, so the broker keeps both copies (a
 *    committed transaction held records twice on a three-broker cluster). Here the retry waits
 *    until every request of the attempt has settled: one that succeeded is not sent again (its
 *    response is kept, as kafkajs does), one that failed rolled its sequence numbers back, and
 *    its retry reuses them, which the broker deduplicates. So one send may span brokers.
 * 2. `groupMessagesPerPartition` copied a partition's array at every message (quadratic in the
 *    send's size); here it appends.
 *
 * The rest is kafkajs' code as it is (MIT licence, https://github.com/tulios/kafkajs).
 */

const require = createRequire(import.meta.url)
const MESSAGE_PRODUCER = require.resolve('kafkajs/src/producer/messageProducer.js')
const SEND_MESSAGES = require.resolve('kafkajs/src/producer/sendMessages.js')

interface Broker {
  nodeId: number
  produce(request: object): Promise<unknown>
}
interface Cluster {
  refreshMetadataIfNecessary(): Promise<void>
  refreshMetadata(): Promise<void>
  findTopicPartitionMetadata(topic: string): unknown[]
  findLeaderForPartitions(topic: string, partitions: string[]): Record<string, number[]>
  findBroker(o: { nodeId: string }): Promise<Broker>
  addMultipleTargetTopics(topics: string[]): Promise<void>
  removeBroker(o: { host: string; port: number }): void
  isConnected(): boolean
  connect(): Promise<void>
  targetTopics: Set<string>
}
interface EosManager {
  acquireBrokerLock(b: Broker): Promise<void>
  releaseBrokerLock(b: Broker): Promise<void>
  isTransactional(): boolean
  addPartitionsToTransaction(topicData: unknown): Promise<void>
  getSequence(topic: string, partition: number): number
  updateSequence(topic: string, partition: number, n: number): void
  getTransactionalId(): string
  getProducerId(): unknown
  getProducerEpoch(): unknown
}
type Message = object
type TopicMessages = { topic: string; messages: Message[] }
type Partitioner = (o: { topic: string; partitionMetadata: unknown[]; message: Message }) => number
type Retrier = <T>(fn: (bail: (e: unknown) => void, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>
type KafkaError = Error & { retriable?: boolean; host: string; port: number }

function groupMessagesPerPartition(o: { topic: string; partitionMetadata: unknown[]; messages: Message[]; partitioner: Partitioner }): Record<number, Message[]> {
  const out: Record<number, Message[]> = {}
  if (o.partitionMetadata.length === 0) return out
  for (const message of o.messages) {
    const partition = o.partitioner({ topic: o.topic, partitionMetadata: o.partitionMetadata, message })
    ;(out[partition] ??= []).push(message)
  }
  return out
}

function createSendMessages({ logger, cluster, partitioner, eosManager, retrier }: { logger: { debug: Function; error: Function }; cluster: Cluster; partitioner: Partitioner; eosManager: EosManager; retrier: Retrier }) {
  const { KafkaJSMetadataNotLoaded } = require('kafkajs/src/errors.js') as { KafkaJSMetadataNotLoaded: new (m: string) => Error }
  const { staleMetadata } = require('kafkajs/src/protocol/error.js') as { staleMetadata: (e: unknown) => boolean }
  const createTopicData = require('kafkajs/src/producer/createTopicData.js') as (d: unknown[]) => Array<{ topic: string; partitions: Array<{ partition: number; messages: unknown[] }> }>
  const responseSerializer = require('kafkajs/src/producer/responseSerializer.js') as (r: unknown) => unknown[]
  return async ({ acks, timeout, compression, topicMessages }: { acks: number; timeout: number; compression: number; topicMessages: TopicMessages[] }) => {
    const responsePerBroker = new Map<Broker, unknown[] | null>()
    const createProducerRequests = async (): Promise<Array<Promise<void>>> => {
      const topicMetadata = new Map<string, { partitionsPerLeader: Record<string, number[]>; messagesPerPartition: Record<number, Message[]> }>()
      await cluster.refreshMetadataIfNecessary()
      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic)
        if (partitionMetadata.length === 0) {
          logger.debug('Producing to topic without metadata', { topic, targetTopics: Array.from(cluster.targetTopics) })
          throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata')
        }
        const messagesPerPartition = groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner })
        const partitionsPerLeader = cluster.findLeaderForPartitions(topic, Object.keys(messagesPerPartition))
        topicMetadata.set(topic, { partitionsPerLeader, messagesPerPartition })
        for (const nodeId of Object.keys(partitionsPerLeader)) {
          const broker = await cluster.findBroker({ nodeId })
          if (!responsePerBroker.has(broker)) responsePerBroker.set(broker, null)
        }
      }
      const brokersWithoutResponse = [...responsePerBroker.keys()].filter((b) => !responsePerBroker.get(b))
      return brokersWithoutResponse.map(async (broker) => {
        const topicData = createTopicData(
          [...topicMetadata.entries()]
            .filter(([, { partitionsPerLeader }]) => !!partitionsPerLeader[broker.nodeId])
            .map(([topic, { partitionsPerLeader, messagesPerPartition }]) => ({ topic, partitions: partitionsPerLeader[broker.nodeId], messagesPerPartition })),
        )
        await eosManager.acquireBrokerLock(broker)
        try {
          if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData)
          for (const { topic, partitions } of topicData) {
            for (const entry of partitions as Array<{ partition: number; messages: unknown[]; firstSequence?: number }>) {
              entry.firstSequence = eosManager.getSequence(topic, entry.partition)
              eosManager.updateSequence(topic, entry.partition, entry.messages.length)
            }
          }
          let response: unknown
          try {
            response = await broker.produce({
              transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
              producerId: eosManager.getProducerId(),
              producerEpoch: eosManager.getProducerEpoch(),
              acks,
              timeout,
              compression,
              topicData,
            })
          } catch (e) {
            for (const { topic, partitions } of topicData) for (const entry of partitions) eosManager.updateSequence(topic, entry.partition, -entry.messages.length)
            throw e
          }
          responsePerBroker.set(broker, acks !== 0 ? responseSerializer(response) : [])
        } catch (e) {
          responsePerBroker.delete(broker)
          throw e
        } finally {
          await eosManager.releaseBrokerLock(broker)
        }
      })
    }

    return retrier(async (bail, retryCount, retryTime) => {
      await cluster.addMultipleTargetTopics(topicMessages.map(({ topic }) => topic))
      try {
        // The fix: every request of this attempt settles before a failure is handled (retried).
        const settled = await Promise.allSettled(await createProducerRequests())
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
        if (failed) throw failed.reason
        return [...responsePerBroker.values()].flat()
      } catch (err) {
        const e = err as KafkaError
        if (e.name === 'KafkaJSConnectionClosedError') cluster.removeBroker({ host: e.host, port: e.port })
        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, { retryCount, retryTime })
          await cluster.connect()
          await cluster.refreshMetadata()
          throw e
        }
        if (staleMetadata(e) || e.name === 'KafkaJSMetadataNotLoaded' || e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSConnectionClosedError' || (e.name === 'KafkaJSProtocolError' && e.retriable)) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime })
          await cluster.refreshMetadata()
          throw e
        }
        logger.error(`${e.message}`, { retryCount, retryTime })
        if (e.retriable) throw e
        bail(e)
        return []
      }
    })
  }
}

/**
 * Whether this thread's kafkajs producers use the patched sends: true when this module was
 * loaded before kafkajs' producer code (it is then installed in its place), false when kafkajs
 * had loaded its own already, whose multi-broker sends must not be retried while others are
 * in flight (the sink then sends one partition per call; see sendPerPartition in sink.ts).
 */
export const settledSends: boolean = (() => {
  const cached = require.cache[SEND_MESSAGES] as (NodeJS.Module & { exports: { __hermesSettled?: boolean } }) | undefined
  if (cached) return cached.exports.__hermesSettled === true
  if (require.cache[MESSAGE_PRODUCER]) return false
  const m = new Module(SEND_MESSAGES)
  m.filename = SEND_MESSAGES
  m.loaded = true
  m.exports = Object.assign(createSendMessages, { __hermesSettled: true })
  require.cache[SEND_MESSAGES] = m
  return true
})()
