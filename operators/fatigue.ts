/**
 * Fatigue and arbitration, then the whether-to-send check and emission.
 *
 * Per candidate: opted-out users get nothing (an `opted_out` suppression for the audit); a send
 * time in the user's quiet hours is dropped (`quietHours: "drop"`) or deferred to their end (the
 * Task Center already holds `defer` candidates, re-checked when quiet hours end; the deferral
 * here only catches what gets past it); candidates of one user within the arbitration window
 * compete, ranked by priority, then expected click rate (then decision id, for determinism); the
 * best one that passes the rolling caps (per user, per user and task, per user and material), the
 * minimum gap, the task's rate limit and the whether-to-send threshold
 * `minExpectedCtr × (1 + fatigueCost × pushes in 24 h)` is sent; every other candidate becomes a
 * suppression with its reason.
 *
 * Decisions are idempotent by decision id: a candidate whose decision was already sent or
 * suppressed (a redelivered trigger event, a timer fired again after a restart; remembered in a
 * bounded, expiring set per user, operators/recent-ids.ts) or already waits in the open
 * arbitration window is counted as `duplicate`, and neither sent nor suppressed a second time.
 */
import type { Processor, ProcessorContext, Record, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor } from '../pipeline/api/index.ts'
import { inQuietHours, nextLocalHour } from './clock.ts'
import type { RecentIds } from './recent-ids.ts'
import { addRecentId, hasRecentId } from './recent-ids.ts'
import type { Settings } from './settings.ts'
import type { DecisionOut, ScoredCandidate, SuppressionReason } from './types.ts'
import { expectedAt, modelFieldsAt } from './ctr-model.ts'
import { experimentFields, forwardSuppression, taskKey } from './types.ts'

const DAY = 86_400_000

/** Retention of the push history: long enough for every cap window. */
export const PUSH_HISTORY_MS = 31 * DAY

interface Arbitration {
  closeAt: number
  candidates: ScoredCandidate[]
}

/**
 * What a push counts as for a content cap: the material about one item (the item event's, else
 * the triggering event's itemId; none for a push about no item).
 */
export function contentKey(c: ScoredCandidate): string {
  return `${c.materialId}\u0000${c.item?.itemId ?? c.event?.itemId ?? ''}`
}

/** Ranking inside an arbitration window: priority, then expected value, then decision id. */
export function rank(a: ScoredCandidate, b: ScoredCandidate): number {
  return b.priority - a.priority || b.expectedCtr - a.expectedCtr || (a.decisionId < b.decisionId ? -1 : a.decisionId > b.decisionId ? 1 : 0)
}

