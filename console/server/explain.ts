/**
 * Explaining a user: what the system knows of them (profile, segments, recent events, rolling
 * counts, pending candidates, timers), what it did (decisions and suppressions with the event
 * that triggered them) and, on demand, a trace: each recent event re-run through each event
 * task's checks in the Task Center's order (listens to the type, live, audience, rule, opted
 * out), with the values each check saw, so that a candidate that never existed (excluded by an
 * audience, rule false) still has an answer; item, schedule and personalized tasks likewise
 * (trace-triggers.ts: a relation missing, a cap).
 */
import type { KeyQueryResult } from '../../pipeline/observability/key-query.ts'
import type { TaskConfig } from '../../operators/config.ts'
import { inAudience, taskLive } from '../../operators/config-ingest.ts'
import { evaluateRule } from '../../operators/rules.ts'
import { rollingCounts } from '../../operators/task-center.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import { parseSettings } from '../../operators/settings.ts'
import { traceItem, traceTimed } from './trace-triggers.ts'
import type { UserProfile, World } from './world.ts'

/** One check of a trace. */
export interface TraceStep {
  step: 'listens' | 'live' | 'relation' | 'audience' | 'rule' | 'opted_out' | 'outcome'
  passed: boolean
  values: { [k: string]: unknown }
}

/** One task against one event: the first failing step (or `outcome`), and every step taken. */
export interface Trace {
  taskId: string
  eventId: string | null
  step: TraceStep['step']
  passed: boolean
  values: { [k: string]: unknown }
  steps: TraceStep[]
}

/** The explanation of a user (GET /users/:id/explain). */
export interface Explanation {
  userId: string
  known: boolean
  profile: { timezone: string; pushEnabled: boolean } | null
  segments: string[]
  recentEvents: BehaviorEvent[]
  counts: { [type: string]: { [window: string]: number } }
  countsAt: number | null
  pending: Array<{ taskId: string; due: number; [k: string]: unknown }>
  timers: Array<{ node: string; domain: string; time: number; name: string; payload: unknown }>
  decisions: Array<Decision & { triggerEvent: BehaviorEvent | null }>
  suppressions: Array<Suppression & { triggerEvent: BehaviorEvent | null }>
  state: KeyQueryResult | null
  traces?: Trace[]
}

const RECENT = 50
const TRACED = 20

/** The value of a store in the state that may be wrapped with its TTL stamp (`{v, t}`). */
function unwrapped(raw: unknown): unknown {
  return raw !== null && typeof raw === 'object' && 'v' in raw && 't' in raw && Object.keys(raw).length === 2 ? (raw as { v: unknown }).v : raw
}

/** Traces one event task against one event of the user. */
export function traceEvent(taskId: string, task: TaskConfig, ev: BehaviorEvent, user: UserProfile, history: readonly BehaviorEvent[], outputs: { decisions: readonly Decision[]; suppressions: readonly Suppression[] }): Trace {
  const steps: TraceStep[] = []
  const done = (): Trace => {
    const failed = steps.find((s) => !s.passed) ?? (steps.at(-1) as TraceStep)
    return { taskId, eventId: ev.eventId, step: failed.step, passed: failed.passed, values: failed.values, steps }
  }
  const trig = task.trigger
  const listens = trig.type === 'event' && trig.events.includes(ev.type)
  steps.push({ step: 'listens', passed: listens, values: { eventType: ev.type, triggerType: trig.type, events: trig.type === 'event' ? trig.events : [] } })
  if (!listens) return done()
  const live = taskLive(task, ev.ts)
  steps.push({ step: 'live', passed: live, values: { status: task.status, validFrom: task.validFrom, validUntil: task.validUntil, at: ev.ts } })
  if (!live) return done()
  const inAud = inAudience(task, user.segments)
  steps.push({ step: 'audience', passed: inAud, values: { segments: user.segments, include: task.audience.include, exclude: task.audience.exclude, excludedBy: task.audience.exclude.filter((s) => user.segments.includes(s)) } })
  if (!inAud) return done()
  if (trig.type === 'event' && trig.when !== undefined) {
    const counts = rollingCounts(history.filter((e) => e.ts <= ev.ts).map((e) => ({ ts: e.ts, amount: 1, tag: e.type })), ev.ts)
    const data = { event: ev, user: { userId: user.userId, timezone: user.timezone, pushEnabled: user.pushEnabled, segments: user.segments }, counts }
    const r = evaluateRule(trig.when, data)
    steps.push({ step: 'rule', passed: r.result, values: { rule: trig.when, result: r.result, ...(r.error !== undefined ? { error: r.error } : {}), event: ev, counts } })
    if (!r.result) return done()
  }
  steps.push({ step: 'opted_out', passed: user.pushEnabled, values: { pushEnabled: user.pushEnabled } })
  const decision = outputs.decisions.find((d) => d.taskId === taskId && d.triggerEventId === ev.eventId)
  const suppression = outputs.suppressions.filter((s) => s.taskId === taskId && s.triggerEventId === ev.eventId).at(-1)
  steps.push({
    step: 'outcome',
    passed: decision !== undefined,
    values: decision ? { decided: true, decisionId: decision.decisionId, materialId: decision.materialId, score: decision.score, sendAt: decision.sendAt } : suppression ? { decided: false, reason: suppression.reason, materialId: suppression.materialId } : { decided: false, reason: 'none recorded (held on a timer, or not yet processed)' },
  })
  return done()
}

