/**
 * The Configuration Center's records: tasks, materials, audience memberships and user profiles,
 * validated with zod as they arrive, so a bad record is rejected with a reason that names the
 * field (and goes to the dead-letter topic) while the previous version stays in force.
 */
import { Cron } from 'croner'
import { z } from 'zod'
import { isValidZone } from './clock.ts'
import { checkRule } from './rules.ts'
import { POLICIES } from './scoring.ts'

const nonEmpty = z.string().min(1)

const ms = z.number().int().nonnegative()
const policy = z.enum(POLICIES)

const eventTrigger = z
  .object({
    type: z.literal('event'),
    events: z.array(nonEmpty).min(1),
    when: z.unknown().optional(),
    delayMs: ms.default(0),
    unless: z.object({ events: z.array(nonEmpty).min(1), withinMs: z.number().int().positive() }).optional(),
  })
  .superRefine((t, ctx) => {
    const problem = t.when === undefined ? null : checkRule(t.when, 'trigger.when')
    if (problem) ctx.addIssue({ code: 'custom', message: `malformed JsonLogic: ${problem}`, path: ['when'] })
  })

const scheduleTrigger = z
  .object({
    type: z.literal('schedule'),
    cron: nonEmpty,
    timezone: nonEmpty.default('UTC'),
    spreadMs: ms.default(0),
  })
  .superRefine((t, ctx) => {
    try {
      new Cron(t.cron, { timezone: 'UTC', paused: true })
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `bad cron expression "${t.cron}": ${(err as Error).message}`, path: ['cron'] })
    }
    if (!isValidZone(t.timezone)) ctx.addIssue({ code: 'custom', message: `unknown time zone "${t.timezone}" (use an IANA name such as Asia/Shanghai)`, path: ['timezone'] })
  })

const personalizedTrigger = z
  .object({
    type: z.literal('personalized'),
    windowStartHour: z.number().int().min(0).max(23),
    windowEndHour: z.number().int().min(1).max(24),
  })
  .refine((t) => t.windowEndHour > t.windowStartHour, { message: 'windowEndHour must be after windowStartHour', path: ['windowEndHour'] })

const trigger = z.discriminatedUnion('type', [eventTrigger, scheduleTrigger, personalizedTrigger], {
  error: (issue) => (issue.code === 'invalid_union' ? 'unknown trigger type: use "event", "schedule" or "personalized"' : undefined),
})

const window = z.object({ max: z.number().int().positive(), windowMs: z.number().int().positive() })

/**
 * A config record in its Avro form read as its JSON form (DESIGN.md, Contracts: both carry the
 * same fields): there an absent optional field is null, and a task's nested objects travel as
 * JSON text (schemas/task.avsc). Fields in `nullable` keep their null.
 */
function fromAvroForm(value: unknown, jsonFields: readonly string[], nullable: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const out: { [k: string]: unknown } = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === '__proto__' || (v === null && !nullable.includes(k))) continue
    if (typeof v === 'string' && jsonFields.includes(k)) {
      try {
        out[k] = JSON.parse(v)
      } catch {
        out[k] = v // left for the schema to reject with the field named
      }
    } else out[k] = v
  }
  return out
}

const taskFields = z.object({
  taskId: nonEmpty,
  status: z.enum(['active', 'paused', 'deleted']).default('active'),
  priority: z.number().default(0),
  channel: nonEmpty.default('push'),
  validFrom: z.number().default(0),
  validUntil: z.number().nullable().default(null),
  trigger,
  audience: z.object({ include: z.array(nonEmpty).default([]), exclude: z.array(nonEmpty).default([]) }).default({ include: [], exclude: [] }),
  materials: z.array(nonEmpty).min(1),
  fatigue: window.optional(),
  experiment: z
    .object({
      id: nonEmpty,
      arms: z.array(z.object({ name: nonEmpty, weight: z.number().positive(), policy })).min(1),
    })
    .optional(),
  policy: policy.default('greedy'),
  quietHours: z.enum(['defer', 'drop']).default('defer'),
  minExpectedCtr: z.number().min(0).max(1).default(0),
  fatigueCost: z.number().nonnegative().optional(),
  rateLimit: window.optional(),
})

export const taskSchema = z.preprocess((v) => fromAvroForm(v, ['trigger', 'audience', 'fatigue', 'experiment', 'rateLimit'], ['validUntil']), taskFields)

export type TaskConfig = z.infer<typeof taskFields>

const materialFields = z.object({
  materialId: nonEmpty,
  title: z.string(),
  body: z.string(),
  deeplink: z.string().nullable().default(null),
  segments: z.array(nonEmpty).default([]),
  prior: z.object({ alpha: z.number().positive(), beta: z.number().positive() }).default({ alpha: 1, beta: 20 }),
  status: z.enum(['active', 'paused', 'deleted']).default('active'),
})

export const materialSchema = z.preprocess((v) => fromAvroForm(v, [], ['deeplink']), materialFields)

export type MaterialConfig = z.infer<typeof materialFields>

export const audienceSchema = z.object({ userId: nonEmpty, segmentId: nonEmpty, member: z.boolean().default(true) })

export const userSchema = z.object({
  userId: nonEmpty,
  timezone: nonEmpty.default('UTC').refine((tz) => isValidZone(tz), { message: 'unknown time zone (use an IANA name such as Asia/Shanghai)' }),
  pushEnabled: z.boolean().default(true),
})

export interface MaterialStats {
  materialId: string
  impressions: number
  clicks: number
  ts: number
}

export const statsSchema = z.object({ materialId: nonEmpty, impressions: z.number().nonnegative(), clicks: z.number().nonnegative(), ts: z.number() })

/** Either the parsed value or one line naming each bad field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string }

/** Parses with a schema and turns zod issues into a one-line reason naming the fields. */
export function parseWith<T>(schema: z.ZodType<T>, what: string, value: unknown): Parsed<T> {
  const r = schema.safeParse(value)
  if (r.success) return { ok: true, value: r.data }
  const reason = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(record)'}: ${i.message}`).join('; ')
  return { ok: false, reason: `invalid ${what}: ${reason}` }
}

/** Whether a config record asks for deletion: a null value or status "deleted". */
export function isDeletion(value: unknown): boolean {
  return value === null || (typeof value === 'object' && (value as { status?: unknown }).status === 'deleted')
}
