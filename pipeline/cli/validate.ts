/**
 * `hermes validate` of records: configuration files (`--input topic=file`, as `hermes run` takes
 * them) or topics read from Kafka, checked by the topologies' own code. The records are run
 * through the topologies embedded, in memory, in the order the pipeline would apply them; every
 * dead letter is a problem, reported with the file and line (or topic, partition and offset) of
 * the record and its reason. Nothing is written anywhere.
 */
import { SerdeError } from '../api/errors.ts'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import type { TopicFile } from '../embedded/files.ts'
import { loadInputs } from '../embedded/files.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import { EmbeddedRunner } from '../embedded/runner.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { decodeAsWritten } from '../registry/avro-serde.ts'
import { SchemaRegistryClient } from '../registry/client.ts'
import { topicFormat } from '../registry/formats.ts'
import { DLQ_HEADERS } from '../runtime/task.ts'

/** One record refused, with where it came from. */
export interface ValidationProblem {
  /** `file:line`, or `topic[partition]@offset` for records read from Kafka, or `(timer)`. */
  where: string
  topic: string
  key: string | null
  reason: string
  /** The topology that refused it. */
  app: string
}

/** What a validation looked at and found. */
export interface ValidationReport {
  records: number
  problems: ValidationProblem[]
}

/** A record read from a topic, for {@link validateRecords}. */
export interface TopicRecord {
  topic: string
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
  headers: { [k: string]: string }
  timestamp: number
}

/** How far past the last record event time runs after the inputs, so that waits on timers end. */
export const VALIDATE_HORIZON_MS = 24 * 3_600_000

const originKey = (topic: string, partition: number, offset: number): string => `${topic}\u0000${partition}\u0000${offset}`

/**
 * Runs records through the topologies embedded and in memory and reports every dead letter.
 * `load` appends the records to the log and names each one's place (`where`). After the inputs,
 * event time runs on `horizonMs` past the last record so that timers such as a task's wait for
 * its materials end and report what they find.
 */
async function run(topologies: readonly Topology[], config: HermesConfig, logger: HermesLogger, load: (log: EmbeddedLog, where: Map<string, string>) => number, horizonMs: number): Promise<ValidationReport> {
  const log = EmbeddedLog.inMemory()
  const where = new Map<string, string>()
  const records = load(log, where)
  const runner = await EmbeddedRunner.open({ topologies: [...topologies], config, log, state: { kind: 'memory', maps: new Map() }, logger })
  try {
    await runner.run()
    let last = -Infinity
    for (const topic of log.topicNames()) {
      for (let p = 0; p < log.partitions(topic); p++) {
        const end = log.endOffset(topic, p)
        if (end > 0) last = Math.max(last, log.read(topic, p, end - 1)?.timestamp ?? -Infinity)
      }
    }
    if (Number.isFinite(last)) {
      for (const app of runner.apps) app.fireDue('event', Math.max(last, app.watermark()) + horizonMs)
      await runner.run()
    }
    const problems: ValidationProblem[] = []
    for (const app of runner.apps) {
      if (!log.hasTopic(app.dlqTopic)) continue
      const entries: Array<{ seq: number; key: string | null; headers: { [k: string]: string } }> = []
      for (let p = 0; p < log.partitions(app.dlqTopic); p++) {
        for (let o = 0; o < log.endOffset(app.dlqTopic, p); o++) {
          const e = log.read(app.dlqTopic, p, o)
          if (e) entries.push({ seq: e.seq, key: e.key, headers: { ...(e.headers ?? {}) } })
        }
      }
      entries.sort((a, b) => a.seq - b.seq)
      for (const e of entries) {
        const h = e.headers
        const topic = h[DLQ_HEADERS.topic] ?? ''
        const at = where.get(originKey(topic, Number(h[DLQ_HEADERS.partition]), Number(h[DLQ_HEADERS.offset])))
        problems.push({ where: at ?? (topic ? `${topic}[${h[DLQ_HEADERS.partition]}]@${h[DLQ_HEADERS.offset]}` : '(timer)'), topic, key: e.key, reason: h[DLQ_HEADERS.reason] ?? '(no reason)', app: app.name })
      }
    }
    return { records, problems }
  } finally {
    await runner.close()
  }
}

