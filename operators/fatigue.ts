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
  /** Each candidate's record time (missing in state written before it was kept: one group then). */
  at?: number[]
}

/** A candidate waiting in an arbitration window, with the time of the record that brought it. */
interface Member {
  c: ScoredCandidate
  at: number
  /** The window's close as stored by a state without record times (all its candidates are one group). */
  close?: number
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

/** Record time, then decision id: the order in which waiting candidates open windows. */
function byTime(a: Member, b: Member): number {
  return a.at - b.at || (a.c.decisionId < b.c.decisionId ? -1 : a.c.decisionId > b.c.decisionId ? 1 : 0)
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
    if (open?.candidates.some((x) => x.decisionId === c.decisionId)) {
      ctx.count('duplicate', { reason: 'arbitration' })
      return
    }
    // Windows whose close this candidate is past are decided now, as their timers would have been
    // (the timers wait for the watermark, which trails the records), so it does not compete in them.
    const members = open ? settle(membersOf(open), now - 1) : []
    members.push({ c, at: now })
    waitFor(members, open?.closeAt)
  }

  /** The candidates of an open arbitration state with their record times. */
  const membersOf = (open: Arbitration): Member[] =>
    open.candidates.map((c, i) => (open.at ? { c, at: open.at[i] ?? open.closeAt } : { c, at: open.closeAt - f.arbitrationWindowMs, close: open.closeAt }))

  /** When the window opened by `m` closes. */
  const closeOf = (m: Member): number => m.close ?? Math.max(m.c.sendAt, m.at) + f.arbitrationWindowMs

  /**
   * Decides, in event-time order, every window that closes at or before `upTo`, and returns the
   * candidates still waiting. A window is opened by the earliest candidate in record time, not the
   * first to arrive: a task's timers and records may interleave differently after a restart or a
   * rebalance (a delayed push fired after a later app open was processed), and the groups, so the
   * pushes, must not depend on that order.
   */
  const settle = (members: Member[], upTo: number): Member[] => {
    let rest = [...members].sort(byTime)
    while (rest.length > 0) {
      const closeAt = closeOf(rest[0] as Member)
      if (closeAt > upTo) break
      decide(rest.filter((m) => m.at <= closeAt).map((m) => m.c), closeAt)
      rest = rest.filter((m) => m.at > closeAt)
    }
    return rest
  }

  /** Stores the waiting candidates and moves the arbitration timer to their first window's close. */
  const waitFor = (members: Member[], timerAt: number | undefined): void => {
    const store = ctx.valueStore<Arbitration>('arbitration')
    const first = [...members].sort(byTime)[0]
    const closeAt = first === undefined ? undefined : closeOf(first)
    if (timerAt !== undefined && timerAt !== closeAt) ctx.timers.deleteEventTime(timerAt, 'arbitration')
    if (closeAt === undefined) return store.delete()
    store.put({ closeAt, candidates: members.map((m) => m.c), at: members.map((m) => m.at) })
    if (timerAt !== closeAt) ctx.timers.registerEventTime(closeAt, 'arbitration')
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
        const open = ctx.valueStore<Arbitration>('arbitration').get()
        if (open) waitFor(settle(membersOf(open), Math.max(timer.time, open.closeAt)), undefined)
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
