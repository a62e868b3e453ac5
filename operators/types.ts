/** Records passed between the decision operators, and the topic value shapes they emit. */
import type { ProcessorContext } from '../pipeline/api/index.ts'
import { Record } from '../pipeline/api/index.ts'

/** A behavior event (DESIGN.md, Contracts). */
export interface BehaviorEvent {
  eventId: string
  userId: string
  type: string
  ts: number
  itemId?: string | null
  category?: string | null
  attrs?: { [k: string]: string | number } | null
}

/**
 * Checks a behavior event against its contract (the check of the event sources' serde), so a
 * bad one reaches the dead-letter topic with a reason. Returns the reason, or null.
 *
 * Beyond the required fields, `itemId` and `category` are strings and `attrs` a flat map of
 * strings and numbers (schemas/behavior-event.avsc): a nested value is refused here, at the
 * door, because everything downstream (rules, held candidates in state, outputs) copies or
 * writes the event recursively, and a value nested a few thousand levels deep would overflow
 * the stack there, at commit time, far from the record that caused it.
 */
export function checkBehaviorEvent(v: { [k: string]: unknown }): string | null {
  for (const f of ['eventId', 'userId', 'type'] as const) {
    if (typeof v[f] !== 'string' || v[f] === '') return `behavior event needs a non-empty string "${f}"`
  }
  if (typeof v.ts !== 'number' || !Number.isFinite(v.ts)) return 'behavior event needs "ts" as epoch milliseconds'
  for (const f of ['itemId', 'category'] as const) {
    if (v[f] !== undefined && v[f] !== null && typeof v[f] !== 'string') return `behavior event "${f}" must be a string or null, got ${kindOf(v[f])}`
  }
  for (const f of ['eventId', 'userId', 'type', 'itemId'] as const) {
    // Keys, state and decision ids are UTF-8: every lone surrogate encodes as U+FFFD, so two
    // such ids would share one user's state or one decision id.
    if (typeof v[f] === 'string' && LONE_SURROGATE.test(v[f])) return `behavior event "${f}" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)`
  }
  const attrs = v.attrs
  if (attrs === undefined || attrs === null) return null
  if (typeof attrs !== 'object' || Array.isArray(attrs)) return `behavior event "attrs" must be an object of strings and numbers, got ${kindOf(attrs)}`
  for (const [k, a] of Object.entries(attrs)) {
    if (typeof a !== 'string' && !(typeof a === 'number' && Number.isFinite(a))) {
      return `behavior event "attrs.${k.length > 64 ? `${k.slice(0, 61)}...` : k}" must be a string or a number (attrs is a flat map), got ${kindOf(a)}`
    }
  }
  return null
}

/** A UTF-16 surrogate that is not half of a pair (a code point of category Cs under the `u` flag). */
const LONE_SURROGATE = /\p{Cs}/u

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v
}

/** What the decision operators know of a user. */
export interface UserContext {
  userId: string
  timezone: string
  pushEnabled: boolean
  segments: string[]
}

/** A task fired for a user: the Task Center's output. */
export interface Candidate {
  userId: string
  taskId: string
  origin: 'event' | 'schedule' | 'personalized'
  /** Triggering event id, schedule fire time or personalized day: feeds the decision id. */
  trigger: string
  triggerEventId: string | null
  /** Event time at which the task fired. */
  decidedAt: number
  /** When the push should go out (later than decidedAt after a delay or personalized timing). */
  sendAt: number
  user: UserContext
  event: BehaviorEvent | null
}

/** One rendered, scored material for a candidate. */
export interface MaterialChoice {
  materialId: string
  title: string
  body: string
  deeplink: string | null
  /** The policy's score of the material. */
  score: number
  /** Posterior mean click rate of the material (the expected value). */
  expectedCtr: number
}

/**
 * A candidate with its chosen material (the {@link MaterialChoice} fields): the Matching
 * Center's output. Fatigue swaps in an alternative by spreading it over these fields.
 */
export interface ScoredCandidate extends Candidate, MaterialChoice {
  /** The next-best materials, best first: used when the chosen one is capped for this user. */
  alternatives: MaterialChoice[]
  decisionId: string
  priority: number
  channel: string
  policy: string
  experimentId: string | null
  arm: string | null
  minExpectedCtr: number
  fatigueCost: number | null
  quietHours: 'defer' | 'drop'
  taskFatigue: { max: number; windowMs: number } | null
  rateLimit: { max: number; windowMs: number } | null
}

/**
 * A push to send: the push-decisions contract (schemas/decision.avsc), spelled out field by field
 * rather than picked from {@link ScoredCandidate}, so an internal field added there never reaches
 * the topic.
 */
export interface Decision {
  decisionId: string
  userId: string
  taskId: string
  materialId: string
  channel: string
  title: string
  body: string
  deeplink: string | null
  sendAt: number
  score: number
  policy: string
  experimentId: string | null
  arm: string | null
  triggerEventId: string | null
  decidedAt: number
}

/**
 * Why a candidate was not sent, by the operator that decides it (docs/decision-flow.md,
 * Suppression reasons): Task Center, Matching Center, fatigue.
 */
export const SUPPRESSION_REASONS = [
  'cancelled.unless', 'expired', 'rule_error',
  'excluded', 'no_material', 'template_incomplete',
  'opted_out', 'quiet_hours', 'arbitration', 'fatigue.user', 'fatigue.task', 'fatigue.material', 'fatigue.gap', 'rate_limit', 'low_value',
] as const

/** One of {@link SUPPRESSION_REASONS}. */
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number]

/** A candidate that was not sent (push-suppressions). */
export interface Suppression {
  userId: string
  taskId: string
  materialId: string | null
  reason: SuppressionReason
  ts: number
  triggerEventId: string | null
}

/** Side output carrying suppressions out of every decision operator. */
export const SUPPRESSIONS = 'suppressions'

/** Counts a suppression by reason and emits it on {@link SUPPRESSIONS}, keyed by user, at its `ts`. */
export function forwardSuppression(ctx: ProcessorContext<unknown>, s: Suppression): void {
  ctx.count('suppression', { reason: s.reason })
  ctx.forwardTo(SUPPRESSIONS, new Record<Suppression>({ key: s.userId, value: s, timestamp: s.ts }))
}

/** Keys used for per-task bookkeeping inside a partition (never a user id: they start with NUL). */
export const taskKey = (kind: string, taskId: string): string => `\u0000${kind}:${taskId}`
export const isBookkeepingKey = (key: string): boolean => key.startsWith('\u0000')
