/**
 * "Why not?" for the triggers without a behavior event of the user: item triggers (an item event
 * reaches the users related to the item), schedules and personalized sends. Like the event
 * traces (explain.ts), each is re-run from what was recorded, in the Task Center's order, with
 * the values each check saw: the item event's type, the task's validity, the user's relation to
 * the item (rebuilt from the user's behavior events with `hermes.relations`' lifetimes), the
 * audience, the rule (with `item` and `relation` beside `event`, `user`, `counts`), the opt-out,
 * and the outcome recorded: the decision, or the suppression and its reason (a fatigue cap,
 * quiet hours, low value...).
 */
import type { TaskConfig } from '../../operators/config.ts'
import { inAudience, taskLive } from '../../operators/config-ingest.ts'
import type { ItemEvent } from '../../operators/item-event.ts'
import { evaluateRule } from '../../operators/rules.ts'
import type { Settings } from '../../operators/settings.ts'
import { rollingCounts } from '../../operators/task-center.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import type { Trace, TraceStep } from './explain.ts'
import type { UserProfile } from './world.ts'

/** The recorded outputs a trace's outcome is looked up in (the user's). */
export interface Outputs {
  decisions: readonly Decision[]
  suppressions: readonly Suppression[]
}

function finish(taskId: string, eventId: string | null, steps: TraceStep[]): Trace {
  const failed = steps.find((s) => !s.passed) ?? (steps.at(-1) as TraceStep)
  return { taskId, eventId, step: failed.step, passed: failed.passed, values: failed.values, steps }
}

/** The outcome step: the decision of the trigger, else its last suppression. */
function outcome(decision: Decision | undefined, suppression: Suppression | undefined, none: string): TraceStep {
  return {
    step: 'outcome',
    passed: decision !== undefined,
    values: decision ? { decided: true, decisionId: decision.decisionId, materialId: decision.materialId, score: decision.score, sendAt: decision.sendAt } : suppression ? { decided: false, reason: suppression.reason, materialId: suppression.materialId, at: suppression.ts } : { decided: false, reason: none },
  }
}

/** A user's relation to an item, as the relations node holds it. */
export interface Relation {
  type: string
  firstTs: number
  lastTs: number
  count: number
}

/**
 * The user's relation of one of `types` to `itemId` at `at`, as the relations node keeps it:
 * built by the type's events, ended by its `removedBy` events, alive `ttlMs` after its latest
 * event and, with `withinMs`, only that long. The most recent alive relation, or null.
 */
export function relationAt(settings: Settings, types: readonly string[], withinMs: number | undefined, itemId: string, at: number, events: readonly BehaviorEvent[]): Relation | null {
  let best: Relation | null = null
  for (const type of types) {
    const def = settings.relations[type]
    if (!def) continue
    const rel = builtRelation(def, type, itemId, at, events)
    if (!rel || rel.lastTs <= at - def.ttlMs || (withinMs !== undefined && rel.lastTs <= at - withinMs)) continue
    if (!best || rel.lastTs > best.lastTs) best = rel
  }
  return best
}

/** The relation of one type to the item at `at` from the user's events, alive or not (null: none or ended). */
function builtRelation(def: { events: string[]; removedBy: string[] }, type: string, itemId: string, at: number, events: readonly BehaviorEvent[]): Relation | null {
  const found = events.filter((e) => e.itemId === itemId && e.ts <= at)
  // Only what came after the last removal counts.
  let start = 0
  found.forEach((e, i) => {
    if (def.removedBy.includes(e.type)) start = i + 1
  })
  const builds = found.slice(start).filter((e) => def.events.includes(e.type))
  const first = builds[0]
  const last = builds.at(-1)
  return first && last ? { type, firstTs: first.ts, lastTs: last.ts, count: builds.length } : null
}

