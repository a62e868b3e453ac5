/**
 * Configuration changes: the current records of a kind, and create/update, pause/resume, delete
 * and rollback as new versions published to the world. Experiments live inside tasks
 * (`task.experiment`): an experiment's record is `{id, arms}`, and changing it republishes every
 * task that runs it (each such task gets a version of its own, naming the experiment change).
 */
import type { TaskConfig } from '../../operators/config.ts'
import type { ConsoleContext } from './context.ts'
import type { FieldError, Kind } from './kinds.ts'
import { isPaused, pausable, validateRecord } from './kinds.ts'
import type { Action, Version } from './store.ts'

/** A change refused before publishing: 400 with field errors, or 404. */
export class ChangeError extends Error {
  constructor(readonly status: 400 | 404, message: string, readonly errors?: FieldError[]) {
    super(message)
  }
}

/** The records of a kind in force, by id. */
export function currentRecords(ctx: ConsoleContext, kind: Kind): Map<string, unknown> {
  if (kind !== 'experiments') return ctx.world.current(kind)
  const out = new Map<string, unknown>()
  for (const t of ctx.world.current('tasks').values()) {
    const e = (t as Partial<TaskConfig>).experiment
    if (e && typeof e.id === 'string' && !out.has(e.id)) out.set(e.id, e)
  }
  // An experiment no task runs yet lives only in the console's versions.
  for (const id of ctx.store.ids('experiments')) {
    if (out.has(id)) continue
    const last = ctx.store.versions('experiments', id, undefined).at(-1)
    if (last && last.record !== null) out.set(id, last.record)
  }
  return out
}

/** One row of a kind's list. */
export interface ListRow {
  id: string
  version: number
  paused: boolean
  record: unknown
  updatedBy: string
  updatedAt: string | null
}

export function listRecords(ctx: ConsoleContext, kind: Kind): ListRow[] {
  const rows: ListRow[] = []
  for (const [id, record] of currentRecords(ctx, kind)) {
    const last = ctx.store.versions(kind, id, record).at(-1) as Version
    rows.push({ id, version: last.version, paused: isPaused(record), record, updatedBy: last.by, updatedAt: last.at })
  }
  return rows.sort((a, b) => a.id.localeCompare(b.id))
}

export function recordDetail(ctx: ConsoleContext, kind: Kind, id: string): { id: string; current: { version: number; record: unknown; paused: boolean } | null; versions: Version[] } | null {
  const record = currentRecords(ctx, kind).get(id)
  const versions = ctx.store.versions(kind, id, record)
  if (!versions.length) return null
  const last = versions.at(-1) as Version
  return { id, current: record === undefined ? null : { version: last.version, record, paused: isPaused(record) }, versions }
}

/** A task republished because the experiment it runs changed. */
interface Cascade {
  taskId: string
  task: unknown
  previous: unknown
}

/** Publishes one record (null: deletes it) of a kind that has a topic, or an experiment. */
async function publish(ctx: ConsoleContext, kind: Kind, id: string, record: unknown): Promise<Cascade[]> {
  if (kind !== 'experiments') {
    await ctx.world.publish(kind, id, record)
    return []
  }
  const changed: Cascade[] = []
  for (const [taskId, t] of ctx.world.current('tasks')) {
    const task = t as { [k: string]: unknown }
    if ((task.experiment as { id?: string } | undefined)?.id !== id) continue
    const { experiment: _drop, ...rest } = task
    const next = record === null ? rest : { ...rest, experiment: record }
    const v = validateRecord('tasks', next)
    if (!v.ok) throw new ChangeError(400, `task ${taskId} would be invalid with this experiment`, v.errors.map((e) => ({ path: e.path, message: `task ${taskId}: ${e.message}` })))
    changed.push({ taskId, task: next, previous: t })
  }
  for (const c of changed) await ctx.world.publish('tasks', c.taskId, c.task)
  return changed
}

