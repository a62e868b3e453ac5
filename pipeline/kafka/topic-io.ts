import { randomUUID } from 'node:crypto'
import { CompressionTypes, Partitioners } from 'kafkajs'
import type { Message } from 'kafkajs'
import { describeError } from '../api/errors.ts'
import type { Headers } from '../api/record.ts'
import type { Serde } from '../api/serde.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { formatEntry } from '../embedded/files.ts'
import { DLQ_HEADERS } from '../runtime/task.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { MAGIC_BYTE, decodeAsWritten, toAvroForm } from '../registry/avro-serde.ts'
import { SchemaRegistryClient } from '../registry/client.ts'
import { avroSerde, registeredSchema, topicFormat } from '../registry/formats.ts'
import { KafkaAdmin, withConfiguredCleanup } from './admin.ts'
import { PRODUCER_RETRY, createKafkaClient, fromKafkaHeaders } from './client.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

/** A line `hermes produce` could not send, with why. */
export interface RejectedLine {
  line: number
  reason: string
}

/**
 * `hermes produce` on Kafka: one record per JSON line, keyed by `keyField` (no key without one),
 * timestamped by `timeField` (else now), in the topic's format (Avro through the registry, with
 * nested objects of string fields as JSON text, see {@link toAvroForm}; else the line as it is),
 * with an idempotent producer and the Java client's partitioner. A line that is not JSON or does
 * not fit the Avro schema is reported with its number and not sent; the others are.
 */
