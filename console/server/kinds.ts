/**
 * The kinds of configuration the console edits, and how each is validated, keyed and paused.
 * Validation is the ingest's own zod schemas (operators/config.ts), so the console accepts
 * exactly what the pipeline would apply; errors keep zod's field paths for the form.
 */
import type { z } from 'zod'
import { audienceSchema, materialSchema, taskSchema } from '../../operators/config.ts'
import { unknownField } from '../../operators/config.ts'

/** A kind of configuration record the console lists and edits. */
export const KINDS = ['tasks', 'materials', 'audiences', 'experiments'] as const
export type Kind = (typeof KINDS)[number]

/** One problem of a record, at a dotted field path ('' for the record itself). */
export interface FieldError {
  path: string
  message: string
}

/** Whether a string names a kind. */
export function isKind(k: string): k is Kind {
  return (KINDS as readonly string[]).includes(k)
}

/** zod issues as field errors; an unknown field is reported at its own path. */
export function issuesToErrors(issues: readonly z.core.$ZodIssue[], prefix: readonly (string | number)[] = []): FieldError[] {
  const out: FieldError[] = []
  for (const i of issues) {
    const base = [...prefix, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))]
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: [...base, k].join('.'), message: i.message.includes(`"${k}"`) ? (i.message.split('; ').find((m) => m.includes(`"${k}"`)) ?? i.message) : i.message })
    } else out.push({ path: base.join('.'), message: i.message })
  }
  return out
}

const EXPERIMENT_FIELDS = ['id', 'arms']

/** A record's id field by kind (audiences: `<segmentId>:<userId>`; experiments: `id`). */
export function idOf(kind: Kind, record: unknown): string | null {
  if (record === null || typeof record !== 'object') return null
  const r = record as { [k: string]: unknown }
  const s = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
  if (kind === 'tasks') return s(r.taskId)
  if (kind === 'materials') return s(r.materialId)
  if (kind === 'audiences') return s(r.segmentId) && s(r.userId) ? `${r.segmentId as string}:${r.userId as string}` : null
  return s(r.id)
}

/**
 * Validates a record of a kind with the ingest's schema. Experiments live inside tasks today
 * (`task.experiment`), so an experiment is checked as the `experiment` field of a task, with
 * the paths made relative to it.
 */
export function validateRecord(kind: Kind, record: unknown): { ok: true; value: unknown } | { ok: false; errors: FieldError[] } {
  if (kind === 'experiments') {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return { ok: false, errors: [{ path: '', message: 'an experiment is an object {id, arms: [{name, weight, policy}]}' }] }
    const extra = Object.keys(record).filter((k) => !EXPERIMENT_FIELDS.includes(k))
    if (extra.length) return { ok: false, errors: extra.map((k) => ({ path: k, message: unknownField(k, EXPERIMENT_FIELDS) })) }
    const probe = { taskId: 'probe', trigger: { type: 'event', events: ['probe'] }, materials: ['probe'], experiment: record }
    const r = taskSchema.safeParse(probe)
    if (r.success) return { ok: true, value: r.data.experiment }
    const errors = issuesToErrors(r.error.issues).map((e) => ({ ...e, path: e.path.replace(/^experiment\.?/, '') }))
    return { ok: false, errors }
  }
  const schema = (kind === 'tasks' ? taskSchema : kind === 'materials' ? materialSchema : audienceSchema) as z.ZodType
  const r = schema.safeParse(record)
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: issuesToErrors(r.error.issues) }
}

/** Whether a record of this kind can be paused (its schema has a `status` field). */
export function pausable(kind: Kind): boolean {
  return kind === 'tasks' || kind === 'materials'
}

/** Whether a record is paused. */
export function isPaused(record: unknown): boolean {
  return record !== null && typeof record === 'object' && (record as { status?: unknown }).status === 'paused'
}