/** Explains a user from the world's configuration, recorded events and outputs, and live state. */
export async function explainUser(world: World, userId: string, o: { trace: boolean }): Promise<Explanation> {
  const profile = world.users().get(userId)
  const user: UserProfile = profile ?? { userId, timezone: 'UTC', pushEnabled: true, segments: [] }
  const all = world.events()
  const mine = all.filter((e) => e.userId === userId)
  const byId = new Map(mine.map((e) => [e.eventId, e]))
  const decisions = world.decisions().filter((d) => d.userId === userId)
  const suppressions = world.suppressions().filter((s) => s.userId === userId)
  const state = await world.userState(userId)
  const stores: { [k: string]: unknown } = {}
  for (const owned of state?.owned ?? []) Object.assign(stores, owned.stores)
  const windowRaw = unwrapped(stores['task-center.events']) as Array<[number, number, string?]> | undefined
  const now = all.length ? (all[all.length - 1] as BehaviorEvent).ts : null
  const counts = now === null ? {} : windowRaw ? rollingCounts(windowRaw.map(([ts, amount, tag]) => ({ ts, amount, tag })), now) : rollingCounts(mine.map((e) => ({ ts: e.ts, amount: 1, tag: e.type })), now)
  const pendingRaw = (unwrapped(stores['task-center.pending']) ?? {}) as { [field: string]: { taskId: string; due: number } }
  // Pushes deferred to the end of the user's quiet hours wait in fatigue's store, due at sendAt.
  const deferredRaw = (unwrapped(stores['fatigue.deferred']) ?? {}) as { [id: string]: { taskId: string; sendAt: number; materialId: string; score: number } }
  const out: Explanation = {
    userId,
    known: profile !== undefined || mine.length > 0,
    profile: profile ? { timezone: profile.timezone, pushEnabled: profile.pushEnabled } : null,
    segments: user.segments,
    recentEvents: mine.slice(-RECENT).reverse(),
    counts: { ...counts },
    countsAt: now,
    pending: [
      ...Object.entries(pendingRaw).map(([field, p]) => ({ field, held: 'task-center', ...p })),
      ...Object.entries(deferredRaw).map(([field, c]) => ({ field, held: 'quiet_hours', taskId: c.taskId, due: c.sendAt, materialId: c.materialId, score: c.score })),
    ].sort((a, b) => a.due - b.due),
    timers: (state?.owned ?? []).flatMap((s) => s.timers),
    decisions: decisions.map((d) => ({ ...d, triggerEvent: d.triggerEventId ? (byId.get(d.triggerEventId) ?? null) : null })),
    suppressions: suppressions.map((s) => ({ ...s, triggerEvent: s.triggerEventId ? (byId.get(s.triggerEventId) ?? null) : null })),
    state,
  }
  if (o.trace) {
    const traces: Trace[] = []
    const tasks = world.current('tasks')
    for (const ev of mine.slice(-TRACED)) {
      for (const [taskId, raw] of tasks) {
        const task = raw as TaskConfig
        if (task.trigger?.type !== 'event') continue
        traces.push(traceEvent(taskId, withDefaults(task), ev, user, mine, { decisions, suppressions }))
      }
    }
    // Item tasks: the item events of the items this user has events with (the relations node
    // reaches no one else), each through each item task's checks.
    const settings = parseSettings(world.config.hermes)
    const touched = new Set(mine.flatMap((e) => (typeof e.itemId === 'string' ? [e.itemId] : [])))
    const items = world.itemEvents().filter((i) => touched.has(i.itemId)).slice(-TRACED)
    for (const item of items) {
      for (const [taskId, raw] of tasks) {
        const task = withDefaults(raw as TaskConfig)
        if (task.trigger?.type === 'item') traces.push(traceItem(settings, taskId, task, item, user, mine, { decisions, suppressions }))
      }
    }
    // Schedule and personalized tasks have no triggering event: validity, audience, opt-out, and
    // what their last fire or plan did for the user (a cap, quiet hours...).
    const plans = (unwrapped(stores['task-center.plans']) ?? {}) as { [taskId: string]: number }
    for (const [taskId, raw] of tasks) {
      const task = withDefaults(raw as TaskConfig)
      if (task.trigger.type !== 'schedule' && task.trigger.type !== 'personalized') continue
      traces.push(traceTimed(taskId, task, user, now, { decisions, suppressions }, typeof plans[taskId] === 'number' ? plans[taskId] : null))
    }
    out.traces = traces
  }
  return out
}

/** A task record as the pipeline reads it: the schema's defaults for what the record leaves out. */
function withDefaults(task: TaskConfig): TaskConfig {
  const t = task as Partial<TaskConfig>
  return { ...task, status: t.status ?? 'active', validFrom: t.validFrom ?? 0, validUntil: t.validUntil ?? null, audience: { include: t.audience?.include ?? [], exclude: t.audience?.exclude ?? [] } }
}
