/**
 * Configuration Center ingest, shared by the operators that hold tasks, materials and stats as
 * broadcast state: validate each record, apply it at once, and reject a bad one with its reason
 * (dead-letter topic) while the previous version stays in force.
 *
 * The order of the configuration topics does not decide what is valid: a task naming a material
 * not yet seen waits for it (its previous version stays in force) and is applied the moment the
 * last of its materials arrives. The wait is bounded in event time, so it is deterministic in
 * embedded mode: once the watermark passes the task record's time plus `materialWaitMs`, an
 * event-time timer of the reporting node dead-letters the task with the missing materials named
 * ({@link onMaterialWaitTimer}), and the next broadcast record drops the wait from broadcast
 * state (which only `processBroadcast` may write, so that every task holds the same state).
 */
import type { BroadcastStore, Headers, ProcessorContext, Timer } from '../pipeline/api/index.ts'
import { Record } from '../pipeline/api/index.ts'
import type { MaterialConfig, MaterialStats, TaskConfig } from './config.ts'
import { isDeletion, materialSchema, parseWith, statsSchema, taskSchema } from './config.ts'
import { taskMaterials } from './experiments.ts'
import { DEFAULT_MATERIAL_WAIT_MS } from './settings.ts'
import { taskKey } from './types.ts'

/**
 * Waiting tasks are kept in the materials broadcast store under ids with this prefix: broadcast
 * state, so they survive a restart of an embedded run like the rest of the configuration, and
 * invisible to readers, which look materials up by id (material ids may not start with U+0000).
 */
const WAITING_PREFIX = '\u0000waiting-task:'

/** Name of the event-time timer that ends a task's wait for its materials (see {@link onMaterialWaitTimer}). */
export const MATERIAL_WAIT_TIMER = 'material-wait'

/** A task held until its materials arrive, with the record it came in (for the dead letter). */
interface WaitingTask {
  task: TaskConfig
  missing: string[]
  /** Event time at which the wait ends. */
  deadline: number
  /** The task record as read: its bytes (base64) so that its dead letter can be replayed as it was. */
  origin: { key: string | null; bytes: string | null; value: unknown; timestamp: number; headers: Headers; topic: string; partition: number; offset: number }
}

/** A task applied because the last of its materials arrived. */
export interface AppliedTask {
  id: string
  task: TaskConfig
  previous: TaskConfig | undefined
}

/** Topic names of the configuration streams. */
export interface ConfigTopics {
  tasks: string
  materials: string
  stats: string
}

/** What an ingest did with one record. */
export type IngestResult =
  | { kind: 'task'; id: string; task: TaskConfig | null; previous: TaskConfig | undefined }
  | { kind: 'material'; id: string; applied: AppliedTask[] }
  | { kind: 'waiting'; id: string; missing: string[] }
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

/** Options of {@link ingestConfig}. */
export interface IngestOptions {
  /**
   * Whether this node reports bad records (default true). When several nodes of a topology
   * ingest the same topic, all but one pass false for it, so a record is dead-lettered once;
   * the reporting node also arms the timer that ends a task's wait for its materials.
   */
  deadLetter?: boolean
  /** How long (event time) a task waits for materials not yet seen; `hermes.materialWaitMs`. */
  materialWaitMs?: number
  /**
   * A check of a parsed task against the settings (e.g. relation types named by an item
   * trigger): the reason it is refused, or null. A refused task is rejected like an invalid one.
   */
  checkTask?: (task: TaskConfig) => string | null
}

/**
 * Applies one broadcast record. Invalid records are dead-lettered by the task of partition 0
 * only, so one bad record gives one dead letter however many tasks see it. A task naming
 * materials not yet seen comes back as `waiting` (see the module comment); a material that
 * completes waiting tasks comes back with them in `applied`.
 */
