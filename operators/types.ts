/** Records passed between the decision operators, and the topic value shapes they emit. */
import type { ProcessorContext } from '../pipeline/api/index.ts'
import { Record } from '../pipeline/api/index.ts'
import type { TaskCaps } from './config.ts'
import type { ItemEvent } from './item-event.ts'

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
 * Checks the required fields of a behavior event (the check of the event sources' serde), so a
 * bad one reaches the dead-letter topic with a reason. Returns the reason, or null.
 *
 * Ids must be well-formed Unicode: keys, state and decision ids are UTF-8, where every lone
 * surrogate becomes U+FFFD, so two such users would share one state and one push history.
 * Other fields are not checked here: a rule may look at whatever the producer sent (a rule that
 * fails on it is a `rule_error`), and candidates carry only the contract's fields
 * ({@link candidateEvent}).
 */
export function checkBehaviorEvent(v: { [k: string]: unknown }): string | null {
  for (const f of ['eventId', 'userId', 'type'] as const) {
    if (typeof v[f] !== 'string' || v[f] === '') return `behavior event needs a non-empty string "${f}"`
  }
  if (typeof v.ts !== 'number' || !Number.isFinite(v.ts)) return 'behavior event needs "ts" as epoch milliseconds'
  for (const f of ['eventId', 'userId', 'type', 'itemId'] as const) {
    if (typeof v[f] === 'string' && LONE_SURROGATE.test(v[f])) return `behavior event "${f}" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)`
  }
  return null
}

/** A UTF-16 surrogate that is not half of a pair (a code point of category Cs under the `u` flag). */
const LONE_SURROGATE = /\p{Cs}/u

/** Whether an id is well-formed Unicode (no lone surrogate), so it keeps its identity as UTF-8. */
export function isWellFormedId(id: string): boolean {
  return !LONE_SURROGATE.test(id)
}

const CONTRACT_FIELDS = new Set(['eventId', 'userId', 'type', 'ts', 'itemId', 'category', 'attrs'])

const isText = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string'
const isScalar = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))

/**
 * The event as a candidate carries it: the contract's fields only (schemas/behavior-event.avsc),
 * `itemId`/`category` as strings or null, `attrs` as a flat map of strings and finite numbers.
 * Whatever else a JSON producer sent (a nested attribute, an extra field) stays out, because a
 * candidate's event is held in state, rendered and forwarded, all of which copy or write it
 * recursively: a value nested thousands of levels deep would overflow the stack there, at
 * commit time, far from the record that caused it. Returns the event itself when it fits.
 */
export function candidateEvent(ev: BehaviorEvent): BehaviorEvent {
  const raw = ev as unknown as { [k: string]: unknown }
  const attrs = raw.attrs
  const attrsObject = attrs !== null && typeof attrs === 'object' && !Array.isArray(attrs) ? (attrs as { [k: string]: unknown }) : null
  const fits =
    Object.keys(raw).every((k) => CONTRACT_FIELDS.has(k)) &&
    isText(raw.itemId) &&
    isText(raw.category) &&
    (attrs === undefined || attrs === null || (attrsObject !== null && Object.values(attrsObject).every(isScalar)))
  if (fits) return ev
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null)
  // fromEntries, not assignment: an attribute named "__proto__" stays a plain field.
  const flat = attrsObject === null ? null : (Object.fromEntries(Object.entries(attrsObject).filter(([, a]) => isScalar(a))) as { [k: string]: string | number })
  return { eventId: ev.eventId, userId: ev.userId, type: ev.type, ts: ev.ts, itemId: text(raw.itemId), category: text(raw.category), attrs: flat }
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
  origin: 'event' | 'schedule' | 'personalized' | 'item'
  /** Triggering event id, schedule fire time or personalized day: feeds the decision id. */
  trigger: string
  triggerEventId: string | null
  /** Event time at which the task fired. */
  decidedAt: number
  /** When the push should go out (later than decidedAt after a delay or personalized timing). */
  sendAt: number
  user: UserContext
  event: BehaviorEvent | null
  /** Item triggers: the item event that fanned out to this user (`event` is its copy as the user's). */
  item?: ItemEvent | null
  /** Item triggers: the user's relation to the item that made them a recipient. */
  relation?: ItemRelation | null
  /** The task's cap overrides (its `caps`), when it has any: fatigue applies them. */
  caps?: TaskCaps | null
  /**
   * The user's hour-of-week activity histogram (168 buckets, local time) when the candidate was
   * emitted, for the click model's activity feature (operators/ctr-model.ts); absent or null
   * without history. Dropped by the Matching Center, so held and arbitrated candidates stay small.
   */
  activity?: number[] | null
}