/**
 * Makes a change a new version: validates the record (as ingest would), checks the base
 * version, publishes, records who/when/why. Returns the new version.
 * @throws ChangeError (400 invalid, 404 unknown), VersionConflict (409)
 */
export async function changeRecord(ctx: ConsoleContext, o: { kind: Kind; id: string; user: string; action: Action; comment: string; record: unknown; baseVersion?: number }): Promise<number> {
  const { kind, id } = o
  const world = currentRecords(ctx, kind).get(id)
  // Published as the author wrote it, not with the schema's defaults filled in: the pipeline
  // applies the defaults itself, and a later change of a default then reaches this record too.
  const record = o.record
  if (record !== null) {
    const v = validateRecord(kind, record)
    if (!v.ok) throw new ChangeError(400, `invalid ${kind.replace(/s$/, '')} ${id}`, v.errors)
    const fieldId = kind === 'tasks' ? 'taskId' : kind === 'materials' ? 'materialId' : kind === 'experiments' ? 'id' : null
    if (fieldId && (record as { [k: string]: unknown })[fieldId] !== id) throw new ChangeError(400, `the record's ${fieldId} must be "${id}", the id in the URL`, [{ path: fieldId, message: `must be "${id}" (the id in the URL)` }])
    if (kind === 'audiences') {
      const r = record as { userId: string; segmentId: string }
      if (`${r.segmentId}:${r.userId}` !== id) throw new ChangeError(400, `an audience id is <segmentId>:<userId>: "${r.segmentId}:${r.userId}", not "${id}"`, [{ path: 'segmentId', message: `id must be "${r.segmentId}:${r.userId}"` }])
    }
  } else if (world === undefined) throw new ChangeError(404, `no ${kind.replace(/s$/, '')} "${id}"`)
  let cascade: Cascade[] = []
  const version = await ctx.store.change({
    kind,
    id,
    user: o.user,
    action: o.action,
    comment: o.comment,
    record,
    worldRecord: world,
    ...(o.baseVersion !== undefined ? { baseVersion: o.baseVersion } : {}),
    publish: async () => {
      cascade = await publish(ctx, kind, id, record)
    },
  })
  for (const c of cascade) {
    // Published already, with the experiment: this only writes the task's version down.
    await ctx.store.change({ kind: 'tasks', id: c.taskId, user: o.user, action: 'update', comment: `experiment ${id} version ${version}: ${o.comment}`, record: c.task, worldRecord: c.previous, publish: async () => {} })
  }
  return version
}

/** Pause or resume: the record again with `status` paused or active. */
export async function setPaused(ctx: ConsoleContext, o: { kind: Kind; id: string; user: string; comment: string; paused: boolean }): Promise<number> {
  if (!pausable(o.kind)) throw new ChangeError(400, `${o.kind} cannot be paused: only tasks and materials have a status (pause the tasks that use it instead)`)
  const record = currentRecords(ctx, o.kind).get(o.id)
  if (record === undefined) throw new ChangeError(404, `no ${o.kind.replace(/s$/, '')} "${o.id}"`)
  const next = { ...(record as object), status: o.paused ? 'paused' : 'active' }
  return changeRecord(ctx, { kind: o.kind, id: o.id, user: o.user, action: o.paused ? 'pause' : 'resume', comment: o.comment, record: next })
}

/** Rollback: the record of an earlier version published as a new version. */
export async function rollback(ctx: ConsoleContext, o: { kind: Kind; id: string; user: string; comment: string; version: number }): Promise<number> {
  const versions = ctx.store.versions(o.kind, o.id, currentRecords(ctx, o.kind).get(o.id))
  const target = versions.find((v) => v.version === o.version)
  if (!target) throw new ChangeError(404, `${o.kind.replace(/s$/, '')} "${o.id}" has no version ${o.version} (versions: ${versions.map((v) => v.version).join(', ') || 'none'})`)
  return changeRecord(ctx, { kind: o.kind, id: o.id, user: o.user, action: 'rollback', comment: o.comment || `rollback to version ${o.version}`, record: target.record })
}