export function ingestConfig(ctx: ProcessorContext<unknown>, topics: ConfigTopics, stores: IngestStores, record: Record<unknown>, options: IngestOptions = {}): IngestResult {
  const reports = options.deadLetter !== false
  const reject = (reason: string): IngestResult => {
    if (ctx.partition === 0 && reports) {
      ctx.deadLetter(record, reason)
      ctx.count('config_rejected', { reason: record.topic })
    }
    return { kind: 'rejected', reason }
  }
  // Waits the watermark passed are over (their timers have fired and reported them).
  if (stores.materials && stores.tasks) dropExpired(stores.materials, ctx.watermark())
  if (record.topic === topics.tasks && stores.tasks) {
    const id = idOf(record, 'taskId')
    if (!id) return reject('task record has neither a key nor a taskId')
    const previous = stores.tasks.get(id)
    // A newer version (or a deletion) of a waiting task replaces its wait.
    if (stores.materials) stores.materials.delete(`${WAITING_PREFIX}${id}`)
    if (isDeletion(record.value)) {
      stores.tasks.delete(id)
      return { kind: 'task', id, task: null, previous }
    }
    const parsed = parseWith(taskSchema, `task ${id}`, record.value)
    if (!parsed.ok) return reject(parsed.reason)
    if (parsed.value.taskId !== id) return reject(`task record key "${id}" differs from its taskId "${parsed.value.taskId}"`)
    const refused = options.checkTask?.(parsed.value)
    if (refused) return reject(`invalid task ${id}: ${refused}`)
    const reserved = parsed.value.materials.find((m) => m.startsWith('\u0000'))
    if (reserved !== undefined) return reject(`invalid task ${id}: materials: material ids may not start with U+0000`)
    if (stores.materials) {
      // Arm materials too (issue 12): a task applied without them decided that arm's users with no material.
      const missing = taskMaterials(parsed.value).filter((m) => !stores.materials?.has(m))
      if (missing.length) {
        // Counted from the watermark when the record is older (configuration without time is at
        // 0; on Kafka a restored watermark meets a backlog of old records): a deadline behind the
        // watermark would end the wait before the materials after it in the backlog are read.
        const wm = ctx.watermark()
        const deadline = Math.max(record.timestamp, Number.isFinite(wm) ? wm : -Infinity) + Math.max(1, options.materialWaitMs ?? DEFAULT_MATERIAL_WAIT_MS)
        const waiting: WaitingTask = {
          task: parsed.value,
          missing,
          deadline,
          origin: { key: record.key, bytes: ctx.inputBytes()?.toString('base64') ?? null, value: record.value, timestamp: record.timestamp, headers: record.headers, topic: record.topic, partition: record.partition, offset: record.offset },
        }
        stores.materials.put(`${WAITING_PREFIX}${id}`, waiting as unknown as MaterialConfig)
        if (reports) ctx.withKey(taskKey(MATERIAL_WAIT_TIMER, id), () => ctx.timers.registerEventTime(deadline, MATERIAL_WAIT_TIMER, { taskId: id }))
        ctx.count('config_waiting', { reason: record.topic })
        return { kind: 'waiting', id, missing }
      }
    }
    stores.tasks.put(id, parsed.value)
    return { kind: 'task', id, task: parsed.value, previous }
  }
  if (record.topic === topics.materials && stores.materials) {
    const id = idOf(record, 'materialId')
    if (!id) return reject('material record has neither a key nor a materialId')
    if (id.startsWith('\u0000')) return reject(`material id ${JSON.stringify(id)} may not start with U+0000`)
    if (isDeletion(record.value)) {
      stores.materials.delete(id)
      return { kind: 'material', id, applied: [] }
    }
    const parsed = parseWith(materialSchema, `material ${id}`, record.value)
    if (!parsed.ok) return reject(parsed.reason)
    stores.materials.put(id, parsed.value)
    return { kind: 'material', id, applied: stores.tasks ? applyReady(stores.materials, stores.tasks) : [] }
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

/** The waiting tasks held in a materials store. */
function waitingTasks(materials: BroadcastStore<MaterialConfig>): Array<[string, WaitingTask]> {
  const out: Array<[string, WaitingTask]> = []
  for (const [k, v] of materials.entries()) if (k.startsWith(WAITING_PREFIX)) out.push([k.slice(WAITING_PREFIX.length), v as unknown as WaitingTask])
  return out
}

/** Applies every waiting task whose materials are all there now. */
function applyReady(materials: BroadcastStore<MaterialConfig>, tasks: BroadcastStore<TaskConfig>): AppliedTask[] {
  const applied: AppliedTask[] = []
  for (const [id, w] of waitingTasks(materials)) {
    if (!taskMaterials(w.task).every((m) => materials.has(m))) continue
    materials.delete(`${WAITING_PREFIX}${id}`)
    const previous = tasks.get(id)
    tasks.put(id, w.task)
    applied.push({ id, task: w.task, previous })
  }
  return applied
}

/** Drops the waits the watermark has passed (the timer of each has reported it). */
function dropExpired(materials: BroadcastStore<MaterialConfig>, watermark: number): void {
  for (const [id, w] of waitingTasks(materials)) if (w.deadline <= watermark) materials.delete(`${WAITING_PREFIX}${id}`)
}

/**
 * Handles the timer {@link ingestConfig} arms for a waiting task in the reporting node: when the
 * watermark reaches the end of the wait and the task still waits (not applied, replaced or
 * deleted since), the task of partition 0 dead-letters it with the missing materials named.
 * Call it first in that node's `onTimer`, with the stores given to `ingestConfig`; returns
 * whether the timer was this one. Without it, a wait that runs out is dropped unreported.
 */
export function onMaterialWaitTimer(ctx: ProcessorContext<unknown>, stores: IngestStores, timer: Timer): boolean {
  if (timer.name !== MATERIAL_WAIT_TIMER) return false
  const { taskId } = (timer.payload ?? {}) as { taskId?: string }
  const w = stores.materials && typeof taskId === 'string' ? (stores.materials.get(`${WAITING_PREFIX}${taskId}`) as WaitingTask | undefined) : undefined
  // A newer version of the task waits with its own deadline and timer.
  if (!w || w.deadline !== timer.time || ctx.partition !== 0) return true
  const missing = taskMaterials(w.task).filter((m) => !stores.materials?.has(m))
  const { bytes, ...origin } = w.origin
  ctx.deadLetter(
    new Record({ ...origin, value: typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : origin.value }),
    `invalid task ${taskId}: unknown material${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (waited until event time ${new Date(w.deadline).toISOString()}, hermes.materialWaitMs after the task; publish the material, then the task again)`,
  )
  ctx.count('config_rejected', { reason: w.origin.topic })
  return true
}
