import type { Task } from '../runtime/task.ts'
import type { HoldScope } from './hold-scope.ts'
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
 * `maxAheadMs` earlier. Without `scope` that last wait is global: every task waits. With a
 * {@link HoldScope}, only the tasks whose order that record can change wait, and the lowest head
 * among the others is taken (the loop no longer stalls at every produce/fetch round trip).
 */
export function nextRecord(apps: readonly KafkaApp[], o: NextRecordOptions, scope?: HoldScope): NextRecord {
  if (!scope) return nextRecordGlobal(apps, o)
  // Pass 1: what the records of ours on their way hold back (per unit, or per task).
  const limits = scope.limits
  limits.fill(Infinity)
  let taskLimits: Map<Task, number> | undefined
  let held = false
  let wait = false
  for (let i = 0; i < apps.length; i++) {
    const a = apps[i] as KafkaApp
    for (const b of a.source.buffers.values()) {
      if (b.head < b.records.length) continue
      if (b.fetched < b.initialEnd || b.filter.held() > 0 || (!b.internal && b.fetched < b.end && o.now - b.emptySince < o.maxTaskIdleMs)) wait = true
      const t = a.inFlight.minFor(b.tp)
      if (t === Infinity) continue
      const limit = t + o.maxAheadMs
      for (const owner of a.owners.get(b.tp) ?? []) {
        const units = scope.holds(scope.unit(i, owner.task.sub.id))
        held = true
        if (units === null) {
          taskLimits ??= new Map()
          if (limit < (taskLimits.get(owner.task) ?? Infinity)) taskLimits.set(owner.task, limit)
        } else for (const u of units) if (limit < (limits[u] as number)) limits[u] = limit
      }
    }
  }
  // Pass 2: the lowest head that nothing holds back.
  let best: PartitionBuffer | undefined
  let bestApp: KafkaApp | undefined
  let bestTs = Infinity
  let blockedTs = Infinity
  for (let i = 0; i < apps.length; i++) {
    const a = apps[i] as KafkaApp
    for (const b of a.source.buffers.values()) {
      if (b.head >= b.records.length) continue
      const ts = b.untimed ? -Infinity : (b.records[b.head] as { timestamp: number }).timestamp
      if (ts >= bestTs) continue
      if (held && ts !== -Infinity && heldBack(a, i, b, ts, scope, taskLimits)) {
        if (ts < blockedTs) blockedTs = ts
        continue
      }
      bestTs = ts
      best = b
      bestApp = a
    }
  }
  // As without a scope: a record held back ahead of everything else asks for a commit (with
  // transactions our records become readable only then) rather than waiting for a fetch.
  if (wait) return blockedTs < bestTs ? { kind: 'in-flight' } : { kind: 'wait' }
  if (best && bestApp) return { kind: 'record', app: bestApp, buffer: best }
  return blockedTs < Infinity ? { kind: 'in-flight' } : { kind: 'none' }
}

/** Whether the head of `b` (at `ts`) is held back for one of the tasks reading it. */
function heldBack(a: KafkaApp, appIndex: number, b: PartitionBuffer, ts: number, scope: HoldScope, taskLimits: Map<Task, number> | undefined): boolean {
  for (const owner of a.owners.get(b.tp) ?? []) {
    if (ts > (scope.limits[scope.unit(appIndex, owner.task.sub.id)] as number)) return true
    if (taskLimits && ts > (taskLimits.get(owner.task) ?? Infinity)) return true
  }
  return false
}

/** {@link nextRecord} with the global wait: a record of ours on its way holds back every task. */
function nextRecordGlobal(apps: readonly KafkaApp[], o: NextRecordOptions): NextRecord {
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
