/**
 * The click model: the expected click rate of *this* candidate, learned online from the
 * feedback loop.
 *
 * Method: Bayesian logistic regression with a diagonal Gaussian posterior over hashed binary
 * features, updated in batches (one per publish interval) with the Laplace approximation, and
 * Thompson sampling for exploration (Chapelle & Li 2011, "An Empirical Evaluation of Thompson
 * Sampling", Algorithm 3). Each weight has a mean `m` and a precision `q` (prior: mean 0,
 * precision 1 / `hermes.model.priorVariance`); the posterior after a batch is the prior of the
 * next (see {@link learnBatch}). A push becomes an example once its label is known: when the
 * attribution window after the send has passed, clicked or not (operators/feedback.ts).
 *
 * Level and context. The click rate of a candidate is
 * `σ(logit(material rate) + Σ context weights)`: the level is the material's posterior mean
 * from material-stats (today's per-material estimate, updated every minute, decayed), and the
 * model says how this candidate differs from it. The model also learns level features (`bias`,
 * `material=<id>`, prior variance {@link LEVEL_VARIANCE_FACTOR} times larger, offset the
 * material's configured prior mean) that are left out of predictions: they absorb what every
 * push of a material shares (its rate, and clicks later than the attribution window), so the
 * context weights carry mostly differences and the level is never counted twice. What the
 * always-on context features still take of the level (a diagonal posterior shares it out) is
 * removed by centring: predictions subtract the mean context sum over recent examples
 * (`ModelRecord.center`). With no model (cold start), the rate is exactly the material's.
 *
 * Context features (binary, hashed into `dims` weights; names are kept for explanations): task,
 * trigger type, event type, the user's activity at the send hour (hour of day, as a share of the
 * user's decayed activity, bucketed), the trigger's age at the send time (bucketed), configured
 * numeric event attributes (bucketed, e.g. `dropPct`), segments, the material crossed with
 * activity, age and attributes (so materials can rank differently by context), and the user's
 * pushes in the last 24 hours (0, 1, 2, 3+; known only at send time, so a score carries one
 * rate per count).
 */
import { hourOfWeek } from './clock.ts'
import { hash32 } from './ids.ts'
import type { Policy } from './scoring.ts'
import { gaussian, seededRandom } from './scoring.ts'
import type { BehaviorEvent, DecisionOut, FeatureWeight, ModelScore } from './types.ts'

const MIN = 60_000
const HOUR = 60 * MIN

/** Key of the model's record on the model topic (one global model). */
export const MODEL_KEY = 'ctr'

/** Level features: learned, left out of predictions (module comment). */
export const BIAS_FEATURE = 'bias'
export const LEVEL_VARIANCE_FACTOR = 100

/** The level feature names of a material. */
export function levelNames(materialId: string): string[] {
  return [BIAS_FEATURE, `material=${materialId}`]
}

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
  /**
   * The mean of the context weights' sum over recent training examples: predictions subtract it,
   * so an average push gets its material's rate and the context only moves it up or down.
   */
  center?: number
}

