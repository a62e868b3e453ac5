/**
 * The Matching Center's arithmetic: Beta posteriors of material click rates, the policies that
 * score them (greedy mean, Thompson sampling seeded from the decision, UCB), and stable
 * experiment arm assignment.
 */
import { hash32, mulberry32 } from './ids.ts'

/** The scoring policies a task or experiment arm may name. */
export const POLICIES = ['greedy', 'thompson', 'ucb'] as const
export type Policy = (typeof POLICIES)[number]

export interface BetaPrior {
  alpha: number
  beta: number
}

/** Posterior Beta(prior.alpha + clicks, prior.beta + impressions - clicks). */
export function posterior(prior: BetaPrior, impressions: number, clicks: number): BetaPrior {
  const c = Math.max(0, Math.min(clicks, impressions))
  return { alpha: prior.alpha + c, beta: prior.beta + Math.max(0, impressions - c) }
}

export function betaMean(p: BetaPrior): number {
  return p.alpha / (p.alpha + p.beta)
}

/** Randomness seeded from a string (e.g. a decision id): replays draw the same numbers. */
export function seededRandom(seed: string): () => number {
  return mulberry32(hash32(seed))
}

/** A standard normal draw (Box-Muller). */
export function gaussian(rand: () => number): number {
  // Box-Muller; 1 - u keeps the log finite.
  const u = 1 - rand()
  const v = rand()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** Gamma(shape, 1) by Marsaglia and Tsang (with the boost for shape < 1). */
function gammaSample(shape: number, rand: () => number): number {
  if (shape < 1) return gammaSample(shape + 1, rand) * rand() ** (1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = gaussian(rand)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = rand()
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

/** A draw from Beta(alpha, beta). */
export function betaSample(p: BetaPrior, rand: () => number): number {
  const x = gammaSample(p.alpha, rand)
  const y = gammaSample(p.beta, rand)
  return x / (x + y)
}

/**
 * Scores one material under a policy. `seed` makes Thompson sampling reproducible (decision id
 * and material id); `totalImpressions` is the impressions of all candidates, for UCB.
 */
export function score(policy: Policy, p: BetaPrior, seed: string, totalImpressions: number, ucbC: number): number {
  if (policy === 'thompson') return betaSample(p, seededRandom(seed))
  const mean = betaMean(p)
  if (policy === 'ucb') {
    const n = p.alpha + p.beta
    return mean + ucbC * Math.sqrt(Math.log(Math.max(totalImpressions, 1) + 1) / n)
  }
  return mean
}

export interface Arm {
  name: string
  weight: number
  policy: Policy
}

/**
 * The arm of a user: a stable hash of (experiment id, user id) against the cumulative weights.
 * Generic over the arm's other fields (operators/experiments.ts reads the overrides).
 */
export function assignArm<A extends { weight: number }>(experimentId: string, userId: string, arms: readonly A[]): A {
  const total = arms.reduce((s, a) => s + a.weight, 0)
  const point = (mix32(hash32(`${experimentId}\u0000${userId}`)) / 4294967296) * total
  let acc = 0
  for (const arm of arms) {
    acc += arm.weight
    if (point < acc) return arm
  }
  return arms[arms.length - 1] as A
}

/**
 * MurmurHash3's 32-bit finalizer: spreads every input bit over the output. FNV-1a alone puts
 * ids that differ in their last characters (user-01, user-02, ...) next to each other in
 * [0, 1), so sequential user ids all fell into one arm.
 */
export function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
