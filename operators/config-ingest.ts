/**
 * Configuration Center ingest, shared by the operators that hold tasks, materials and stats as
 * broadcast state: validate each record, apply it at once, and reject a bad one with its reason
 * (dead-letter topic) while the previous version stays in force.
 */
import type { BroadcastStore, ProcessorContext, Record } from '../pipeline/api/index.ts'
import type { MaterialConfig, MaterialStats, TaskConfig } from './config.ts'
import { isDeletion, materialSchema, parseWith, statsSchema, taskSchema } from './config.ts'

/** Topic names of the configuration streams. */
export interface ConfigTopics {
  tasks: string
  materials: string
  stats: string
}

/** What an ingest did with one record. */
export type IngestResult =
  | { kind: 'task'; id: string; task: TaskConfig | null; previous: TaskConfig | undefined }
  | { kind: 'material'; id: string }
  | { kind: 'stats'; id: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'ignored' }

export interface IngestStores {
  tasks?: BroadcastStore<TaskConfig>
  materials?: BroadcastStore<MaterialConfig>
  stats?: BroadcastStore<MaterialStats>
}

function idOf(record: Record<unknown>, field: string): string | null {
  if (record.key) return record.key
  const v = record.value as { [k: string]: unknown } | null
  return v && typeof v[field] === 'string' ? (v[field] as string) : null
}

/**
 * Applies one broadcast record. Invalid records are dead-lettered by the task of partition 0
 * only, so one bad record gives one dead letter however many tasks see it. When several nodes
 * of a topology ingest the same topic, all but one pass `deadLetter: false` for it, so the
 * record is still dead-lettered once.
 */
export function ingestConfig(ctx: ProcessorContext<unknown>, topics: ConfigTopics, stores: IngestStores, record: Record<unknown>, options: { deadLetter?: boolean } = {}): IngestResult {
  const reject = (reason: string): IngestResult => {
    if (ctx.partition === 0 && options.deadLetter !== false) {
      ctx.deadLetter(record, reason)
      ctx.count('config_rejected', { reason: record.topic })
    }
    return { kind: 'rejected', reason }
  }
  if (record.topic === topics.tasks && stores.tasks) {
    const id = idOf(record, 'taskId')
    if (!id) return reject('task record has neither a key nor a taskId')
    const previous = stores.tasks.get(id)
    if (isDeletion(record.value)) {
      stores.tasks.delete(id)
      return { kind: 'task', id, task: null, previous }
    }
    const parsed = parseWith(taskSchema, `task ${id}`, record.value)
    if (!parsed.ok) return reject(parsed.reason)
    if (parsed.value.taskId !== id) return reject(`task record key "${id}" differs from its taskId "${parsed.value.taskId}"`)
    if (stores.materials) {
      const unknown = parsed.value.materials.filter((m) => !stores.materials?.has(m))
      if (unknown.length) return reject(`invalid task ${id}: unknown material${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (load materials before the tasks that use them)`)
    }
    stores.tasks.put(id, parsed.value)
    return { kind: 'task', id, task: parsed.value, previous }
  }
  if (record.topic === topics.materials && stores.materials) {
    const id = idOf(record, 'materialId')
    if (!id) return reject('material record has neither a key nor a materialId')
    if (isDeletion(record.value)) {
      stores.materials.delete(id)
      return { kind: 'material', id }
    }
    const parsed = parseWith(materialSchema, `material ${id}`, record.value)
    if (!parsed.ok) return reject(parsed.reason)
    stores.materials.put(id, parsed.value)
    return { kind: 'material', id }
  }
  if (record.topic === topics.stats && stores.stats) {
    const id = idOf(record, 'materialId')
    if (!id) return reject('material-stats record has neither a key nor a materialId')
    if (record.value === null) {
      stores.stats.delete(id)
      return { kind: 'stats', id }
    }
    const parsed = parseWith(statsSchema, `material-stats ${id}`, record.value)
    if (!parsed.ok) return reject(parsed.reason)
    stores.stats.put(id, parsed.value)
    return { kind: 'stats', id }
  }
  return { kind: 'ignored' }
}

/** Whether a task may fire at event time `ts`. */
export function taskLive(task: TaskConfig | undefined, ts: number): task is TaskConfig {
  return !!task && task.status === 'active' && ts >= task.validFrom && (task.validUntil === null || ts < task.validUntil)
}

/** Whether a user is in a task's audience: in one of the included segments (or any, if none) and in no excluded one. */
export function inAudience(task: TaskConfig, segments: readonly string[]): boolean {
  if (task.audience.exclude.some((s) => segments.includes(s))) return false
  return task.audience.include.length === 0 || task.audience.include.some((s) => segments.includes(s))
}
