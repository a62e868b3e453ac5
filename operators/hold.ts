/**
 * Held pushes: a triggered push may wait (task or arm `maxHoldMs`) for the hour the click model
 * expects the most clicks from, net of the decay of the trigger's relevance. The relevance of a
 * trigger halves every `halfLifeMs` (the task's `holdHalfLifeMs`, else `hermes.model.holdHalfLifeMs`):
 * the value of sending at t is `p(t) × 2^(-(t - trigger time) / halfLifeMs)`, p(t) being the
 * expected click rate at t. The push waits for the best top of the hour within the hold (outside
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
}

/** The value of sending at t: expected clicks net of the trigger's decay. */
export function holdValue(o: HoldOptions, t: number): number {
  return o.expected(t) * 2 ** (-(t - o.triggerTs) / o.halfLifeMs)
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
