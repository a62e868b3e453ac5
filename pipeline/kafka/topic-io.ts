import { randomUUID } from 'node:crypto'
import { CompressionTypes, Partitioners } from 'kafkajs'
import type { Message } from 'kafkajs'
import { describeError } from '../api/errors.ts'
import type { Serde } from '../api/serde.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { formatEntry } from '../embedded/files.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { decodeAsWritten } from '../registry/avro-serde.ts'
import { SchemaRegistryClient } from '../registry/client.ts'
import { avroSerde, registeredSchema, topicFormat } from '../registry/formats.ts'
import { KafkaAdmin } from './admin.ts'
import { PRODUCER_RETRY, createKafkaClient, fromKafkaHeaders } from './client.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

/** A line `hermes produce` could not send, with why. */
export interface RejectedLine {
  line: number
  reason: string
}

/**
 * `hermes produce` on Kafka: one record per JSON line, keyed by `keyField`, timestamped by
 * `timeField` (else now), in the topic's format (Avro through the registry, else the line as it
 * is), with an idempotent producer and the Java client's partitioner. A line that is not JSON or
 * does not fit the Avro schema is reported with its number and not sent; the others are.
 */
export async function produceToKafka(o: { config: HermesConfig; logger: HermesLogger; topic: string; lines: readonly string[]; keyField: string; timeField: string; partitions?: number }): Promise<{ produced: number; rejected: RejectedLine[] }> {
  const { config, logger, topic } = o
  let serde: Serde<unknown> | null = null
  if (topicFormat(config, topic) === 'avro') {
    const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
    serde = avroSerde(topic, await registeredSchema(topic, config, registry), registry)
  }
  const messages: Message[] = []
  const rejected: RejectedLine[] = []
  for (const [i, line] of o.lines.entries()) {
    if (!line.trim()) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (err) {
      if (serde) {
        rejected.push({ line: i + 1, reason: `not JSON: ${describeError(err)}` })
        continue
      }
      // JSON topic: kept as it is, the consumer's deserializer decides (as embedded produce does).
    }
    const v = value !== null && typeof value === 'object' ? (value as { [k: string]: unknown }) : {}
    const key = typeof v[o.keyField] === 'string' ? (v[o.keyField] as string) : null
    const ts = typeof v[o.timeField] === 'number' ? (v[o.timeField] as number) : Date.now()
    let bytes: Buffer
    try {
      bytes = serde ? serde.serialize(value) : Buffer.from(line, 'utf8')
    } catch (err) {
      rejected.push({ line: i + 1, reason: describeError(err) })
      continue
    }
    messages.push({ key, value: bytes, timestamp: String(ts) })
  }
  const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-produce`)
  const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor)
  await admin.connect()
  try {
    await admin.ensureTopics([{ topic, partitions: o.partitions ?? topicPartitions(config, topic) }])
  } finally {
    await admin.disconnect()
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: PRODUCER_RETRY })
  await producer.connect()
  try {
    for (let i = 0; i < messages.length; i += 1000) await producer.send({ topic, messages: messages.slice(i, i + 1000), compression: CompressionTypes.None })
  } finally {
    await producer.disconnect()
  }
  return { produced: messages.length, rejected }
}

/**
 * `hermes consume` on Kafka: every committed record of the topic up to its end when the command
 * started, as lines: values decoded from Avro with their writer schema (avro topics), else as
 * they are; dead letters as envelopes with their `hermes.dlq.*` headers. Reads with a throwaway
 * group that commits nothing.
 */
export async function consumeFromKafka(o: { config: HermesConfig; logger: HermesLogger; topic: string; onLine: (line: string) => void; timeoutMs?: number }): Promise<number> {
  const { config, logger, topic } = o
  const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-consume`)
  const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor)
  await admin.connect()
  const ends = new Map<number, number>()
  const perPartition = new Map<number, string[]>()
  try {
    for (const [p, r] of await admin.offsets(topic)) if (r.high > r.low) ends.set(p, r.high)
    if (ends.size === 0) return 0
    const avro = topicFormat(config, topic) === 'avro' ? new SchemaRegistryClient(config.schemaRegistry, logger) : null
    const groupId = `${config.kafka.clientId}-consume-${randomUUID()}`
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
    const filters = new Map<number, CommittedFilter>()
    let done!: () => void
    let failed!: (err: unknown) => void
    const finished = new Promise<void>((resolve, reject) => {
      done = resolve
      failed = reject
    })
    const advance = (partition: number, next: number): void => {
      const end = ends.get(partition)
      if (end !== undefined && next >= end) ends.delete(partition)
      if (ends.size === 0) done()
    }
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.partition, Number(e.payload.lastOffset) + 1))
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          let filter = filters.get(batch.partition)
          if (!filter) filters.set(batch.partition, (filter = new CommittedFilter()))
          const lines = perPartition.get(batch.partition) ?? []
          perPartition.set(batch.partition, lines)
          for (const m of filter.push(rawMessages(batch))) {
            if (Number(m.offset) >= (ends.get(batch.partition) ?? Infinity)) continue
            const entry = { key: m.key?.toString('utf8') ?? null, value: m.value ?? null, headers: fromKafkaHeaders(m.headers) ?? {} }
            if (avro && entry.value && entry.headers['hermes.dlq.reason'] === undefined) {
              try {
                lines.push(JSON.stringify(await decodeAsWritten(entry.value, avro)))
              } catch (err) {
                failed(err)
                return
              }
              continue
            }
            lines.push(formatEntry(entry))
          }
        },
      })
      const timeout = o.timeoutMs ?? 60_000
      let timer: NodeJS.Timeout | undefined
      await Promise.race([finished, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`reading ${topic} did not reach its end within ${timeout} ms`)), timeout)))]).finally(() => clearTimeout(timer))
    } finally {
      await consumer.disconnect()
      await admin.deleteGroups([groupId])
    }
  } finally {
    await admin.disconnect()
  }
  let n = 0
  for (const p of [...perPartition.keys()].sort((a, b) => a - b)) {
    for (const line of perPartition.get(p) ?? []) {
      o.onLine(line)
      n++
    }
  }
  return n
}
