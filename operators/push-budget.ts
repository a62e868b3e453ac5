/**
 * The push budget: a volume control that targets a number of pushes per user-day
 * (`hermes.model.budget.pushesPerUserDay`), as push and ad systems pace a budget, instead of only
 * a fixed `minExpectedCtr`. Each user's recent candidates (the last `windowMs` of them, their
 * expected click rates as scored by the Matching Center) are the user's own market: the window
 * holds `slots = pushesPerUserDay × windowMs / day` pushes, and a candidate goes on only when
 * fewer than `slots` of the user's candidates in the window were worth more than it. So the
 * bar is the user's `slots`-th best recent candidate: a user with few candidates gets every one
 * (the budget is not spent), a user flooded with triggers (a shop with twice the price drops,
 * a heavy user) gets the best of them, and the same configuration holds the volume in a world
 * with more or fewer triggers. Why not a fixed threshold: a rate that is good in one world is
 * mediocre in another (issue 12: the sample world with twice the price drops sent 1.17 pushes per
 * user-day against a budget of 1.0; the rate ranking per user sends the best of each user's
 * candidates, which a fixed bar cannot do for users whose candidates are all above or below it).
 *
 * Rates are compared at zero pushes in 24 h (the candidate's `expectedCtr`): recent pushes are
 * fatigue's to price (operators/fatigue.ts, `low_value`), not a reason to rank a candidate lower
 * against the user's others. Ties pass (a model not published yet rates a material's candidates
 * alike, and then the budget does not bind).
 */

const DAY = 86_400_000

/** A user's recent candidates, oldest first: times (event time) and expected click rates. */
export interface BudgetHistory {
  ts: number[]
  p: number[]
}

/** The push budget (`hermes.model.budget`). */
export interface BudgetOptions {
  /** Pushes per user-day the budget targets; 0 switches it off. */
  pushesPerUserDay: number
  /** How far back the user's candidates are ranked against. */
  windowMs: number
  /** Candidates remembered per user (the oldest forgotten first): bounds the state. */
  maxCandidates: number
}

/** What {@link budgetCheck} decided. */
export interface BudgetVerdict {
  /** Whether the candidate is within the budget. */
  pass: boolean
  /** How many of the user's candidates in the window were worth more. */
  better: number
  /** Pushes the window holds. */
  slots: number
  /** The history with this candidate added (and expired or surplus entries gone). */
  history: BudgetHistory
}

/** Rounded so that a history stays small in state; four significant digits rank rates well enough. */
const compact = (p: number): number => +p.toPrecision(4)

/**
 * Tests a candidate of expected click rate `p` at event time `at` against the user's budget and
 * records it in the user's history (whatever the verdict: every candidate is part of the market
 * the next ones rank against).
 */
export function budgetCheck(history: BudgetHistory | undefined, p: number, at: number, o: BudgetOptions): BudgetVerdict {
  const slots = (o.pushesPerUserDay * o.windowMs) / DAY
  const ts: number[] = []
  const ps: number[] = []
  let better = 0
  if (history) {
    for (let i = 0; i < history.ts.length; i++) {
      const t = history.ts[i] as number
      const q = history.p[i] as number
      if (t <= at - o.windowMs) continue
      ts.push(t)
      ps.push(q)
      if (q > compact(p)) better++
    }
  }
  ts.push(at)
  ps.push(compact(p))
  const drop = Math.max(0, ts.length - o.maxCandidates)
  return { pass: o.pushesPerUserDay <= 0 || better < slots, better, slots, history: { ts: ts.slice(drop), p: ps.slice(drop) } }
}
