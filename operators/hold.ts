/**
 * Held pushes: a triggered push may wait (task or arm `maxHoldMs`) for the hour the click model
 * expects the most clicks from, net of the decay of the trigger's relevance. p(t), the expected
 * click rate at t, is the model's with the trigger's age at t: the decay the model has learned from
 * pushes of that age is in it. For the rest, the share `u(t)` of the age effect the model has not
 * learned yet (1 for an age it has never seen), the configured prior applies: relevance halves
 * every `halfLifeMs` (the task's `holdHalfLifeMs`, else `hermes.model.holdHalfLifeMs`). The value
 * of sending at t is `p(t) × 2^(-u(t) × (t - trigger time) / halfLifeMs)`. So a new deployment
 * holds cautiously, learns what older triggers earn from the pushes it does hold, and holds as
 * far as the learned decay says it pays (issue 12: a fixed 6-hour half-life undervalued waiting
 * for the evening where relevance fades over a day). The push waits for the best top of the hour within the hold (outside
 * quiet hours) only when its value exceeds the value of sending now by the margin
 * (`hermes.model.holdMargin`); otherwise it goes at once.
 */

const HOUR = 3_600_000

/** Options of {@link bestSendTime}. */
export interface HoldOptions {
  /** The earliest send time (the candidate's). */
  at: number
  maxHoldMs: number
  /** Event time of the trigger: the relevance decays from there. */
  triggerTs: number
  halfLifeMs: number
  margin: number
  /** Expected click rate of a send at t. */
  expected: (t: number) => number
  /** Whether t is inside the user's quiet hours (never a target). */
  quiet: (t: number) => boolean
  /** The share of the trigger's decay at t that `expected` does not price yet, 0 to 1 (default 1: all of it). */
  unlearned?: (t: number) => number
}

/** The value of sending at t: expected clicks net of the trigger's decay. */
export function holdValue(o: HoldOptions, t: number): number {
  const u = o.unlearned ? Math.max(0, Math.min(1, o.unlearned(t))) : 1
  return o.expected(t) * 2 ** (-(u * (t - o.triggerTs)) / o.halfLifeMs)
}

/** The chosen send time: `at`, or a later top of the hour within `maxHoldMs` whose value pays for the wait. */
export function bestSendTime(o: HoldOptions): number {
  if (o.maxHoldMs <= 0) return o.at
  const now = holdValue(o, o.at)
  let best = o.at
  let bestValue = now
  for (let t = (Math.floor(o.at / HOUR) + 1) * HOUR; t <= o.at + o.maxHoldMs; t += HOUR) {
    if (o.quiet(t)) continue
    const v = holdValue(o, t)
    if (v > bestValue) {
      best = t
      bestValue = v
    }
  }
  return best > o.at && bestValue > now * (1 + o.margin) ? best : o.at
}