/** Checks JSONL files as `hermes run --input topic=file` would load them (event-time order, ties in file order). */
export function validateFiles(o: { topologies: readonly Topology[]; config: HermesConfig; logger: HermesLogger; inputs: readonly TopicFile[]; horizonMs?: number }): Promise<ValidationReport> {
  return run(
    o.topologies,
    o.config,
    o.logger,
    (log, where) => {
      const loaded = loadInputs(log, o.topologies, o.inputs, (topic) => topicPartitions(o.config, topic), (r) => where.set(originKey(r.topic, r.partition, r.offset), `${r.file}:${r.line}`))
      return [...loaded.values()].reduce((a, b) => a + b, 0)
    },
    o.horizonMs ?? VALIDATE_HORIZON_MS,
  )
}

/**
 * Checks records read from Kafka: each topic's records keep their partition, and are applied
 * lowest timestamp first across topics (the Kafka runner's order), offsets in order. Values of
 * avro topics are decoded with their writer schema first (the embedded run reads JSON); one that
 * cannot be decoded is a problem of its own.
 */
export async function validateTopicRecords(o: { topologies: readonly Topology[]; config: HermesConfig; logger: HermesLogger; records: readonly TopicRecord[]; partitions: (topic: string) => number; horizonMs?: number }): Promise<ValidationReport> {
  const decoded = await decodeAvro(o.config, o.logger, o.records)
  const report = await run(
    o.topologies,
    o.config,
    o.logger,
    (log, where) => {
      const sorted = decoded.records.map((r, i) => ({ r, i })).sort((a, b) => a.r.timestamp - b.r.timestamp || a.i - b.i)
      for (const { r } of sorted) {
        if (!log.hasTopic(r.topic)) log.createTopic(r.topic, Math.max(o.partitions(r.topic), r.partition + 1))
        const offset = log.append(r.topic, r.partition, r.key, r.value, r.timestamp, Object.keys(r.headers).length ? r.headers : undefined)
        where.set(originKey(r.topic, r.partition, offset), `${r.topic}[${r.partition}]@${r.offset}`)
      }
      return decoded.records.length + decoded.problems.length
    },
    o.horizonMs ?? VALIDATE_HORIZON_MS,
  )
  return { records: report.records, problems: [...decoded.problems, ...report.problems] }
}

/** Avro values (Confluent wire format) of avro topics as JSON; undecodable records left out as problems. */
async function decodeAvro(config: HermesConfig, logger: HermesLogger, records: readonly TopicRecord[]): Promise<{ records: TopicRecord[]; problems: ValidationProblem[] }> {
  const avroTopics = new Set(records.map((r) => r.topic).filter((t) => topicFormat(config, t) === 'avro'))
  if (avroTopics.size === 0) return { records: [...records], problems: [] }
  const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
  const out: TopicRecord[] = []
  const problems: ValidationProblem[] = []
  for (const r of records) {
    if (!avroTopics.has(r.topic) || r.value === null || r.headers[DLQ_HEADERS.reason] !== undefined) {
      out.push(r)
      continue
    }
    try {
      out.push({ ...r, value: Buffer.from(JSON.stringify(await decodeAsWritten(r.value, registry)), 'utf8') })
    } catch (err) {
      if (!(err instanceof SerdeError)) throw err
      problems.push({ where: `${r.topic}[${r.partition}]@${r.offset}`, topic: r.topic, key: r.key, reason: err.message, app: '' })
    }
  }
  return { records: out, problems }
}

/** Lines for a human: each problem, then a summary. */
export function describeValidation(report: ValidationReport, what: string): string[] {
  const lines = report.problems.map((p) => `${p.where}: ${p.topic || '(timer)'}${p.key !== null ? ` key=${JSON.stringify(p.key)}` : ''}: ${p.reason}${p.app ? ` [${p.app}]` : ''}`)
  lines.push(report.problems.length ? `${report.problems.length} of ${report.records} records of ${what} refused` : `ok: ${report.records} records of ${what}`)
  return lines
}
