import type { KafkaApp } from './kafka-app.ts'
import type { PartitionBuffer } from './source.ts'

/** What the processing loop does next. */
export type NextRecord =
  | { kind: 'record'; app: KafkaApp; buffer: PartitionBuffer }
  /** An input partition that may hold an earlier record is still being fetched. */
  | { kind: 'wait' }
  /** A record this process wrote to one of its inputs must arrive first (exactly-once: be committed). */
  | { kind: 'in-flight' }
  | { kind: 'none' }

/** Inputs of {@link nextRecord}: the loop's clock reading and the two waiting bounds. */
export interface NextRecordOptions {
  now: number
  maxTaskIdleMs: number
  maxAheadMs: number
}

/**
 * Picks the next record as the embedded log would: the buffered head with the lowest timestamp
 * across all assigned partitions of all apps, records of sources without event time (declared
 * `eventTime: false`) first. It waits instead when a partition with nothing
 * buffered may still hold an earlier record: one that was behind when assigned (always), or a
 * non-internal one whose last fetch saw more data (up to `maxTaskIdleMs` after it ran empty), one
 * holding records of a transaction whose marker has not been read yet, or one with a record of
 * ours on its way (repartitioned, or written by another app of this process) more than
 * `maxAheadMs` earlier. That wait is global, not per task: holding back only the tasks (or
 * sub-topologies) with a record on its way lets the others raise the app clock and write
 * downstream ahead of it, and material-stats then differs from embedded mode (see
 * test/kafka/decisions.kafka.test.ts, kafka.maxAheadMs: 0).
 */
export function nextRecord(apps: readonly KafkaApp[], o: NextRecordOptions): NextRecord {
  let best: PartitionBuffer | undefined
  let bestApp: KafkaApp | undefined
  let bestTs = Infinity
  let wait = false
  let arriving = Infinity
  for (const a of apps) {
    for (const b of a.source.buffers.values()) {
      if (b.head < b.records.length) {
        // Configuration (no event time) first: its log timestamp is the time it was published, which
        // would put it after the older events of a replay it must apply to.
        const ts = b.untimed ? -Infinity : (b.records[b.head] as { timestamp: number }).timestamp
        if (ts < bestTs) {
          bestTs = ts
          best = b
          bestApp = a
        }
        continue
      }
      if (b.fetched < b.initialEnd || b.filter.held() > 0 || (!b.internal && b.fetched < b.end && o.now - b.emptySince < o.maxTaskIdleMs)) wait = true
      arriving = Math.min(arriving, a.inFlight.minFor(b.tp))
    }
  }
  if (arriving + o.maxAheadMs < bestTs) return { kind: 'in-flight' }
  if (wait) return { kind: 'wait' }
  return best && bestApp ? { kind: 'record', app: bestApp, buffer: best } : { kind: 'none' }
}