/** One item task against one item event, for a user (whose behavior events are `history`). */
export function traceItem(settings: Settings, taskId: string, task: TaskConfig, item: ItemEvent, user: UserProfile, history: readonly BehaviorEvent[], outputs: Outputs): Trace {
  const steps: TraceStep[] = []
  const trig = task.trigger
  const listens = trig.type === 'item' && trig.events.includes(item.type)
  steps.push({ step: 'listens', passed: listens, values: { itemEventType: item.type, itemId: item.itemId, triggerType: trig.type, events: trig.type === 'item' ? trig.events : [] } })
  if (!listens || trig.type !== 'item') return finish(taskId, item.eventId, steps)
  const live = taskLive(task, item.ts)
  steps.push({ step: 'live', passed: live, values: { status: task.status, validFrom: task.validFrom, validUntil: task.validUntil, at: item.ts } })
  if (!live) return finish(taskId, item.eventId, steps)
  const relation = relationAt(settings, trig.relation.types, trig.relation.withinMs, item.itemId, item.ts, history)
  steps.push({ step: 'relation', passed: relation !== null, values: { itemId: item.itemId, types: trig.relation.types, withinMs: trig.relation.withinMs ?? null, relation, userEventsWithItem: history.filter((e) => e.itemId === item.itemId && e.ts <= item.ts).map((e) => ({ type: e.type, ts: e.ts })) } })
  if (!relation) return finish(taskId, item.eventId, steps)
  const inAud = inAudience(task, user.segments)
  steps.push({ step: 'audience', passed: inAud, values: { segments: user.segments, include: task.audience.include, exclude: task.audience.exclude, excludedBy: task.audience.exclude.filter((s) => user.segments.includes(s)) } })
  if (!inAud) return finish(taskId, item.eventId, steps)
  if (trig.when !== undefined) {
    const counts = rollingCounts(history.filter((e) => e.ts <= item.ts).map((e) => ({ ts: e.ts, amount: 1, tag: e.type })), item.ts)
    const event = { eventId: item.eventId, userId: user.userId, type: item.type, ts: item.ts, itemId: item.itemId, category: item.category ?? null, attrs: item.attrs ?? null }
    const r = evaluateRule(trig.when, { event, item, relation, user: { userId: user.userId, timezone: user.timezone, pushEnabled: user.pushEnabled, segments: user.segments }, counts })
    steps.push({ step: 'rule', passed: r.result, values: { rule: trig.when, result: r.result, ...(r.error !== undefined ? { error: r.error } : {}), event, relation, counts } })
    if (!r.result) return finish(taskId, item.eventId, steps)
  }
  steps.push({ step: 'opted_out', passed: user.pushEnabled, values: { pushEnabled: user.pushEnabled } })
  const decision = outputs.decisions.find((d) => d.taskId === taskId && d.triggerEventId === item.eventId)
  const suppression = outputs.suppressions.filter((s) => s.taskId === taskId && s.triggerEventId === item.eventId).at(-1)
  steps.push(outcome(decision, suppression, 'none recorded (spread on a timer, or not yet processed)'))
  return finish(taskId, item.eventId, steps)
}

/**
 * A schedule or personalized task for a user: live now, audience, opt-out, then what the last
 * fire or plan did for them (its decision or suppression, e.g. a fatigue cap), and the
 * personalized plan waiting in the Task Center's state.
 */
export function traceTimed(taskId: string, task: TaskConfig, user: UserProfile, now: number | null, outputs: Outputs, plan: number | null): Trace {
  const steps: TraceStep[] = []
  const at = now ?? 0
  const live = taskLive(task, at)
  steps.push({ step: 'live', passed: live, values: { status: task.status, validFrom: task.validFrom, validUntil: task.validUntil, at } })
  if (!live) return finish(taskId, null, steps)
  const inAud = inAudience(task, user.segments)
  steps.push({ step: 'audience', passed: inAud, values: { segments: user.segments, include: task.audience.include, exclude: task.audience.exclude, excludedBy: task.audience.exclude.filter((s) => user.segments.includes(s)) } })
  if (!inAud) return finish(taskId, null, steps)
  steps.push({ step: 'opted_out', passed: user.pushEnabled, values: { pushEnabled: user.pushEnabled } })
  if (!user.pushEnabled) return finish(taskId, null, steps)
  const last = <T extends { taskId: string; triggerEventId: string | null }>(xs: readonly T[], time: (x: T) => number): T | undefined => xs.filter((x) => x.taskId === taskId && x.triggerEventId === null).sort((a, b) => time(a) - time(b)).at(-1)
  const decision = last(outputs.decisions, (d) => d.decidedAt)
  const suppression = last(outputs.suppressions, (s) => s.ts)
  // The later of the two is what happened last time.
  const latest = decision && suppression ? (decision.decidedAt >= suppression.ts ? { decision } : { suppression }) : { decision, suppression }
  const none = task.trigger.type === 'personalized' ? (plan !== null ? `planned at ${new Date(plan).toISOString()}, not sent yet` : 'no plan for this user yet (planned after their next event or the task\'s next change)') : 'the schedule has not fired for this user yet'
  const step = outcome(latest.decision, latest.suppression, none)
  if (plan !== null) step.values.nextPlan = plan
  steps.push(step)
  return finish(taskId, null, steps)
}
