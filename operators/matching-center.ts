/**
 * Matching Center: decides *what* to send. For each candidate: the task must still be live and
 * the user in its audience; candidate materials are the task's active materials that target the
 * user's segments; each is scored from its Beta posterior (prior plus decayed impressions and
 * clicks from material-stats) under the policy of the user's experiment arm (or the task's
 * policy); the best material whose templates render completely (operators/templates.ts) is
 * chosen, the others that render stay as alternatives, and a candidate none of whose materials
 * renders is suppressed as `template_incomplete`, never sent with a hole in its text.
 *
 * The click model (operators/ctr-model.ts, weights from the `hermes.topics.model` broadcast)
 * turns each material's rate into the expected click rate of this candidate, which ranking,
 * arbitration and the `low_value` test use. The user's experiment arm may override materials,
 * policy, threshold, hold and quiet hours, or hold the user out (operators/experiments.ts). A
 * triggered push of a task (or arm) with `maxHoldMs` may wait in this node's state for a better
 * hour (operators/hold.ts), then goes on at that time.
 */
import type { Processor, ProcessorContext, Record, StoreSpec, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor, mapStore, valueStore } from '../pipeline/api/index.ts'
import type { MaterialConfig, MaterialStats, TaskConfig } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { inAudience, ingestConfig, taskLive } from './config-ingest.ts'
import { decisionId } from './ids.ts'
import { betaMean, betaSample, posterior, score, seededRandom } from './scoring.ts'
import type { Model, ModelRecord } from './ctr-model.ts'
import { MODEL_KEY, activityRatio, decodeModel, featureNames, logit, scoreCandidate, sigmoid, unlearnedAgeShare } from './ctr-model.ts'
import type { EffectiveTask } from './experiments.ts'
import { effectiveTask } from './experiments.ts'
import { bestSendTime } from './hold.ts'
import type { BudgetHistory } from './push-budget.ts'
import { budgetCheck } from './push-budget.ts'
import { inQuietHours } from './clock.ts'
import type { Settings } from './settings.ts'
import type { TemplateData } from './templates.ts'
import { renderTemplate } from './templates.ts'
import type { Candidate, MaterialChoice, ScoredCandidate, Suppression } from './types.ts'
import { experimentFields, forwardSuppression } from './types.ts'

/** Name prefix of the timer that releases a held push (followed by its decision id). */
const HOLD_TIMER = 'h:'

/**
 * The Matching Center's keyed stores (per user): triggered pushes held for a better hour (by
 * decision id), and the user's recent candidates for the push budget (operators/push-budget.ts).
 */
export function matchingCenterStores(settings: Settings): { [name: string]: StoreSpec } {
  return { held: mapStore(), budget: valueStore({ ttlMs: settings.model.budget.windowMs }) }
}

export interface MatchingCenterOptions {
  topics: ConfigTopics & { model: string }
  settings: Settings
}

/**
 * Renders a material's title, body and deeplink for a candidate: the texts, or the first
 * placeholder (as `title: {{event.itemId}}`) that has neither a value nor a fallback.
 */
export function renderMaterial(m: MaterialConfig, data: TemplateData): { ok: true; title: string; body: string; deeplink: string | null } | { ok: false; missing: string } {
  const title = renderTemplate(m.title, data, m.fallbacks)
  if (!title.ok) return { ok: false, missing: `title: {{${title.missing}}}` }
  const body = renderTemplate(m.body, data, m.fallbacks)
  if (!body.ok) return { ok: false, missing: `body: {{${body.missing}}}` }
  if (m.deeplink === null) return { ok: true, title: title.text, body: body.text, deeplink: null }
  const deeplink = renderTemplate(m.deeplink, data, m.fallbacks)
  if (!deeplink.ok) return { ok: false, missing: `deeplink: {{${deeplink.missing}}}` }
  return { ok: true, title: title.text, body: body.text, deeplink: deeplink.text }
}

