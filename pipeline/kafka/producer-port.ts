import { settledSends } from './kafkajs-sends.ts'
import type { Kafka, Message, Producer, TopicMessages, Transaction } from 'kafkajs'
import { CompressionTypes, Partitioners } from 'kafkajs'
import { PRODUCER_RETRY, offsetsByTopic, toKafkaHeaders } from './client.ts'
import type { GroupMetadata } from './kip447.ts'
import { clearOffsetsGroupMetadata, setOffsetsGroupMetadata } from './kip447.ts'
import type { OutRecord } from './sink.ts'

/**
 * The producers of the sink (sink.ts), whichever thread runs kafkajs: this thread
 * ({@link localProducers}) or a worker thread (producer-thread.ts, `kafka.producer.thread`).
 * The sink sees records and acknowledgements only; kafkajs' messages, its partitioner and its
 * encoding stay behind this port.
 */

/** What the broker acknowledged for one partition of a send (kafkajs' RecordMetadata, the fields the sink reads). */
export interface ProduceAck {
  topicName: string
  partition: number
  /** Offset of the partition's first record in this send (a string, as kafkajs gives it). */
  baseOffset?: string
}

/** Input offsets to commit inside a transaction; `group` (exactly_once_v2) makes it a KIP-447 commit. */
export interface TxnOffsets {
  groupId: string
  offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>
  group?: GroupMetadata
}

/** One open transaction of a transactional producer. */
export interface SinkTransaction {
  /**
   * Whether its sends run one at a time in the order they were called, each starting when the
   * one before it has settled (so a caller may send again before an acknowledgement), and one
   * send may span partitions led by several brokers (kafkajs-sends.ts). Otherwise concurrent
   * sends may reach a partition out of order, and a send should go to one partition.
   */
  readonly ordered: boolean
  sendBatch(records: readonly OutRecord[]): Promise<ProduceAck[]>
  sendOffsets(offsets: TxnOffsets): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
}

/** An idempotent (or, with a transactional id, transactional) producer. */
export interface SinkProducer {
  connect(): Promise<void>
  disconnect(): Promise<void>
  /** Sends the records in one request per broker; every record names its partition. */
  sendBatch(records: readonly OutRecord[]): Promise<ProduceAck[]>
  transaction(): Promise<SinkTransaction>
}

/** How a producer is made: always idempotent, retried per {@link PRODUCER_RETRY}. */
export interface ProducerSettings {
  transactionalId?: string
  /** Produce requests in flight per broker connection (1 to 5). */
  maxInFlightRequests: number
  transactionTimeout?: number
}

/** Makes the sink's producers; `close` releases what they share (the worker thread). */
export interface ProducerFactory {
  create(settings: ProducerSettings): SinkProducer
  close(): Promise<void>
}

/** The kafkajs producer options of {@link ProducerSettings} (both threads use this). */
export function kafkajsProducerConfig(s: ProducerSettings): Parameters<Kafka['producer']>[0] {
  return {
    idempotent: true,
    maxInFlightRequests: s.maxInFlightRequests,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: PRODUCER_RETRY,
    ...(s.transactionalId !== undefined ? { transactionalId: s.transactionalId } : {}),
    ...(s.transactionTimeout !== undefined ? { transactionTimeout: s.transactionTimeout } : {}),
  }
}

/**
 * A send as kafkajs takes it: the records grouped by topic (first appearance first), each
 * topic's in their order. A record's time is one kafkajs' BigInt can read: {@link sendableTime}.
 */
export function toTopicMessages(records: readonly OutRecord[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>()
  for (const r of records) {
    let list = byTopic.get(r.topic)
    if (!list) byTopic.set(r.topic, (list = []))
    const m: Message = { key: r.key, value: r.value, partition: r.partition, timestamp: String(sendableTime(r.timestamp)) }
    const headers = toKafkaHeaders(r.headers)
    if (headers) m.headers = headers
    list.push(m)
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

/** Never a time kafkajs' BigInt cannot read (120000.5, 1e+300, NaN): it would fail every send. */
export function sendableTime(timestamp: number): number {
  return Number.isSafeInteger(Math.floor(timestamp)) ? Math.floor(timestamp) : Date.now()
}

/** The ack fields the sink reads, from kafkajs' RecordMetadata (a smaller object to keep or to post). */
export function toAcks(meta: ReadonlyArray<{ topicName: string; partition: number; baseOffset?: string }>): ProduceAck[] {
  return meta.map((m) => (m.baseOffset === undefined ? { topicName: m.topicName, partition: m.partition } : { topicName: m.topicName, partition: m.partition, baseOffset: m.baseOffset }))
}

/**
 * `sendOffsets` of a kafkajs transaction. exactly_once_v2: the group metadata is named first
 * (kip447.ts), in the thread that sends, since the patched request reads it there.
 */
export async function sendTxnOffsets(txn: Transaction, transactionalId: string | undefined, o: TxnOffsets): Promise<void> {
  if (o.group && transactionalId !== undefined) setOffsetsGroupMetadata(transactionalId, o.groupId, o.group)
  await txn.sendOffsets({ consumerGroupId: o.groupId, topics: offsetsByTopic(o.offsets) })
}

/** A kafkajs transaction behind {@link SinkTransaction}, sending {@link OutRecord}s. */
export function wrapTransaction(txn: Transaction, transactionalId: string | undefined): SinkTransaction {
  const send = async (records: readonly OutRecord[]): Promise<ProduceAck[]> => toAcks(await txn.sendBatch({ topicMessages: toTopicMessages(records), compression: CompressionTypes.None }))
  // With the patched produce path loaded on this thread (settledSends), sends are chained as the
  // producer thread chains them (producer-worker.ts).
  let sends: Promise<unknown> = Promise.resolve()
  return {
    ordered: settledSends,
    sendBatch: settledSends
      ? (records) => {
          const sent = sends.then(() => send(records))
          sends = sent.catch(() => {})
          return sent
        }
      : send,
    sendOffsets: (o) => sendTxnOffsets(txn, transactionalId, o),
    commit: () => txn.commit(),
    abort: () => txn.abort(),
  }
}

/** A kafkajs producer behind {@link SinkProducer}; disconnecting forgets its KIP-447 metadata. */
export function wrapProducer(p: Producer, transactionalId: string | undefined): SinkProducer {
  return {
    connect: () => p.connect(),
    disconnect: async () => {
      try {
        await p.disconnect()
      } finally {
        if (transactionalId !== undefined) clearOffsetsGroupMetadata(transactionalId)
      }
    },
    sendBatch: async (records) => toAcks(await p.sendBatch({ topicMessages: toTopicMessages(records), compression: CompressionTypes.None })),
    transaction: async () => wrapTransaction(await p.transaction(), transactionalId),
  }
}

/** Producers that run kafkajs on this thread (`kafka.producer.thread: false`). */
export function localProducers(kafka: Kafka): ProducerFactory {
  return {
    create: (s) => wrapProducer(kafka.producer(kafkajsProducerConfig(s)), s.transactionalId),
    close: async () => {},
  }
}
