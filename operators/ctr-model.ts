/**
 * The click model: the expected click rate of *this* candidate, learned online from the
 * feedback loop.
 *
 * Method: Bayesian logistic regression with a diagonal Gaussian posterior over hashed binary
 * features, updated one example at a time with the Laplace approximation, and Thompson sampling
 * for exploration (Chapelle & Li 2011, "An Empirical Evaluation of Thompson Sampling",
 * Algorithm 3). Each weight has a mean `m` and a precision `q` (prior: mean 0, precision
 * 1 / `hermes.model.priorVariance`). For an example with active features x and label y:
 * the posterior mode w solves `w_i = m_i - (σ(s) - y) / q_i` for active i, where `s = offset +
 * Σ w_i` is found by Newton's method on one scalar; then `m_i ← w_i` and
 * `q_i ← q_i + σ(s)(1 - σ(s))`.
 *
 * The logit has an offset: the logit of the material's posterior mean click rate from
 * material-stats (today's per-material estimate). The weights learn what the context adds to
 * it, so with no data (every weight 0) the model predicts exactly today's per-material rate:
 * the cold start is the per-material prior and counts.
 *
 * Features (binary, hashed into `dims` weights; names are kept for explanations): task, trigger
 * type, event type, the user's activity at the send hour (hour of day, as a share of the user's
 * decayed activity, bucketed), the trigger's age at the send time (bucketed), configured numeric
 * event attributes (bucketed, e.g. `dropPct`), segments, the material crossed with activity, age
 * and attributes (so materials can rank differently by context), and the user's pushes in the
 * last 24 hours (0, 1, 2, 3+; known only at send time, so a score carries one rate per count).
 */
import { hourOfWeek } from './clock.ts'
import { hash32 } from './ids.ts'
import type { ModelSettings } from './model-settings.ts'
import type { Policy } from './scoring.ts'
import { seededRandom } from './scoring.ts'
import type { BehaviorEvent, DecisionOut, FeatureWeight, ModelScore } from './types.ts'

const MIN = 60_000
const HOUR = 60 * MIN

/** Key of the model's record on the model topic (one global model). */
export const MODEL_KEY = 'ctr'

/**
 * An always-on feature that is learned but left out of predictions: it absorbs what the labels
 * get wrong for every push alike (clicks after the attribution window, material rates that
 * drift), so the level of a prediction stays the material's rate from material-stats and the
 * other weights only say how this candidate differs. Its prior variance is large
 * ({@link BIAS_VARIANCE_FACTOR} times the others'), so a global shift lands on it, not on the
 * always-on context features.
 */
export const BIAS_FEATURE = 'bias'
export const BIAS_VARIANCE_FACTOR = 100

/** The published model (topic `hermes.topics.model`, compacted, key {@link MODEL_KEY}). */
export interface ModelRecord {
  modelId: string
  /** Event time of the publication. */
  ts: number
  dims: number
  priorVariance: number
  /** Training examples seen. */
  examples: number
  /** Weights that moved from the prior: `[index, mean, variance]`, by index. */
  weights: Array<[number, number, number]>
}

/** A decoded model, as the Matching Center uses it. */
export interface Model {
  dims: number
  examples: number
  mean: Float64Array
  variance: Float64Array
}

/** What the features of a candidate are computed from. */
export interface FeatureInput {
  taskId: string
  materialId: string
  origin: string
  event: BehaviorEvent | null
  segments: readonly string[]
  timezone: string
  /** Hour-of-week activity histogram (168), or null without history. */
  activity: readonly number[] | null | undefined
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x))
const clampP = (p: number): number => Math.min(1 - 1e-6, Math.max(1e-6, p))
export const logit = (p: number): number => Math.log(clampP(p) / (1 - clampP(p)))

/** Index of a feature name in a hashed space of `dims` (a power of two). */
export function featureIndex(name: string, dims: number): number {
  return hash32(name) & (dims - 1)
}

/** Bucket of the user's activity at the local hour of `at`, as a multiple of a uniform day. */
export function activityBucket(activity: readonly number[] | null | undefined, at: number, timezone: string): string {
  if (!activity || activity.length !== 168) return 'none'
  const hod = hourOfWeek(at, timezone) % 24
  let total = 0
  let atHour = 0
  for (let i = 0; i < 168; i++) {
    const v = activity[i] as number
    total += v
    if (i % 24 === hod) atHour += v
  }
  if (total < 3) return 'none'
  const ratio = (24 * atHour) / total
  return ratio < 0.25 ? 'idle' : ratio < 0.75 ? 'low' : ratio < 1.5 ? 'usual' : ratio < 3 ? 'high' : 'peak'
}