/** Whether a material may go to a user: active, and targeting one of the user's segments (or everyone). */
export function materialTargets(m: MaterialConfig | undefined, segments: readonly string[]): m is MaterialConfig {
  return !!m && m.status === 'active' && (m.segments.length === 0 || m.segments.some((s) => segments.includes(s)))
}

/**
 * The user's presence at the local hour of `t` for held pushes (`hermes.model.holdHour:
 * presence`): their smoothed activity at that hour as a multiple of an average hour
 * (operators/ctr-model.ts, activityRatio) plus `floor`; 1 at every hour without history, so a
 * user nobody knows yet is not held for an hour that only looks better.
 */
export function presenceAt(activity: readonly number[] | null | undefined, t: number, timezone: string, floor: number): number {
  const ratio = activityRatio(activity, t, timezone)
  return ratio === null ? 1 : ratio + floor
}

export function matchingCenter(options: MatchingCenterOptions): Processor<Candidate, ScoredCandidate> {
  const { topics, settings } = options
  const ms = settings.model
  let ctx!: ProcessorContext<ScoredCandidate>
  // The decoded model and the record it came from: decoded once per publication, not per candidate.
  let decoded: { from: ModelRecord; model: Model | null } | null = null

  const suppress = (s: Suppression): void => forwardSuppression(ctx, s)
  // (material, placeholder) pairs already logged as missing by this instance: a material that
  // cannot render for many candidates is logged once, and counted for each.
  const missingLogged = new Set<string>()

  /** Counts a material skipped for a missing placeholder, and logs it once per material and field. */
  const incomplete = (materialId: string, taskId: string, missing: string): void => {
    ctx.count('template_incomplete', { reason: materialId })
    const key = `${materialId}\u0000${missing}`
    if (missingLogged.has(key)) return
    missingLogged.add(key)
    ctx.log.warn({ materialId, taskId, placeholder: missing }, `material ${materialId} has no value and no fallback for ${missing}; it is skipped for such candidates (add it to the material's "fallbacks" to send them)`)
  }

  const currentModel = (): Model | null => {
    const r = ctx.broadcastStore<ModelRecord>('model').get(MODEL_KEY)
    if (!r) return null
    if (decoded?.from !== r) decoded = { from: r, model: decodeModel(r, ms.dims) }
    return decoded.model
  }

  /**
   * The candidate's materials for a send at `at`, best first, each rendered and scored with the
   * click model; or the id of the best-ranked material when none renders.
   */
  const choose = (c: Candidate, task: TaskConfig, eff: EffectiveTask, id: string, at: number): { choices: MaterialChoice[]; best: string } | null => {
    const materials = ctx.broadcastStore<MaterialConfig>('materials')
    const stats = ctx.broadcastStore<MaterialStats>('stats')
    const candidates = eff.materials.map((m) => materials.get(m)).filter((m): m is MaterialConfig => materialTargets(m, c.user.segments))
    if (candidates.length === 0) return null
    const model = currentModel()
    const withStats = candidates.map((m) => {
      const s = stats.get(m.materialId)
      return { m, impressions: s?.impressions ?? 0, p: posterior(m.prior, s?.impressions ?? 0, s?.clicks ?? 0) }
    })
    const total = withStats.reduce((sum, x) => sum + x.impressions, 0)
    // Rank every candidate material; ties keep the task's order (a stable sort).
    const ranked = withStats
      .map((x) => {
        const seed = `${id}\u0000${x.m.materialId}`
        const names = featureNames({ taskId: c.taskId, materialId: x.m.materialId, origin: c.origin, event: c.event, segments: c.user.segments, timezone: c.user.timezone, activity: c.activity }, at, ms.attributes)
        const scored = scoreCandidate({ model, names, dims: ms.dims, materialId: x.m.materialId, priorMean: betaMean(x.m.prior), materialMean: betaMean(x.p), materialScore: score(eff.policy, x.p, seed, total, settings.scoring.ucbC), policy: eff.policy, seed, drawSeed: id, ucbAlpha: ms.ucbAlpha })
        return { ...x, ...scored }
      })
      .sort((a, b) => b.score - a.score)
    const data: TemplateData = { event: c.event, user: c.user, task: { taskId: task.taskId } }
    // Best first, only the materials whose templates render completely for this candidate.
    const choices: MaterialChoice[] = []
    for (const r of ranked) {
      const text = renderMaterial(r.m, data)
      if (!text.ok) incomplete(r.m.materialId, task.taskId, text.missing)
      else choices.push({ materialId: r.m.materialId, title: text.title, body: text.body, deeplink: text.deeplink, score: r.score, expectedCtr: r.expectedCtr, model: r.model })
    }
    return { choices, best: (ranked[0] as (typeof ranked)[number]).m.materialId }
  }

  /** Whether this decision explores the hold (`hermes.model.holdExploreShare`): a coin seeded by the decision id. */
  const exploreHold = (id: string): boolean => ms.holdExploreShare > 0 && seededRandom(`${id}\u0000hold`)() < ms.holdExploreShare

  /** The time a triggered push goes out: now, or a better hour within the hold (operators/hold.ts). */
  const sendTime = (c: Candidate, task: TaskConfig, eff: EffectiveTask, id: string, first: MaterialChoice): number => {
    if (eff.maxHoldMs <= 0 || c.event === null || (c.origin !== 'event' && (c.origin as string) !== 'item')) return c.sendAt
    const q = settings.fatigue
    const model = currentModel()
    const presence = ms.holdHour === 'presence'
    // Without learned weights every hour looks the same to the model, and waiting only loses
    // relevance; the user's presence still tells the hours apart (hermes.model.holdHour).
    if (!model && !presence) return c.sendAt
    const materials = ctx.broadcastStore<MaterialConfig>('materials')
    const stats = ctx.broadcastStore<MaterialStats>('stats')
    const m = materials.get(first.materialId) as MaterialConfig
    const s = stats.get(m.materialId)
    const mean = betaMean(posterior(m.prior, s?.impressions ?? 0, s?.clicks ?? 0))
    // The trigger's age at t: the model prices what it has learned about older triggers, the
    // configured half-life the rest (operators/hold.ts).
    // Hours with the same features (activity and age buckets) score the same: each set once.
    const byNames = new Map<string, number>()
    // `presence`: the model prices everything but the hour (its activity features as at the
    // earliest send), the user's presence at t the hour (hermes.model.holdHour).
    const expected = (t: number): number => {
      const input = { taskId: c.taskId, materialId: m.materialId, origin: c.origin, event: c.event, segments: c.user.segments, timezone: c.user.timezone, activity: c.activity }
      const names = presence ? featureNames(input, c.sendAt, ms.attributes, t) : featureNames(input, t, ms.attributes)
      const key = names.join('\u0000')
      let p = byNames.get(key)
      if (p === undefined) {
        p = scoreCandidate({ model, names, dims: ms.dims, materialId: m.materialId, priorMean: betaMean(m.prior), materialMean: mean, materialScore: mean, policy: 'greedy', seed: id, ucbAlpha: 0 }).expectedCtr
        byNames.set(key, p)
      }
      return presence ? p * presenceAt(c.activity, t, c.user.timezone, ms.holdPresenceFloor) : p
    }
    const event = c.event
    return bestSendTime({
      at: c.sendAt,
      maxHoldMs: eff.maxHoldMs,
      triggerTs: c.event.ts,
      halfLifeMs: task.holdHalfLifeMs ?? ms.holdHalfLifeMs,
      margin: ms.holdMargin,
      expected,
      quiet: (t) => inQuietHours(t, c.user.timezone, q.quietStartHour, q.quietEndHour),
      // Exploring: the age effect not learned yet is left unpriced, so this push may wait and teach it.
      // Without a model nothing about age is learned: the configured decay prices all of it.
      unlearned: exploreHold(id) ? () => 0 : model ? (t) => unlearnedAgeShare(model, { materialId: m.materialId, event }, t, ms.priorVariance) : () => 1,
    })
  }

  /**
   * The `low_value` threshold this candidate is tested against (operators/fatigue.ts compares the
   * expected click rate with it). Under the `thompson` policy the send decision explores; greedy
   * and UCB test the mean, as configured. A candidate whose expected rate clears
   * `minExpectedCtr` is tested as before; one below it is retried with probability
   * `hermes.model.exploreShare` × P(its rate clears the threshold): a seeded coin, then a draw of
   * the material's rate from its Beta posterior (Thompson sampling), the context at its mean.
   * Why: with a mean-only test a task whose estimate fell below the threshold early was never
   * sent again and never learned it was good (issue 12, `viewed-deal`); material stats decay, so a
   * material stays uncertain enough to be retried, one the evidence puts surely below is not, and
   * the share bounds what exploring costs (unbounded, it sent a third of a generic task's
   * low-value candidates). The context's weights are not drawn: summed over a dozen features, the
   * diagonal posterior's variances overstate how unsure it is. A retried candidate carries the
   * threshold scaled by mean / draw, so fatigue's test at the real push count compares the draw,
   * scaled alike, with it.
   */
  const threshold = (eff: EffectiveTask, id: string, first: MaterialChoice): number => {
    const min = eff.minExpectedCtr
    if (eff.policy !== 'thompson' || min <= 0 || first.expectedCtr <= 0 || first.expectedCtr >= min) return min
    if (seededRandom(`${id}\u0000explore`)() >= ms.exploreShare) return min
    const m = ctx.broadcastStore<MaterialConfig>('materials').get(first.materialId) as MaterialConfig
    const s = ctx.broadcastStore<MaterialStats>('stats').get(m.materialId)
    const p = posterior(m.prior, s?.impressions ?? 0, s?.clicks ?? 0)
    const level = betaSample(p, seededRandom(`${id}\u0000threshold`))
    const draw = sigmoid(logit(first.expectedCtr) + logit(level) - logit(betaMean(p)))
    return Math.min(1, (min * first.expectedCtr) / Math.max(draw, 1e-9))
  }

  /**
   * The push budget (operators/push-budget.ts): whether this candidate, at the rate it will be
   * sent with, ranks within the user's budget among their recent candidates; it joins them either way.
   */
  const withinBudget = (choice: MaterialChoice, now: number): boolean => {
    const b = ms.budget
    if (b.pushesPerUserDay <= 0) return true
    const store = ctx.valueStore<BudgetHistory>('budget')
    const verdict = budgetCheck(store.get(), choice.expectedCtr, now, b)
    store.put(verdict.history)
    if (!verdict.pass) ctx.count('over_budget', { reason: 'low_value' })
    return verdict.pass
  }

  const scored = (c: Candidate, task: TaskConfig, eff: EffectiveTask, id: string, first: MaterialChoice, rest: MaterialChoice[], at: number, minExpectedCtr: number): ScoredCandidate => {
    const { activity: _dropped, ...candidate } = c
    return {
      ...candidate,
      sendAt: at,
      decisionId: id,
      priority: task.priority,
      channel: task.channel,
      ...first,
      alternatives: rest,
      policy: eff.policy,
      experimentId: eff.experimentId,
      arm: eff.arm,
      minExpectedCtr,
      fatigueCost: task.fatigueCost ?? null,
      quietHours: eff.quietHours,
      taskFatigue: task.fatigue ?? null,
      rateLimit: task.rateLimit ?? null,
      impressions: task.impressions,
    }
  }

  return {
    init(c) {
      ctx = c
    },
    processBroadcast(record) {
      if (record.topic === topics.model) {
        const v = record.value as ModelRecord | null
        const store = ctx.broadcastStore<ModelRecord>('model')
        if (v === null) store.delete(MODEL_KEY)
        else if (typeof v === 'object' && Array.isArray(v.weights) && typeof v.dims === 'number') store.put(MODEL_KEY, v)
        return
      }
      // Tasks and materials are also ingested by the Task Center, which dead-letters bad ones;
      // only the stats are this node's to report.
      const result = ingestConfig(ctx, topics, {
        tasks: ctx.broadcastStore<TaskConfig>('tasks'),
        materials: ctx.broadcastStore<MaterialConfig>('materials'),
        stats: ctx.broadcastStore<MaterialStats>('stats'),
      }, record, { deadLetter: record.topic === topics.stats, materialWaitMs: settings.materialWaitMs })
      // A changed material (new fallbacks, new text) gets its first miss logged again.
      if (result.kind === 'material') for (const key of missingLogged) if (key.startsWith(`${result.id}\u0000`)) missingLogged.delete(key)
    },
    process(record: Record<Candidate>) {
      const c = record.value
      const task = ctx.broadcastStore<TaskConfig>('tasks').get(c.taskId)
      const base = { userId: c.userId, taskId: c.taskId, ts: record.timestamp, triggerEventId: c.triggerEventId }
      if (!taskLive(task, record.timestamp)) return suppress({ ...base, materialId: null, reason: 'expired' })
      const eff = effectiveTask(task, c.userId)
      const id = decisionId(c.userId, c.taskId, c.trigger)
      const tagged = { ...base, ...experimentFields({ decisionId: id, experimentId: eff.experimentId, arm: eff.arm }) }
      if (!inAudience(task, c.user.segments)) return suppress({ ...tagged, materialId: null, reason: 'excluded' })
      const chosen = choose(c, task, eff, id, c.sendAt)
      if (chosen === null) return suppress({ ...tagged, materialId: null, reason: 'no_material' })
      const [first, ...rest] = chosen.choices
      if (first === undefined) return suppress({ ...tagged, materialId: chosen.best, reason: 'template_incomplete' })
      // A holdout: what would have been sent is recorded, nothing is pushed.
      if (eff.holdout) return suppress({ ...tagged, materialId: first.materialId, reason: 'holdout' })
      const at = sendTime(c, task, eff, id, first)
      const min = threshold(eff, id, first)
      // Held: scored as it will be sent (activity and age at that hour), released by a timer.
      const later = at === c.sendAt ? null : choose(c, task, eff, id, at)
      const [f2, ...r2] = later?.choices ?? []
      // An opted-out user's candidates are fatigue's to record (`opted_out`), not the budget's.
      if (c.user.pushEnabled && !withinBudget(f2 ?? first, record.timestamp)) return suppress({ ...tagged, materialId: first.materialId, reason: 'low_value' })
      if (f2 === undefined) return ctx.forward(record.withValue<ScoredCandidate>(scored(c, task, eff, id, first, rest, c.sendAt, min)))
      ctx.count('held', { reason: c.taskId })
      ctx.mapStore<ScoredCandidate>('held').put(id, scored(c, task, eff, id, f2, r2, at, min))
      ctx.timers.registerEventTime(at, `${HOLD_TIMER}${id}`)
    },
    onTimer(timer: Timer) {
      if (!timer.name.startsWith(HOLD_TIMER)) return
      const held = ctx.mapStore<ScoredCandidate>('held')
      const id = timer.name.slice(HOLD_TIMER.length)
      const c = held.get(id)
      if (!c) return
      held.delete(id)
      // The task may have been paused or ended during the hold.
      if (!taskLive(ctx.broadcastStore<TaskConfig>('tasks').get(c.taskId), timer.time)) {
        return suppress({ userId: c.userId, taskId: c.taskId, materialId: null, reason: 'expired', ts: timer.time, triggerEventId: c.triggerEventId, ...experimentFields(c) })
      }
      ctx.forward(new RecordCtor<ScoredCandidate>({ key: c.userId, value: c, timestamp: timer.time }))
    },
  }
}