export async function produceToKafka(o: { config: HermesConfig; logger: HermesLogger; topic: string; lines: readonly string[]; keyField?: string; timeField: string; partitions?: number }): Promise<{ produced: number; rejected: RejectedLine[] }> {
  const { config, logger, topic } = o
  let serde: Serde<unknown> | null = null
  let avroForm: (v: unknown) => unknown = (v) => v
  if (topicFormat(config, topic) === 'avro') {
    const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
    const registered = await registeredSchema(topic, config, registry)
    serde = avroSerde(topic, registered, registry)
    avroForm = (v) => toAvroForm(registered.schema.type, v)
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
    const k = o.keyField === undefined ? undefined : v[o.keyField]
    const key = typeof k === 'string' ? k : typeof k === 'number' ? String(k) : null
    // The record's time as the broker's timestamp: only a whole, non-negative epoch ms (kafkajs
    // fails the whole batch on anything else); the value keeps its own time for Hermes to judge.
    const t = v[o.timeField]
    const ts = typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : Date.now()
    let bytes: Buffer
    try {
      bytes = serde ? serde.serialize(avroForm(value)) : Buffer.from(line, 'utf8')
    } catch (err) {
      rejected.push({ line: i + 1, reason: describeError(err) })
      continue
    }
    messages.push({ key, value: bytes, timestamp: String(ts) })
  }
  const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-produce`)
  const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor, config.kafka.brokers)
  await admin.connect()
  try {
    // Created as the runner would create it (configuration topics compacted or kept forever).
    await admin.ensureTopics(withConfiguredCleanup(config, [{ topic, partitions: o.partitions ?? topicPartitions(config, topic) }]))
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

/** A record of a topic as read from Kafka. */
export interface RawTopicRecord {
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
  headers: Headers
  timestamp: number
}

/**
 * Every committed record of a topic up to its end when the call started, in offset order per
 * partition, partitions in order. Reads with a throwaway group that commits nothing. A topic
 * that does not exist reads as empty with `missingOk`, else fails.
 */
export async function readTopicFromKafka(o: { config: HermesConfig; logger: HermesLogger; topic: string; timeoutMs?: number; missingOk?: boolean }): Promise<RawTopicRecord[]> {
  const { config, logger, topic } = o
  const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-consume`)
  if (o.missingOk) {
    const lister = kafka.admin()
    await lister.connect()
    try {
      if (!(await lister.listTopics()).includes(topic)) return []
    } finally {
      await lister.disconnect()
    }
  }
  const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor)
  await admin.connect()
  const ends = new Map<number, number>()
  const perPartition = new Map<number, RawTopicRecord[]>()
  try {
    for (const [p, r] of await admin.offsets(topic)) if (r.high > r.low) ends.set(p, r.high)
    if (ends.size === 0) return []
    const groupId = `${config.kafka.clientId}-consume-${randomUUID()}`
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
    const filters = new Map<number, CommittedFilter>()
    let done!: () => void
    const finished = new Promise<void>((resolve) => (done = resolve))
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
          const records = perPartition.get(batch.partition) ?? []
          perPartition.set(batch.partition, records)
          for (const m of filter.push(rawMessages(batch))) {
            const offset = Number(m.offset)
            if (offset >= (ends.get(batch.partition) ?? Infinity)) continue
            records.push({ partition: batch.partition, offset, key: m.key?.toString('utf8') ?? null, value: m.value ?? null, headers: fromKafkaHeaders(m.headers) ?? {}, timestamp: Number(m.timestamp) })
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
  return [...perPartition.keys()].sort((a, b) => a - b).flatMap((p) => perPartition.get(p) ?? [])
}

/**
 * `hermes consume` on Kafka: every committed record of the topic up to its end when the command
 * started, as lines: values decoded from Avro with their writer schema (avro topics), else as
 * they are; dead letters as envelopes with their `hermes.dlq.*` headers.
 */
export async function consumeFromKafka(o: { config: HermesConfig; logger: HermesLogger; topic: string; onLine: (line: string) => void; timeoutMs?: number }): Promise<number> {
  const records = await readTopicFromKafka(o)
  const avro = records.length && topicFormat(o.config, o.topic) === 'avro' ? new SchemaRegistryClient(o.config.schemaRegistry, o.logger) : null
  for (const r of records) {
    if (avro && r.value && r.headers[DLQ_HEADERS.reason] === undefined) o.onLine(JSON.stringify(await decodeAsWritten(r.value, avro)))
    else o.onLine(formatEntry(r))
  }
  return records.length
}

/** The JSON value of bytes, or undefined when they are not JSON. */
function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/** A record for {@link sendToKafka}; `json` (a fixed value given as JSON) is Avro-encoded for avro topics. */
export interface OutgoingRecord {
  topic: string
  key: string | null
  value: Buffer | null
  json?: unknown
  headers: Headers
  /** Event time to send with; 0 lets the broker set it. */
  timestamp: number
}

/**
 * Sends records to their topics (created when missing) with an idempotent producer and the Java
 * client's partitioner. On an avro topic, a value given as JSON (`json`, or JSON bytes that are
 * not in the Confluent wire format) is encoded with the topic's registered schema (see
 * {@link toAvroForm}); Avro bytes go as they are. Everything is encoded before anything is
 * sent, so a value that does not fit its schema sends nothing.
 * @throws SerdeError naming the record that does not fit.
 */
export async function sendToKafka(o: { config: HermesConfig; logger: HermesLogger; records: readonly OutgoingRecord[] }): Promise<void> {
  const { config, logger } = o
  const byTopic = new Map<string, Message[]>()
  let registry: SchemaRegistryClient | null = null
  const serdes = new Map<string, { serde: Serde<unknown>; form: (v: unknown) => unknown }>()
  for (const r of o.records) {
    let value = r.value
    // A dead letter an operator raised from a timer carries its record's JSON rendering, not the
    // Avro bytes it was read as: on an avro topic, JSON that is not in the wire format is encoded.
    const json = r.json !== undefined ? r.json : r.value && r.value[0] !== MAGIC_BYTE && topicFormat(config, r.topic) === 'avro' ? parseJson(r.value) : undefined
    if (json !== undefined && topicFormat(config, r.topic) === 'avro') {
      let s = serdes.get(r.topic)
      if (!s) {
        registry ??= new SchemaRegistryClient(config.schemaRegistry, logger)
        const registered = await registeredSchema(r.topic, config, registry)
        s = { serde: avroSerde(r.topic, registered, registry), form: (v) => toAvroForm(registered.schema.type, v) }
        serdes.set(r.topic, s)
      }
      value = s.serde.serialize(s.form(json))
    }
    const list = byTopic.get(r.topic) ?? []
    byTopic.set(r.topic, list)
    list.push({ key: r.key, value, ...(Object.keys(r.headers).length ? { headers: { ...r.headers } } : {}), ...(Number.isSafeInteger(r.timestamp) && r.timestamp > 0 ? { timestamp: String(r.timestamp) } : {}) })
  }
  if (byTopic.size === 0) return
  const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-produce`)
  const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor, config.kafka.brokers)
  await admin.connect()
  try {
    await admin.ensureTopics(withConfiguredCleanup(config, [...byTopic.keys()].map((topic) => ({ topic, partitions: topicPartitions(config, topic) }))))
  } finally {
    await admin.disconnect()
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: PRODUCER_RETRY })
  await producer.connect()
  try {
    for (const [topic, messages] of byTopic) {
      for (let i = 0; i < messages.length; i += 1000) await producer.send({ topic, messages: messages.slice(i, i + 1000), compression: CompressionTypes.None })
    }
  } finally {
    await producer.disconnect()
  }
}
