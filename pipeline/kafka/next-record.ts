import type { KafkaApp } from './kafka-app.ts'
import type { Task } from '../runtime/task.ts'
import type { PartitionBuffer } from './source.ts'

/** What the processing loop does next. */
export type NextRecord =
  | { kind: 'record'; app: KafkaApp; buffer: PartitionBuffer }
  /** An input partition that may hold an earlier record is still being fetched. */
  | { kind: 'wait' }
  /** No task can proceed before records this process wrote to its inputs arrive (exactly-once: are committed). */
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
 * across all assigned partitions of all apps. It waits instead when a partition with nothing
 * buffered may still hold an earlier record: one that was behind when assigned (always), or a
 * non-internal one whose last fetch saw more data (up to `maxTaskIdleMs` after it ran empty), or
 * one holding records of a transaction whose marker has not been read yet.
 *
 * A head is skipped when a task reading it has a record of ours on its way to one of its inputs
 * (repartitioned, or written by another app of this process) more than `maxAheadMs` earlier: in
 * embedded mode that record would be read first. The other tasks go on meanwhile; only when no
 * task can proceed does the loop wait for those records (`in-flight`: with exactly-once they
 * become readable when committed).
 */
export function nextRecord(apps: readonly KafkaApp[], o: NextRecordOptions): NextRecord {
  let best: PartitionBuffer | undefined
  let bestApp: KafkaApp | undefined
  let bestTs = Infinity
  let wait = false
  let held = false
  for (const a of apps) {
    const arriving = a.inFlight.size() > 0 ? new Map<Task, number>() : undefined
    for (const b of a.source.buffers.values()) {
      if (b.head < b.records.length) {
        const ts = (b.records[b.head] as { timestamp: number }).timestamp
        if (ts >= bestTs) continue
        if (arriving && earliestArriving(a, b.tp, arriving) + o.maxAheadMs < ts) {
          held = true
          continue
        }
        bestTs = ts
        best = b
        bestApp = a
        continue
      }
      if (b.fetched < b.initialEnd || b.filter.held() > 0 || (!b.internal && b.fetched < b.end && o.now - b.emptySince < o.maxTaskIdleMs)) wait = true
    }
  }
  // Waiting anyway: with exactly-once, a commit makes our own records readable meanwhile.
  if (held && (wait || !best)) return { kind: 'in-flight' }
  if (wait) return { kind: 'wait' }
  return best && bestApp ? { kind: 'record', app: bestApp, buffer: best } : { kind: 'none' }
}

/**
 * The earliest event time of ours on its way to an empty input of a task reading `tp` (cached
 * per task in `memo`). A partition with records buffered is left out: what is on its way there
 * comes after them, and its head is a candidate of its own.
 */
function earliestArriving(a: KafkaApp, tp: string, memo: Map<Task, number>): number {
  let min = Infinity
  for (const owner of a.owners.get(tp) ?? []) {
    let m = memo.get(owner.task)
    if (m === undefined) {
      m = Infinity
      for (const b of a.taskBuffers.get(owner.task) ?? []) if (b.head >= b.records.length) m = Math.min(m, a.inFlight.minFor(b.tp))
      memo.set(owner.task, m)
    }
    if (m < min) min = m
  }
  return min
}
