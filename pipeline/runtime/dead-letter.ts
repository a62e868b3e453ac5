import type { Phase } from '../api/errors.ts'
import type { Headers } from '../api/record.ts'
import type { RawRecord } from './task.ts'

/**
 * Header names on dead-letter records. The record itself is the input as it was read (key,
 * value bytes, headers, timestamp), so it can be sent back to `hermes.dlq.topic` unchanged once
 * fixed; these headers say why and where it failed, and which application saw it.
 */
export const DLQ_HEADERS = {
  reason: 'hermes.dlq.reason',
  phase: 'hermes.dlq.phase',
  node: 'hermes.dlq.node',
  topic: 'hermes.dlq.topic',
  partition: 'hermes.dlq.partition',
  offset: 'hermes.dlq.offset',
  timestamp: 'hermes.dlq.timestamp',
  /**
   * The application (topology) that dead-lettered it. Several applications may read one topic
   * (push-decisions and material-stats both read behavior-events) and each one judges a record
   * for itself, so a bad shared input can be dead-lettered by each of them.
   */
  app: 'hermes.dlq.app',
} as const

/**
 * Headers on a record sent to a source's repartition topic because it was read from a partition
 * its key does not hash to: where and how it was read first. The record read back is processed
 * (and, if bad, dead-lettered) as that original record; operators never see these headers.
 */
export const ORIGIN_HEADERS = {
  topic: 'hermes.origin.topic',
  partition: 'hermes.origin.partition',
  offset: 'hermes.origin.offset',
  /** Absent when the original record had no key (null). */
  key: 'hermes.origin.key',
  timestamp: 'hermes.origin.timestamp',
} as const

const ORIGIN_NAMES: ReadonlySet<string> = new Set(Object.values(ORIGIN_HEADERS))

/** The headers of `raw` plus where it was read, for its copy on a repartition topic. */
export function withOrigin(raw: RawRecord): Headers {
  return {
    ...(raw.headers ?? {}),
    [ORIGIN_HEADERS.topic]: raw.topic,
    [ORIGIN_HEADERS.partition]: String(raw.partition),
    [ORIGIN_HEADERS.offset]: String(raw.offset),
    [ORIGIN_HEADERS.timestamp]: String(raw.timestamp),
    ...(raw.key === null ? {} : { [ORIGIN_HEADERS.key]: raw.key }),
  }
}

/** Headers without the {@link ORIGIN_HEADERS}. */
export function withoutOrigin(headers: Headers | undefined): Headers | undefined {
  if (!headers) return headers
  let found = false
  for (const k in headers) if (ORIGIN_NAMES.has(k)) found = true
  if (!found) return headers
  const out: { [k: string]: string } = {}
  for (const [k, v] of Object.entries(headers)) if (!ORIGIN_NAMES.has(k)) out[k] = v
  return Object.keys(out).length ? Object.freeze(out) : undefined
}

/**
 * The record as it was first read, for a record read back from a source's repartition topic
 * (same value bytes; topic, partition, offset, key, timestamp and headers from the origin
 * headers). A record without origin headers is returned as is.
 */
export function originOf(raw: RawRecord): RawRecord {
  const h = raw.headers
  const topic = h?.[ORIGIN_HEADERS.topic]
  if (!h || topic === undefined) return raw
  const num = (name: string, fallback: number): number => {
    const n = Number(h[name])
    return Number.isFinite(n) ? n : fallback
  }
  const headers = withoutOrigin(h)
  return {
    topic,
    partition: num(ORIGIN_HEADERS.partition, raw.partition),
    offset: num(ORIGIN_HEADERS.offset, raw.offset),
    key: h[ORIGIN_HEADERS.key] ?? null,
    value: raw.value,
    timestamp: num(ORIGIN_HEADERS.timestamp, raw.timestamp),
    ...(headers ? { headers } : {}),
  }
}

/** The headers of a dead letter: the input's own, then the `hermes.dlq.*` ones. */
export function deadLetterHeaders(raw: RawRecord, app: string, phase: Phase, nodeId: string, reason: string): Headers {
  return {
    ...(raw.headers ?? {}),
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.phase]: phase,
    [DLQ_HEADERS.node]: nodeId,
    [DLQ_HEADERS.topic]: raw.topic,
    [DLQ_HEADERS.partition]: String(raw.partition),
    [DLQ_HEADERS.offset]: String(raw.offset),
    [DLQ_HEADERS.timestamp]: String(raw.timestamp),
    [DLQ_HEADERS.app]: app,
  }
}