/** A user's relation of one type to one item (operators/relations.ts), as item triggers see it. */
export interface ItemRelation {
  type: string
  /** Event time of the first event that built the relation (since it last began). */
  firstTs: number
  /** Event time of the latest event that built it. */
  lastTs: number
  /** Events that built it since it began. */
  count: number
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
  /**
   * The click model's view of this candidate with this material (operators/ctr-model.ts): what
   * fatigue needs for the `low_value` test at the real push count, and what the learner needs.
   */
  model?: ModelScore
}

/** One feature of the click model and its weight, for explanations. */
export interface FeatureWeight {
  feature: string
  weight: number
}

/** The click model's prediction for one candidate and material (operators/ctr-model.ts). */
export interface ModelScore {
  /** Hashed indices of the active features, without the pushes-in-24h feature (added at send). */
  features: number[]
  /** Hashed indices of the level features (bias, material): learned, left out of predictions. */
  level: number[]
  /** Logit of the material's configured prior mean: the offset the model learns from. */
  offset: number
  /** Expected click rate with 0, 1, 2 and 3 or more pushes in the last 24 hours. */
  byPushes: number[]
  /** Hashed indices of the pushes-in-24h feature for 0, 1, 2 and 3 or more pushes. */
  pushFeatures: number[]
  /** The features with the largest weights (by absolute value), at most three. */
  explain: FeatureWeight[]
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
  /** When impressions count for the click statistics: at decision (default) or on `push_delivered`. */
  impressions?: 'decided' | 'delivered'
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
  /** The click model's expected click rate at the send time and push count (absent without a model score). */
  expectedCtr?: number
  /** The features that weighed most in {@link expectedCtr} (operators/ctr-model.ts). */
  explain?: FeatureWeight[]
}

/**
 * A decision as fatigue emits it inside the decision flow: the public {@link Decision} plus what
 * the exposure log needs for learning. The push-decisions sink strips {@link learn}.
 */
export interface DecisionOut extends Decision {
  learn?: { features: number[]; level: number[]; offset: number; impressions: 'decided' | 'delivered' }
}

/**
 * Why a candidate was not sent, by the operator that decides it (docs/decision-flow.md,
 * Suppression reasons): Task Center, Matching Center, fatigue.
 */
export const SUPPRESSION_REASONS = [
  'cancelled.unless', 'expired', 'rule_error',
  'excluded', 'no_material', 'template_incomplete',
  'opted_out', 'quiet_hours', 'arbitration', 'fatigue.user', 'fatigue.task', 'fatigue.material', 'fatigue.gap', 'rate_limit', 'low_value',
  // An experiment arm that sends nothing (a holdout): recorded, never pushed.
  'holdout',
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
  /** The candidate's decision id, once the Matching Center has computed it. */
  decisionId?: string | null
  /** The experiment and arm of the candidate, when its task runs an experiment (Matching Center on). */
  experimentId?: string | null
  arm?: string | null
}

/**
 * The experiment fields of a suppression (decision id, experiment, arm): present only when the
 * candidate is in an experiment, so suppressions of tasks without one keep their shape.
 */
export function experimentFields(c: { decisionId: string; experimentId: string | null; arm: string | null }): Pick<Suppression, 'decisionId' | 'experimentId' | 'arm'> {
  return c.experimentId === null ? {} : { decisionId: c.decisionId, experimentId: c.experimentId, arm: c.arm }
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
