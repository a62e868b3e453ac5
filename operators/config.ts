/**
 * The Configuration Center's records: tasks, materials, audience memberships and user profiles,
 * validated with zod as they arrive, so a bad record is rejected with a reason that names the
 * field (and goes to the dead-letter topic) while the previous version stays in force.
 */
import { Cron } from 'croner'
import { closest, distance } from 'fastest-levenshtein'
import { z } from 'zod'
import { isValidZone } from './clock.ts'
import { checkRule } from './rules.ts'
import { POLICIES } from './scoring.ts'
import { checkFallbacks, checkTemplates } from './templates.ts'
import { isWellFormedId } from './types.ts'

const nonEmpty = z.string().min(1)

/**
 * A zod object that refuses unknown fields, naming each with the nearest known field, so a typo
 * such as `quiteHours` is an error instead of a default silently used in its place.
 */
function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape)
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => unknownField(k, known)).join('; ') : undefined),
  })
}

/** `unknown field "x"` with the nearest known name when one is close, else the known names. */
export function unknownField(field: string, known: readonly string[]): string {
  const near = known.length ? closest(field, known as string[]) : undefined
  // A guess further away than a third of the name is noise: list the fields instead.
  if (near !== undefined && distance(field.toLowerCase(), near.toLowerCase()) <= Math.max(2, Math.floor(field.length / 3))) return `unknown field "${field}" (did you mean "${near}"?)`
  return `unknown field "${field}" (known fields: ${known.join(', ')})`
}

/** Fields Hermes itself may have written into a configuration record (its event time). */
const written = { ts: z.number().nullable().optional() }

const ms = z.number().int().nonnegative()
const policy = z.enum(POLICIES)

const eventTrigger = strict({
  type: z.literal('event'),
  events: z.array(nonEmpty).min(1),
  when: z.unknown().optional(),
  delayMs: ms.default(0),
  unless: strict({ events: z.array(nonEmpty).min(1), withinMs: z.number().int().positive() }).optional(),
})
  .superRefine((t, ctx) => {
    const problem = t.when === undefined ? null : checkRule(t.when, 'trigger.when')
    if (problem) ctx.addIssue({ code: 'custom', message: `malformed JsonLogic: ${problem}`, path: ['when'] })
  })

