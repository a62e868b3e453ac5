/**
 * Snapshots of a replay at a run boundary: the memory state of both topologies and the in-memory
 * log they ran over, copied, so that any number of runs can resume from the same point without
 * replaying what came before. A runner opened on a restored snapshot continues as the one that
 * was copied would have: every task commits its state, timers, positions and watermark at the end
 * of a run, and the Task Center keeps in its state that it has planned (operators/task-center.ts),
 * so a restart repeats nothing.
 */
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { LogEntry } from '../../pipeline/embedded/log.ts'

/** Memory state as the runtime keeps it: one map per task, by `<app>/<task>`. */
export type StateMaps = Map<string, Map<string, Buffer>>

/** The state and log of a replay at a run boundary (immutable: restores copy it). */
export interface ReplaySnapshot {
  readonly maps: StateMaps
  readonly topics: ReadonlyArray<readonly [string, number]>
  /** Every record of the log, in append order. */
  readonly records: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly entry: LogEntry }>
  /** State entries and log records held, for the figures. */
  readonly size: { stateKeys: number; logRecords: number }
}

/** Copies of the maps (values are shared: the backend replaces a value, never changes it in place). */
function copyMaps(maps: StateMaps): StateMaps {
  return new Map([...maps].map(([id, m]) => [id, new Map(m)]))
}

/** Takes a snapshot of a log and the memory state that ran over it (after a run: all committed). */
export function takeSnapshot(log: EmbeddedLog, maps: StateMaps): ReplaySnapshot {
  const topics: Array<[string, number]> = []
  const records: Array<{ topic: string; partition: number; entry: LogEntry }> = []
  for (const topic of log.topicNames()) {
    const partitions = log.partitions(topic)
    topics.push([topic, partitions])
    for (let p = 0; p < partitions; p++) {
      const end = log.endOffset(topic, p)
      for (let o = 0; o < end; o++) records.push({ topic, partition: p, entry: log.read(topic, p, o) as LogEntry })
    }
  }
  records.sort((a, b) => a.entry.seq - b.entry.seq)
  const copy = copyMaps(maps)
  let stateKeys = 0
  for (const m of copy.values()) stateKeys += m.size
  return { maps: copy, topics, records, size: { stateKeys, logRecords: records.length } }
}

/** A fresh log and state equal to the snapshot's, for one run to resume from. */
export function restoreSnapshot(s: ReplaySnapshot): { log: EmbeddedLog; maps: StateMaps } {
  const log = EmbeddedLog.inMemory()
  for (const [topic, partitions] of s.topics) log.createTopic(topic, partitions)
  // Appended in the original order: offsets and the relative order of sequence numbers (the
  // runner's tie-break between equal timestamps) are those of the copied log.
  for (const { topic, partition, entry } of s.records) log.append(topic, partition, entry.key, entry.value, entry.timestamp, entry.headers)
  return { log, maps: copyMaps(s.maps) }
}