/** Bucket of a trigger's age at the send time. */
export function ageBucket(event: BehaviorEvent | null, at: number): string {
  if (!event) return 'none'
  const age = at - event.ts
  return age < 5 * MIN ? 'lt5m' : age < 30 * MIN ? 'lt30m' : age < 2 * HOUR ? 'lt2h' : age < 6 * HOUR ? 'lt6h' : age < 24 * HOUR ? 'lt24h' : 'older'
}

const ATTR_EDGES = [5, 10, 20, 30, 50]

/** Bucket of a numeric attribute: `lt5`, `lt10`, ..., `ge50`. */
export function attributeBucket(v: number): string {
  for (const e of ATTR_EDGES) if (v < e) return `lt${e}`
  return `ge${ATTR_EDGES[ATTR_EDGES.length - 1] as number}`
}

/** Name of the pushes-in-24h feature for a count. */
export function pushesFeature(n: number): string {
  return `pushes24h=${n >= 3 ? '3+' : String(n)}`
}

/** The feature names of a candidate sent at `at` (without the pushes feature), in a stable order. */
export function featureNames(input: FeatureInput, at: number, attributes: readonly string[]): string[] {
  const act = activityBucket(input.activity, at, input.timezone)
  const age = ageBucket(input.event, at)
  const m = input.materialId
  const names = [`task=${input.taskId}`, `trigger=${input.origin}`, `activity=${act}`, `age=${age}`, `material=${m}&activity=${act}`, `material=${m}&age=${age}`]
  if (input.event) names.push(`event=${input.event.type}`)
  const attrs = input.event?.attrs
  if (attrs) {
    for (const a of attributes) {
      const v = attrs[a]
      if (typeof v !== 'number' || !Number.isFinite(v)) continue
      const b = attributeBucket(v)
      names.push(`${a}=${b}`, `material=${m}&${a}=${b}`)
    }
  }
  for (const s of input.segments.slice(0, 8)) names.push(`segment=${s}`)
  return names
}

/** Decodes a published model; null when it does not fit the configured feature space. */
export function decodeModel(r: ModelRecord, dims: number): Model | null {
  if (r.dims !== dims || !Array.isArray(r.weights)) return null
  const mean = new Float64Array(dims)
  const variance = new Float64Array(dims).fill(r.priorVariance)
  for (const [i, m, v] of r.weights) {
    if (i >= 0 && i < dims) {
      mean[i] = m
      variance[i] = v
    }
  }
  return { dims, examples: r.examples, mean, variance }
}

/** What {@link scoreCandidate} returns: the policy's score and the model's view for fatigue and learning. */
export interface Scored {
  score: number
  expectedCtr: number
  model: ModelScore
}

/**
 * Scores a candidate's material with the click model. `materialMean` is the material's posterior
 * mean click rate and `materialScore` its score under the policy (operators/scoring.ts); without
 * a published model (cold start) both pass through unchanged. With one, the policy applies to
 * the weights too: greedy uses their means, Thompson a draw from the posterior seeded by `seed`
 * (the decision and material, so replays agree), UCB adds `ucbAlpha` standard deviations.
 */
export function scoreCandidate(options: {
  model: Model | null
  names: readonly string[]
  dims: number
  materialMean: number
  materialScore: number
  policy: Policy
  seed: string
  ucbAlpha: number
}): Scored {
  const { model, names, dims } = options
  const features = names.map((n) => featureIndex(n, dims))
  const offset = logit(options.materialMean)
  const pushIdx = [0, 1, 2, 3].map((n) => featureIndex(pushesFeature(n), dims))
  const trainOnly = [featureIndex(BIAS_FEATURE, dims)]
  if (!model) {
    const byPushes = pushIdx.map(() => round(options.materialMean))
    return { score: options.materialScore, expectedCtr: options.materialMean, model: { features, offset: round(offset), byPushes, pushFeatures: pushIdx, trainOnly, explain: [] } }
  }
  let mu = 0
  let variance = 0
  for (const i of features) {
    mu += model.mean[i] as number
    variance += model.variance[i] as number
  }
  const at0 = model.mean[pushIdx[0] as number] as number
  const expectedCtr = sigmoid(offset + mu + at0)
  const byPushes = pushIdx.map((i) => round(sigmoid(offset + mu + (model.mean[i] as number))))
  let score: number
  if (options.policy === 'thompson') {
    const rand = seededRandom(options.seed)
    let draw = 0
    for (const i of [...features, pushIdx[0] as number]) draw += (model.mean[i] as number) + Math.sqrt(model.variance[i] as number) * gaussian(rand)
    score = sigmoid(logit(options.materialScore) + draw)
  } else if (options.policy === 'ucb') {
    score = sigmoid(logit(Math.min(options.materialScore, 1 - 1e-6)) + mu + at0 + options.ucbAlpha * Math.sqrt(variance))
  } else score = expectedCtr
  return { score, expectedCtr, model: { features, offset: round(offset), byPushes, pushFeatures: pushIdx, trainOnly, explain: explain(model, names, features) } }
}

