/**
 * The recorded history a backtest replays: the input records of the world in the runs that
 * processed them (embedded: read from the log), or one run of a configuration snapshot and the
 * events read (Kafka, where the runs are not known).
 */
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { LogEntry } from '../../pipeline/embedded/log.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import type { Settings } from '../../operators/settings.ts'

/** One recorded input record, where it was appended. */
export interface RecordedInput {
  topic: string
  partition: number
  key: string | null
  value: Buffer | null
  ts: number
}

/**
 * The recorded inputs in the runs that processed them: each inner list was appended before one
 * run of the pipeline (an hour of `npm start`, a publish, a simulated event).
 */
export type History = RecordedInput[][]

/**
 * Where the console records the moves of event time it makes after a run (a simulated event's
 * settle, EmbeddedWorld.simulate): one record a move, its timestamp the time moved to, so that a
 * replay moves time at the same points and decides what the world decided. No topology reads it.
 */
export const CLOCK_TOPIC = 'console.clock'

/** The external inputs of the two topologies (what no node of theirs produces). */
export function inputTopics(settings: Settings): string[] {
  const t = settings.topics
  return [t.events, t.items, t.tasks, t.materials, t.users, t.audiences]
}

/**
 * The history of an embedded log: its input records grouped into the runs that processed them.
 * A run boundary is where the log holds a record the pipeline produced (a decision, a changelog,
 * a repartitioned record...) between two input records: inputs were appended, then a run wrote.
 */
export function historyOfLog(log: EmbeddedLog, inputs: readonly string[]): History {
  const isInput = new Set([...inputs, CLOCK_TOPIC])
  const all: Array<{ seq: number; input: RecordedInput | null }> = []
  for (const topic of log.topicNames()) {
    const input = isInput.has(topic)
    for (let p = 0; p < log.partitions(topic); p++) {
      for (let o = 0; o < log.endOffset(topic, p); o++) {
        const e = log.read(topic, p, o) as LogEntry
        all.push({ seq: e.seq, input: input ? { topic, partition: p, key: e.key, value: e.value, ts: e.timestamp } : null })
      }
    }
  }
  all.sort((a, b) => a.seq - b.seq)
  const history: History = []
  let batch: RecordedInput[] = []
  let outputSince = false
  for (const a of all) {
    if (!a.input) {
      outputSince = true
      continue
    }
    if (a.input.topic === CLOCK_TOPIC) {
      // A move of event time after a run: it belongs to the run before it (runBatch).
      batch.push(a.input)
      continue
    }
    if (outputSince && batch.length) {
      history.push(batch)
      batch = []
    }
    outputSince = false
    batch.push(a.input)
  }
  if (batch.length) history.push(batch)
  return history
}

/**
 * A history of one run from a configuration snapshot, behavior events and item events (Kafka:
 * the recorded runs are not known). Item events are keyed by item, as producers key them.
 */
export function historyOfSnapshot(settings: Settings, partitions: (topic: string) => number, o: { tasks: Iterable<unknown>; materials: Iterable<unknown>; users: Iterable<unknown>; audiences: Iterable<unknown>; events: Iterable<{ userId: string; ts: number }>; items?: Iterable<{ itemId: string; ts: number }> }): History {
  const t = settings.topics
  const batch: RecordedInput[] = []
  const put = (topic: string, key: string, value: unknown, ts: number): void => {
    batch.push({ topic, partition: partitionFor(key, partitions(topic)), key, value: Buffer.from(JSON.stringify(value)), ts })
  }
  for (const m of o.materials) put(t.materials, (m as { materialId: string }).materialId, m, 0)
  for (const x of o.tasks) put(t.tasks, (x as { taskId: string }).taskId, x, 0)
  for (const u of o.users) put(t.users, (u as { userId: string }).userId, u, 0)
  for (const a of o.audiences) put(t.audiences, (a as { userId: string }).userId, a, 0)
  for (const e of o.events) put(t.events, e.userId, e, e.ts)
  for (const e of o.items ?? []) put(t.items, e.itemId, e, e.ts)
  return [batch]
}