const scheduleTrigger = strict({
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

const personalizedTrigger = strict({
  type: z.literal('personalized'),
  windowStartHour: z.number().int().min(0).max(23),
  windowEndHour: z.number().int().min(1).max(24),
})
  .refine((t) => t.windowEndHour > t.windowStartHour, { message: 'windowEndHour must be after windowStartHour', path: ['windowEndHour'] })

/** Default of an item trigger's `fanout.maxUsers`. */
export const DEFAULT_FANOUT_MAX_USERS = 10_000

/**
 * Relational IFTTT: an item event of a listed type fans out to the users related to the item
 * (operators/relations.ts) by one of `relation.types`, the latest relation event within
 * `relation.withinMs` when set; `when` sees `item` and `relation` beside `event`, `user` and
 * `counts`. At most `fanout.maxUsers` users per item event (the most recent relations first),
 * their candidates spread over `fanout.spreadMs` by a stable hash of the user.
 */
const itemTrigger = strict({
  type: z.literal('item'),
  events: z.array(nonEmpty).min(1),
  relation: strict({ types: z.array(nonEmpty).min(1), withinMs: z.number().int().positive().optional() }),
  when: z.unknown().optional(),
  fanout: strict({ maxUsers: z.number().int().positive().default(DEFAULT_FANOUT_MAX_USERS), spreadMs: ms.default(0) }).prefault({}),
})
  .superRefine((t, ctx) => {
    const problem = t.when === undefined ? null : checkRule(t.when, 'trigger.when')
    if (problem) ctx.addIssue({ code: 'custom', message: `malformed JsonLogic: ${problem}`, path: ['when'] })
  })

const trigger = z.discriminatedUnion('type', [eventTrigger, scheduleTrigger, personalizedTrigger, itemTrigger], {
  error: (issue) => (issue.code === 'invalid_union' ? 'unknown trigger type: use "event", "schedule", "personalized" or "item"' : undefined),
})

const window = strict({ max: z.number().int().positive(), windowMs: z.number().int().positive() })

// Cap windows are counted over the push history fatigue keeps (PUSH_HISTORY_MS, 31 days).
const capWindowMs = z.number().int().positive().max(31 * 86_400_000, 'at most 31 days (2678400000 ms): the push history fatigue keeps')

/**
 * Caps of a task's candidates that override the global ones (`hermes.fatigue`): the user cap
 * (all pushes to the user), the material cap (what it counts: `per` material or content) and
 * the minimum gap. Fields left out keep the global value.
 */
const caps = strict({
  user: strict({ max: z.number().int().positive(), windowMs: capWindowMs }).optional(),
  material: strict({ per: z.enum(['material', 'content']).optional(), max: z.number().int().positive().optional(), windowMs: capWindowMs.optional() }).optional(),
  minGapMs: z.number().int().nonnegative().optional(),
})

/** A task's cap overrides (the `caps` field). */
export type TaskCaps = z.infer<typeof caps>

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

const taskFields = strict({
  ...written,
  taskId: nonEmpty,
  status: z.enum(['active', 'paused', 'deleted']).default('active'),
  priority: z.number().default(0),
  channel: nonEmpty.default('push'),
  validFrom: z.number().default(0),
  validUntil: z.number().nullable().default(null),
  trigger,
  audience: strict({ include: z.array(nonEmpty).default([]), exclude: z.array(nonEmpty).default([]) }).default({ include: [], exclude: [] }),
  materials: z.array(nonEmpty).min(1),
  fatigue: window.optional(),
  experiment: strict({
    id: nonEmpty,
    // An arm may override the task's materials, policy, threshold, hold and quiet-hours handling,
    // or be a holdout (nothing sent, recorded as such): operators/experiments.ts.
    arms: z.array(strict({
      name: nonEmpty,
      weight: z.number().positive(),
      policy: policy.optional(),
      materials: z.array(nonEmpty).min(1).optional(),
      minExpectedCtr: z.number().min(0).max(1).optional(),
      maxHoldMs: ms.optional(),
      quietHours: z.enum(['defer', 'drop']).optional(),
      holdout: z.boolean().default(false),
    })).min(1),
  }).optional(),
  policy: policy.default('greedy'),
  quietHours: z.enum(['defer', 'drop']).default('defer'),
  minExpectedCtr: z.number().min(0).max(1).default(0),
  fatigueCost: z.number().nonnegative().optional(),
  rateLimit: window.optional(),
  caps: caps.optional(),
  // Held pushes and delivery feedback (operators/ctr-model.ts, operators/feedback.ts).
  maxHoldMs: ms.default(0),
  holdHalfLifeMs: z.number().int().positive().optional(),
  impressions: z.enum(['decided', 'delivered']).default('decided'),
})

export const taskSchema = z.preprocess((v) => fromAvroForm(v, ['trigger', 'audience', 'fatigue', 'experiment', 'rateLimit', 'caps'], ['validUntil']), taskFields)

export type TaskConfig = z.infer<typeof taskFields>

const materialFields = strict({
  ...written,
  materialId: nonEmpty,
  title: z.string(),
  body: z.string(),
  deeplink: z.string().nullable().default(null),
  segments: z.array(nonEmpty).default([]),
  prior: strict({ alpha: z.number().positive(), beta: z.number().positive() }).default({ alpha: 1, beta: 20 }),
  status: z.enum(['active', 'paused', 'deleted']).default('active'),
  // Text for placeholders the candidate has no value for, by path (operators/templates.ts).
  fallbacks: z
    .record(z.string(), z.string())
    .optional()
    .superRefine((f, ctx) => {
      const problem = checkFallbacks(f)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }),
})

// A placeholder that can never have a value (a typo such as {{event.itemid}}) is refused when the
// material is loaded, not found out push by push as template_incomplete suppressions.
export const materialSchema = z.preprocess(
  (v) => fromAvroForm(v, [], ['deeplink']),
  materialFields.superRefine((m, ctx) => {
    const bad = checkTemplates(m)
    if (bad) ctx.addIssue({ code: 'custom', message: bad.problem, path: [bad.field] })
  }),
)

export type MaterialConfig = z.infer<typeof materialFields>

/** A user id: UTF-8 keys would merge ids that differ only by a lone surrogate (see checkBehaviorEvent). */
const userId = nonEmpty.refine(isWellFormedId, { message: 'is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)' })

export const audienceSchema = strict({ ...written, userId, segmentId: nonEmpty, member: z.boolean().default(true) })

export const userSchema = strict({
  ...written,
  userId,
  timezone: nonEmpty.default('UTC').refine((tz) => isValidZone(tz), { message: 'unknown time zone (use an IANA name such as Asia/Shanghai)' }),
  pushEnabled: z.boolean().default(true),
})

export interface MaterialStats {
  materialId: string
  impressions: number
  clicks: number
  ts: number
}

export const statsSchema = strict({ materialId: nonEmpty, impressions: z.number().nonnegative(), clicks: z.number().nonnegative(), ts: z.number() })

/** Either the parsed value or one line naming each bad field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string }

/** Parses with a schema and turns zod issues into a one-line reason naming the fields. */
export function parseWith<T>(schema: z.ZodType<T>, what: string, value: unknown): Parsed<T> {
  const r = schema.safeParse(value)
  if (r.success) return { ok: true, value: r.data }
  const reason = r.error.issues
    .map((i) => {
      const path = i.path.join('.')
      // An unknown field reads best named in place: `trigger: unknown field "delayMS" ...`.
      if (i.code === 'unrecognized_keys') return path ? `${path}: ${i.message}` : i.message
      return `${path || '(record)'}: ${i.message}`
    })
    .join('; ')
  return { ok: false, reason: `invalid ${what}: ${reason}` }
}

/** Whether a config record asks for deletion: a null value or status "deleted". */
export function isDeletion(value: unknown): boolean {
  return value === null || (typeof value === 'object' && (value as { status?: unknown }).status === 'deleted')
}