/** The (at most three) active features with the largest absolute weights, largest first. */
function explain(model: Model, names: readonly string[], features: readonly number[]): FeatureWeight[] {
  const out: FeatureWeight[] = []
  const seen = new Set<number>()
  features.forEach((i, k) => {
    const w = model.mean[i] as number
    if (seen.has(i) || Math.abs(w) < 1e-4) return
    seen.add(i)
    out.push({ feature: names[k] as string, weight: round(w) })
  })
  return out.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || (a.feature < b.feature ? -1 : 1)).slice(0, 3)
}

/** The expected click rate of a scored choice with `pushes` in the last 24 hours (the send-time view). */
export function expectedAt(c: { expectedCtr: number; model?: ModelScore }, pushes: number): number {
  const by = c.model?.byPushes
  return by && by.length === 4 ? (by[Math.min(pushes, 3)] as number) : c.expectedCtr
}

/** Per-index state of a weight being learned: mean and precision. */
export type WeightState = [mean: number, precision: number]

/**
 * One Laplace update of the diagonal Gaussian posterior (see the module comment) for an
 * example with active features `features`, logit offset `offset` and label `clicked`. Reads and
 * writes weights through `get`/`put`, so the caller decides where they live.
 */
export function learnExample(options: {
  features: readonly number[]
  offset: number
  clicked: boolean
  /** Prior variance of weight i. */
  priorVariance: (i: number) => number
  forgetting: number
  get: (i: number) => WeightState | undefined
  put: (i: number, w: WeightState) => void
}): void {
  const y = options.clicked ? 1 : 0
  // A feature listed twice (a hash collision) counts once: x is binary.
  const idx = [...new Set(options.features)]
  const ws = idx.map((i) => {
    const q0 = 1 / options.priorVariance(i)
    const w = options.get(i) ?? [0, q0]
    // Forgetting: the precision drifts back towards the prior, so old evidence fades.
    return [w[0], q0 + (w[1] - q0) * options.forgetting] as WeightState
  })
  let m = options.offset
  let v = 0
  for (const [mi, qi] of ws) {
    m += mi
    v += 1 / qi
  }
  // Newton on g(s) = s - m + (σ(s) - y) v: increasing in s, so it converges from s = m.
  let s = m
  for (let k = 0; k < 20; k++) {
    const p = sigmoid(s)
    const g = s - m + (p - y) * v
    const step = g / (1 + v * p * (1 - p))
    s -= step
    if (Math.abs(step) < 1e-10) break
  }
  const p = sigmoid(s)
  idx.forEach((i, k) => {
    const [mi, qi] = ws[k] as WeightState
    options.put(i, [mi - (p - y) / qi, qi + p * (1 - p)])
  })
}

function gaussian(rand: () => number): number {
  const u = 1 - rand()
  const v = rand()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** Six decimals: stable text in outputs. */
export function round(n: number): number {
  return Math.round(n * 1e6) / 1e6
}

/** The settings the Matching Center needs from `hermes.model`. */
export type ScoringModelSettings = Pick<ModelSettings, 'dims' | 'ucbAlpha' | 'attributes'>

/**
 * The model's fields of a decision sent with `pushes` in the last 24 hours: the expected click
 * rate, the explanation, and what the learner needs (features with the pushes feature, offset,
 * when impressions count). Nothing when the choice has no model score.
 */
export function modelFieldsAt(c: { expectedCtr: number; model?: ModelScore; impressions?: 'decided' | 'delivered' }, pushes: number): Pick<DecisionOut, 'expectedCtr' | 'explain' | 'learn'> {
  if (!c.model) return {}
  const push = c.model.pushFeatures[Math.min(pushes, 3)] as number
  return {
    expectedCtr: round(expectedAt(c, pushes)),
    explain: c.model.explain,
    learn: { features: [...c.model.features, push, ...(c.model.trainOnly ?? [])], offset: c.model.offset, impressions: c.impressions ?? 'decided' },
  }
}