/** A decoded model, as the Matching Center uses it. */
export interface Model {
  dims: number
  examples: number
  center: number
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

/**
 * Weights of the neighbouring hours of day in the activity at an hour: a Gaussian kernel of
 * 1.5 hours (offsets -3 to +3). Why smoothed: a week of history is about fourteen sessions, so
 * the raw count at one hour of day is 0 to 3 and mostly noise (a user whose evening peak is at
 * 20:30 may have no session at 20:00 this week); the count at the neighbouring hours is evidence
 * about it too (kernel density estimation on the circle of the day). With the raw count, held
 * pushes (operators/hold.ts), which pick the best of up to 24 hours, picked the noise: in the
 * sample world they landed at a mean hour factor of 0.54, no better than the pushes sent at once.
 */
export const ACTIVITY_KERNEL: readonly number[] = [-3, -2, -1, 0, 1, 2, 3].map((k) => Math.exp(-(k * k) / (2 * 1.5 * 1.5)))
const KERNEL_SUM = ACTIVITY_KERNEL.reduce((a, b) => a + b, 0)
const KERNEL_REACH = (ACTIVITY_KERNEL.length - 1) / 2

/**
 * The user's activity at the local hour of day of `at` as a multiple of a uniform day (1: an
 * average hour), over the seven days of the hour-of-week histogram and smoothed over the
 * neighbouring hours ({@link ACTIVITY_KERNEL}); null without enough history (fewer than 3 events).
 */
export function activityRatio(activity: readonly number[] | null | undefined, at: number, timezone: string): number | null {
  if (!activity || activity.length !== 168) return null
  let total = 0
  for (let i = 0; i < 168; i++) total += activity[i] as number
  if (total < 3) return null
  // The hours of day around `at` on each of the seven days (not a pass over all 168 with a modulo each).
  const hod = hourOfWeek(at, timezone) % 24
  let atHour = 0
  for (let k = 0; k < ACTIVITY_KERNEL.length; k++) {
    const h = (hod + k - KERNEL_REACH + 24) % 24
    let sum = 0
    for (let d = 0; d < 7; d++) sum += activity[d * 24 + h] as number
    atHour += (ACTIVITY_KERNEL[k] as number) * sum
  }
  return (24 * atHour) / (KERNEL_SUM * total)
}

/** Bucket of the user's activity at the local hour of `at` ({@link activityRatio}), as a multiple of a uniform day. */
export function activityBucket(activity: readonly number[] | null | undefined, at: number, timezone: string): string {
  const ratio = activityRatio(activity, at, timezone)
  if (ratio === null) return 'none'
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

/**
 * The feature names of a candidate sent at `at` (without the pushes feature), in a stable order.
 * `ageAt` (default `at`) is the time the trigger's age is taken at: a held push is weighed with
 * its age now, because the hold's decay already prices the waiting (operators/hold.ts).
 */
export function featureNames(input: FeatureInput, at: number, attributes: readonly string[], ageAt = at): string[] {
  const act = activityBucket(input.activity, at, input.timezone)
  const age = ageBucket(input.event, ageAt)
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
  return { dims, examples: r.examples, center: typeof r.center === 'number' && Number.isFinite(r.center) ? r.center : 0, mean, variance }
}

/** What {@link scoreCandidate} returns: the policy's score and the model's view for fatigue and learning. */
export interface Scored {
  score: number
  expectedCtr: number
  model: ModelScore
}

/**
 * Scores a candidate's material: the level is the material's Beta posterior (`materialMean`, and
 * `materialScore` its score under the policy, operators/scoring.ts), the click model's context
 * weights move it (module comment). Without a published model (cold start) both pass through
 * unchanged. With one, the policy applies to the weights too: greedy uses their means, Thompson
 * a draw from their posterior seeded by `seed` (the decision and material, so replays agree)
 * added to the Beta draw, UCB adds `ucbAlpha` standard deviations of the context's logit.
 */
export function scoreCandidate(options: {
  model: Model | null
  names: readonly string[]
  dims: number
  materialId: string
  /** The material's configured prior mean: the offset the level features are learned from. */
  priorMean: number
  materialMean: number
  materialScore: number
  policy: Policy
  seed: string
  /**
   * Thompson sampling's one draw of the model per decision (Chapelle & Li 2011: sample the
   * weights once per round, then rank every arm under that sample): each weight's draw is seeded
   * by this and its index, so a feature every material of the candidate shares moves them all
   * alike and only what tells them apart (their rates, their crossed features) ranks them.
   * Without it, each material's draw is seeded by `seed` alone.
   */
  drawSeed?: string
  ucbAlpha: number
}): Scored {
  const { model, names, dims } = options
  const features = names.map((n) => featureIndex(n, dims))
  const level = levelIndices(options.materialId, dims)
  const offset = round(logit(options.priorMean))
  const pushIdx = pushIndices(dims)
  if (!model) {
    const byPushes = pushIdx.map(() => round(options.materialMean))
    return { score: options.materialScore, expectedCtr: options.materialMean, model: { features, level, offset, byPushes, pushFeatures: pushIdx, explain: [] } }
  }
  // Centred: the average context adds nothing to the material's level (ModelRecord.center).
  const base = logit(options.materialMean) - model.center
  let mu = 0
  let variance = 0
  for (const i of features) {
    mu += model.mean[i] as number
    variance += model.variance[i] as number
  }
  const at0 = model.mean[pushIdx[0] as number] as number
  const expectedCtr = sigmoid(base + mu + at0)
  const byPushes = pushIdx.map((i) => round(sigmoid(base + mu + (model.mean[i] as number))))
  let score: number
  if (options.policy === 'thompson') {
    const rand = seededRandom(options.seed)
    const per = options.drawSeed
    let draw = 0
    for (const i of [...features, pushIdx[0] as number]) draw += (model.mean[i] as number) + Math.sqrt(model.variance[i] as number) * gaussian(per === undefined ? rand : seededRandom(`${per}\u0000${i}`))
    score = sigmoid(logit(options.materialScore) + draw)
  } else if (options.policy === 'ucb') {
    score = sigmoid(logit(Math.min(options.materialScore, 1)) + mu + at0 + options.ucbAlpha * Math.sqrt(variance))
  } else score = expectedCtr
  return { score, expectedCtr, model: { features, level, offset, byPushes, pushFeatures: pushIdx, explain: explain(model, names, features) } }
}

/**
 * The share of a candidate's trigger-age effect at `at` the model has not learned yet, 0 to 1:
 * the posterior variance of its age features over their prior variance (1 for an age bucket
 * never seen, falling towards 0 as examples of that age come in). Held pushes apply the
 * configured decay of relevance only to this share (operators/hold.ts): what the model has
 * learned about age it already prices.
 */
export function unlearnedAgeShare(model: Model, input: Pick<FeatureInput, 'materialId' | 'event'>, at: number, priorVariance: number): number {
  const age = ageBucket(input.event, at)
  const idx = [`age=${age}`, `material=${input.materialId}&age=${age}`].map((n) => featureIndex(n, model.dims))
  const share = idx.reduce((sum, i) => sum + Math.min(1, (model.variance[i] as number) / priorVariance), 0) / idx.length
  return Math.max(0, Math.min(1, share))
}

/**
 * The feature indices of the pushes features (0, 1, 2, 3+) and of a material's level features,
 * by `dims` (and material): the same for every candidate, so hashed once, not per candidate and
 * material scored (docs/performance.md, "Decision flow embedded, sixth round"). Frozen: they are
 * shared by every score and the decisions and examples that carry them.
 */
const pushIndexCache = new Map<number, readonly number[]>()
const levelIndexCache = new Map<number, Map<string, readonly number[]>>()
/** Materials whose level indices are kept per `dims`; past it the cache starts over (materials come and go). */
const LEVEL_CACHE_MAX = 10_000

function pushIndices(dims: number): number[] {
  let idx = pushIndexCache.get(dims)
  if (idx === undefined) {
    idx = Object.freeze([0, 1, 2, 3].map((n) => featureIndex(pushesFeature(n), dims)))
    pushIndexCache.set(dims, idx)
  }
  return idx as number[]
}

function levelIndices(materialId: string, dims: number): number[] {
  let byMaterial = levelIndexCache.get(dims)
  if (byMaterial === undefined) levelIndexCache.set(dims, (byMaterial = new Map()))
  let idx = byMaterial.get(materialId)
  if (idx === undefined) {
    if (byMaterial.size >= LEVEL_CACHE_MAX) byMaterial.clear()
    idx = Object.freeze(levelNames(materialId).map((n) => featureIndex(n, dims)))
    byMaterial.set(materialId, idx)
  }
  return idx as number[]
}

/** Whether explanation `a` ranks before `b`: the larger absolute weight, then the feature name. */
function explainsBefore(a: FeatureWeight, b: FeatureWeight): boolean {
  return (Math.abs(b.weight) - Math.abs(a.weight) || (a.feature < b.feature ? -1 : 1)) < 0
}

/**
 * The (at most three) active features with the largest absolute weights, largest first (ties:
 * by name). A feature index seen before (two names hashed to one weight) counts once, under its
 * first name. Kept in place as the three best so far, with no set, closure or sort per call:
 * this runs for every material of every candidate.
 */
function explain(model: Model, names: readonly string[], features: readonly number[]): FeatureWeight[] {
  const out: FeatureWeight[] = []
  next: for (let k = 0; k < features.length; k++) {
    const i = features[k] as number
    for (let j = 0; j < k; j++) if (features[j] === i) continue next
    const w = model.mean[i] as number
    if (Math.abs(w) < 1e-4) continue
    const fw: FeatureWeight = { feature: names[k] as string, weight: round(w) }
    let at = out.length
    while (at > 0 && explainsBefore(fw, out[at - 1] as FeatureWeight)) at--
    if (at >= 3) continue
    out.splice(at, 0, fw)
    if (out.length > 3) out.length = 3
  }
  return out
}

/** The expected click rate of a scored choice with `pushes` in the last 24 hours (the send-time view). */
export function expectedAt(c: { expectedCtr: number; model?: ModelScore }, pushes: number): number {
  const by = c.model?.byPushes
  return by && by.length === 4 ? (by[Math.min(pushes, 3)] as number) : c.expectedCtr
}

/** Per-index state of a weight being learned: mean and precision. */
export type WeightState = [mean: number, precision: number]

/** Training examples with the same features and offset, counted. */
export interface ExampleGroup {
  features: number[]
  offset: number
  /** Examples (pushes and, with fake negatives, clicks again). */
  n: number
  /** Of which positive. */
  clicks: number
}

/**
 * One batch update of the diagonal Gaussian posterior (Chapelle & Li 2011, Algorithm 3): the
 * weights move to the mode of prior × likelihood of the batch, found by coordinate-wise Newton
 * steps (one weight at a time, so features that are always on together share the evidence
 * instead of each taking all of it), then each precision grows by the curvature at the mode:
 * `q_i ← q_i + Σ n p(1 - p)` over the groups with feature i. Reads and writes weights through
 * `get`/`put`, so the caller decides where they live.
 */
export function learnBatch(options: {
  groups: readonly ExampleGroup[]
  /** Prior variance of weight i. */
  priorVariance: (i: number) => number
  forgetting: number
  get: (i: number) => WeightState | undefined
  put: (i: number, w: WeightState) => void
}): void {
  // A feature listed twice in one example (a hash collision) counts once: x is binary.
  const groups = options.groups.map((g) => ({ ...g, features: [...new Set(g.features)] }))
  const byFeature = new Map<number, number[]>()
  groups.forEach((g, k) => {
    for (const i of g.features) {
      let list = byFeature.get(i)
      if (!list) byFeature.set(i, (list = []))
      list.push(k)
    }
  })
  const active = [...byFeature.keys()].sort((a, b) => a - b)
  const prior = new Map<number, WeightState>()
  for (const i of active) {
    const q0 = 1 / options.priorVariance(i)
    const w = options.get(i) ?? [0, q0]
    // Forgetting: the precision drifts back towards the prior, so old evidence fades.
    prior.set(i, [w[0], q0 + (w[1] - q0) * options.forgetting])
  }
  const w = new Map<number, number>(active.map((i) => [i, (prior.get(i) as WeightState)[0]]))
  const s = groups.map((g) => g.offset + g.features.reduce((sum, i) => sum + (w.get(i) as number), 0))
  for (let sweep = 0; sweep < 50; sweep++) {
    let largest = 0
    for (const i of active) {
      const [m, q] = prior.get(i) as WeightState
      const wi = w.get(i) as number
      let grad = q * (wi - m)
      let hess = q
      for (const k of byFeature.get(i) as number[]) {
        const g = groups[k] as ExampleGroup
        const p = sigmoid(s[k] as number)
        grad += g.n * p - g.clicks
        hess += g.n * p * (1 - p)
      }
      // A bounded Newton step: the objective is convex, the bound keeps a flat start from leaping.
      const step = Math.max(-2, Math.min(2, grad / hess))
      w.set(i, wi - step)
      for (const k of byFeature.get(i) as number[]) s[k] = (s[k] as number) - step
      largest = Math.max(largest, Math.abs(step))
    }
    if (largest < 1e-7) break
  }
  for (const i of active) {
    let q = (prior.get(i) as WeightState)[1]
    for (const k of byFeature.get(i) as number[]) {
      const p = sigmoid(s[k] as number)
      q += (groups[k] as ExampleGroup).n * p * (1 - p)
    }
    options.put(i, [w.get(i) as number, q])
  }
}


/** Six decimals: stable text in outputs. */
export function round(n: number): number {
  return Math.round(n * 1e6) / 1e6
}


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
    learn: { features: [...c.model.features, push], level: c.model.level, offset: c.model.offset, impressions: c.impressions ?? 'decided' },
  }
}
