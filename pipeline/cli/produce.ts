/**
 * `hermes produce`: JSONL lines appended to a topic, keyed and timestamped as the topologies
 * read that topic, on the embedded log or on Kafka (pipeline/kafka/topic-io.ts).
 */
import { join, resolve } from 'node:path'
import type { HermesConfig } from '../config/schema.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import { partitionFor } from '../runtime/partitioner.ts'
import { topicFields } from './topologies.ts'

/** Key and time fields for `hermes produce`. */
export interface ProduceFields {
  /** Value field holding the record key; undefined: records without a key. */
  keyField?: string
  timeField: string
}

/**
 * The fields to key and timestamp a topic's records by: the flags when given, else those of the
 * topologies that read the topic (config.tasks by taskId, config.materials by materialId, ...),
 * else `userId` and `ts`.
 */
export async function produceFields(config: HermesConfig, topic: string, flags: { keyField?: string; timeField?: string }): Promise<ProduceFields> {
  const read = flags.keyField !== undefined && flags.timeField !== undefined ? null : await topicFields(topic, { settings: config.hermes })
  const keyField = flags.keyField ?? (read ? read.keyField : 'userId')
  const timeField = flags.timeField ?? read?.timestampField ?? 'ts'
  return { ...(keyField !== undefined ? { keyField } : {}), timeField }
}

/** The key and event time of a JSON line (null and 0 when it is not JSON or lacks them). */
export function keyAndTime(line: string, fields: ProduceFields): { key: string | null; ts: number | null } {
  let key: string | null = null
  let ts: number | null = null
  try {
    const v = JSON.parse(line) as { [k: string]: unknown } | null
    if (v && typeof v === 'object') {
      const k = fields.keyField === undefined ? undefined : v[fields.keyField]
      if (typeof k === 'string') key = k
      else if (typeof k === 'number') key = String(k)
      const t = v[fields.timeField]
      if (typeof t === 'number' && Number.isFinite(t)) ts = t
    }
  } catch {
    // Kept as it is: the consumer's deserializer decides (and dead-letters it).
  }
  return { key, ts }
}

/** Appends lines to a topic of the embedded log (created with `partitions` if new); returns how many. */
export function produceEmbedded(config: HermesConfig, topic: string, lines: readonly string[], fields: ProduceFields, partitions: number): number {
  const log = EmbeddedLog.open(join(resolve(config.runtime.stateDir), 'log'))
  if (!log.hasTopic(topic)) log.createTopic(topic, partitions)
  let n = 0
  for (const line of lines) {
    if (!line.trim()) continue
    const { key, ts } = keyAndTime(line, fields)
    log.append(topic, key === null ? 0 : partitionFor(key, log.partitions(topic)), key, Buffer.from(line, 'utf8'), ts ?? 0)
    n++
  }
  log.flush({ fsync: true })
  return n
}