export function fatigue(options: { settings: Settings }): Processor<ScoredCandidate, DecisionOut> {
  const f = options.settings.fatigue
  const dedup = { ttlMs: options.settings.dedup.ttlMs, maxIds: options.settings.dedup.maxIdsPerUser }
  let ctx!: ProcessorContext<DecisionOut>

  /** Remembers that this decision id was decided (sent or suppressed) at `now`. */
  const decided = (c: ScoredCandidate, now: number): void => {
    const store = ctx.valueStore<RecentIds>('decided')
    store.put(addRecentId(store.get(), c.decisionId, now, dedup))
  }

  const suppress = (c: ScoredCandidate, reason: SuppressionReason, ts: number): void => {
    decided(c, ts)
    // With the experiment and arm, for the exposure log and per-arm reports (operators/exposures.ts).
    forwardSuppression(ctx, { userId: c.userId, taskId: c.taskId, materialId: c.materialId, reason, ts, triggerEventId: c.triggerEventId, ...experimentFields(c) })
  }

  /** The cap a candidate fails at send time `at`, or null when it may go. */
  const failedCap = (c: ScoredCandidate, at: number): SuppressionReason | null => {
    const pushes = ctx.windowStore('pushes')
    // A task's caps override the global ones for its own candidates.
    const user = c.caps?.user ?? { max: f.userMax, windowMs: f.userWindowMs }
    if (pushes.sum(at - user.windowMs + 1, at) >= user.max) return 'fatigue.user'
    if (c.taskFatigue && pushes.sum(at - c.taskFatigue.windowMs + 1, at, c.taskId) >= c.taskFatigue.max) return 'fatigue.task'
    const m = c.caps?.material
    const per = m?.per ?? f.materialPer
    const [store, tag] = per === 'content' ? ['contentPushes', contentKey(c)] : ['materialPushes', c.materialId]
    if (ctx.windowStore(store).sum(at - (m?.windowMs ?? f.materialWindowMs) + 1, at, tag) >= (m?.max ?? f.materialMax)) return 'fatigue.material'
    const last = pushes.latest()
    if (last !== undefined && at - last < (c.caps?.minGapMs ?? f.minGapMs)) return 'fatigue.gap'
    if (c.rateLimit) {
      const limit = c.rateLimit
      const full = ctx.withKey(taskKey('rate', c.taskId), () => ctx.windowStore('rate').sum(at - limit.windowMs + 1, at) >= limit.max)
      if (full) return 'rate_limit'
    }
    const recent = pushes.sum(at - DAY + 1, at)
    const threshold = c.minExpectedCtr * (1 + (c.fatigueCost ?? f.fatigueCost) * recent)
    // The click model's rate at this push count (operators/ctr-model.ts), else the material's.
    if (expectedAt(c, recent) < threshold) return 'low_value'
    return null
  }

  const send = (c: ScoredCandidate, at: number, now: number): void => {
    decided(c, now)
    // Counted before this push is added: the model's pushes-in-24h feature at the send time.
    const recent = ctx.windowStore('pushes').sum(at - DAY + 1, at)
    ctx.windowStore('pushes').add(at, 1, c.taskId)
    ctx.windowStore('materialPushes').add(at, 1, c.materialId)
    // Both counts are kept, so that tasks counting per material and per content share one history.
    ctx.windowStore('contentPushes').add(at, 1, contentKey(c))
    if (c.rateLimit) ctx.withKey(taskKey('rate', c.taskId), () => ctx.windowStore('rate').add(at, 1))
    const d: DecisionOut = {
      decisionId: c.decisionId,
      userId: c.userId,
      taskId: c.taskId,
      materialId: c.materialId,
      channel: c.channel,
      title: c.title,
      body: c.body,
      deeplink: c.deeplink,
      sendAt: at,
      score: c.score,
      policy: c.policy,
      experimentId: c.experimentId,
      arm: c.arm,
      triggerEventId: c.triggerEventId,
      decidedAt: c.decidedAt,
      // The click model's expected rate, top features and learning record (operators/ctr-model.ts).
      ...modelFieldsAt(c, recent),
    }
    ctx.count('decision', { policy: c.policy, arm: c.arm ?? 'none' })
    ctx.forward(new RecordCtor<DecisionOut>({ key: c.userId, value: d, timestamp: now }))
  }

  /** Sends the best candidate that passes every check; the rest are suppressed with their reason. */
  const decide = (candidates: ScoredCandidate[], now: number): void => {
    const ranked = [...candidates].sort(rank)
    let sent = false
    for (const c of ranked) {
      // Admitted while its first copy still waited in the window that has just been decided.
      if (duplicate(c, now)) continue
      if (sent) {
        suppress(c, 'arbitration', now)
        continue
      }
      // Pushes of one user never go out before the previous one: keeps the rolling checks exact.
      const last = ctx.windowStore('pushes').latest()
      const at = last !== undefined && last > c.sendAt ? last : c.sendAt
      let chosen = c
      let reason = failedCap(c, at)
      // The chosen material is capped for this user: the next-best material may still go.
      for (const alt of c.alternatives ?? []) {
        if (reason !== 'fatigue.material') break
        const next = { ...c, ...alt, alternatives: [] }
        const r = failedCap(next, at)
        if (r !== 'fatigue.material') {
          chosen = next
          reason = r
        }
      }
      if (reason) suppress(c, reason, now)
      else {
        send(chosen, at, now)
        sent = true
      }
    }
  }

  /** Whether this decision was sent or suppressed already: then it is counted, and nothing else happens. */
  const duplicate = (c: ScoredCandidate, now: number): boolean => {
    if (!hasRecentId(ctx.valueStore<RecentIds>('decided').get(), c.decisionId, now, dedup)) return false
    ctx.count('duplicate', { reason: 'decided' })
    return true
  }

  /** Opt-out and quiet hours, then arbitration. */
  const admit = (c: ScoredCandidate, now: number): void => {
    if (duplicate(c, now)) return
    if (!c.user.pushEnabled) return suppress(c, 'opted_out', now)
    if (inQuietHours(c.sendAt, c.user.timezone, f.quietStartHour, f.quietEndHour)) {
      if (c.quietHours === 'drop') return suppress(c, 'quiet_hours', now)
      const until = nextLocalHour(c.sendAt, c.user.timezone, f.quietEndHour)
      ctx.mapStore<ScoredCandidate>('deferred').put(c.decisionId, { ...c, sendAt: until })
      ctx.timers.registerEventTime(until, `d:${c.decisionId}`)
      ctx.count('deferred', { reason: 'quiet_hours' })
      return
    }
    if (f.arbitrationWindowMs === 0) return decide([c], now)
    const store = ctx.valueStore<Arbitration>('arbitration')
    const open = store.get()
    if (open && now <= open.closeAt) {
      if (open.candidates.some((x) => x.decisionId === c.decisionId)) {
        ctx.count('duplicate', { reason: 'arbitration' })
        return
      }
      store.put({ closeAt: open.closeAt, candidates: [...open.candidates, c] })
      return
    }
    if (open) {
      // The window closed before this candidate, but its timer waits for the watermark, which
      // trails the records: decide it now, as its timer would have, instead of letting a later
      // candidate compete in it.
      store.delete()
      ctx.timers.deleteEventTime(open.closeAt, 'arbitration')
      decide(open.candidates, open.closeAt)
    }
    const closeAt = Math.max(c.sendAt, now) + f.arbitrationWindowMs
    store.put({ closeAt, candidates: [c] })
    ctx.timers.registerEventTime(closeAt, 'arbitration')
  }

  return {
    init(c) {
      ctx = c
    },
    process(record: Record<ScoredCandidate>) {
      admit(record.value, record.timestamp)
    },
    onTimer(timer: Timer) {
      if (timer.name === 'arbitration') {
        const store = ctx.valueStore<Arbitration>('arbitration')
        const open = store.get()
        store.delete()
        if (open) decide(open.candidates, timer.time)
        return
      }
      if (timer.name.startsWith('d:')) {
        const deferred = ctx.mapStore<ScoredCandidate>('deferred')
        const id = timer.name.slice(2)
        const c = deferred.get(id)
        if (!c) return
        deferred.delete(id)
        admit(c, timer.time)
      }
    },
  }
}
