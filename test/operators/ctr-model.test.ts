import { describe, expect, it } from 'vitest'
import type { ExampleGroup, Model, WeightState } from '../../operators/ctr-model.ts'
import { LEVEL_VARIANCE_FACTOR, activityBucket, activityRatio, decodeModel, featureIndex, featureNames, learnBatch, levelNames, logit, scoreCandidate, sigmoid } from '../../operators/ctr-model.ts'
import { seededRandom } from '../../operators/scoring.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

const DIMS = 4096
const users = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)
const drop = (u: string, ts: number, dropPct: number): object => ev(u, 'price_drop', ts, { eventId: `${u}-drop-${ts}`, attrs: { dropPct } })
const clickOn = (x: Decision, ts: number): object => ({ eventId: `click-${x.decisionId}`, userId: x.userId, type: 'push_click', ts, attrs: { decisionId: x.decisionId } })

/**
 * Trains the pure model as the learner does (labelled examples in batches of 100, level
 * features with the wider prior, offset the material's prior mean 5 %) and returns it decoded,
 * as the Matching Center would see it.
 */
function train(examples: Array<{ names: string[]; clicked: boolean }>): Model {
  const weights = new Map<number, WeightState>()
  const offset = logit(0.05)
  const level = levelNames('m1').map((n) => featureIndex(n, DIMS))
  for (let b = 0; b < examples.length; b += 100) {
    const groups = new Map<string, ExampleGroup>()
    for (const ex of examples.slice(b, b + 100)) {
      const features = [...ex.names.map((n) => featureIndex(n, DIMS)), ...level]
      const g = groups.get(features.join()) ?? { features, offset, n: 0, clicks: 0 }
      groups.set(features.join(), { ...g, n: g.n + 1, clicks: g.clicks + (ex.clicked ? 1 : 0) })
    }
    learnBatch({ groups: [...groups.values()], priorVariance: (i) => (level.includes(i) ? LEVEL_VARIANCE_FACTOR : 1) * 0.25, forgetting: 1, get: (i) => weights.get(i), put: (i, w) => weights.set(i, w) })
  }
  // The centre, as the learner keeps it: the mean context sum over the examples.
  const sum = (names: string[]): number => names.reduce((c, n) => c + (weights.get(featureIndex(n, DIMS))?.[0] ?? 0), 0)
  const center = examples.reduce((c, ex) => c + sum(ex.names), 0) / examples.length
  const record = { modelId: 'ctr', ts: 0, dims: DIMS, priorVariance: 0.25, examples: examples.length, center, weights: [...weights].map(([i, [m, q]]) => [i, m, 1 / q] as [number, number, number]) }
  return decodeModel(record, DIMS) as Model
}

const candidate = (dropPct: number, activity: number[] | null = null) => ({ taskId: 't1', materialId: 'm1', origin: 'event', event: { eventId: 'e', userId: 'u', type: 'price_drop', ts: T0, attrs: { dropPct } }, segments: [], timezone: 'UTC', activity })
/** The model's rate for a candidate whose material's rate (from material-stats) is `rate`. */
const predict = (model: Model | null, names: string[], policy: 'greedy' | 'thompson' = 'greedy', seed = 's', rate = 0.05) =>
  scoreCandidate({ model, names, dims: DIMS, materialId: 'm1', priorMean: 0.05, materialMean: rate, materialScore: rate, policy, seed, ucbAlpha: 1 })

describe('click model: online Bayesian logistic regression', () => {
  it('learns a planted effect (clicks only when dropPct >= 30) and separates the predicted rates', () => {
    const rand = seededRandom('planted-drop')
    const examples = Array.from({ length: 2000 }, () => {
      const dropPct = rand() < 0.5 ? 10 : 40
      return { names: featureNames(candidate(dropPct), T0, ['dropPct']), clicked: dropPct >= 30 && rand() < 0.2 }
    })
    const model = train(examples)
    // The material's rate over all its pushes is 10 %: the context moves it up or down.
    const high = predict(model, featureNames(candidate(40), T0, ['dropPct']), 'greedy', 's', 0.1).expectedCtr
    const low = predict(model, featureNames(candidate(10), T0, ['dropPct']), 'greedy', 's', 0.1).expectedCtr
    // True rates 20 % and 0 %: the model must tell them apart by far.
    expect(high).toBeGreaterThan(0.15)
    expect(low).toBeLessThan(0.03)
    expect(predict(model, featureNames(candidate(40), T0, ['dropPct'])).model.explain[0]?.feature).toMatch(/dropPct=lt50/)
  })

  it('smooths the activity over neighbouring hours: a user seen at 19:00 one day and 21:00 another is around at 20:00, not at 04:00', () => {
    // A week of two sessions: Monday 19:00 and Tuesday 21:00 UTC; nothing at 20:00 itself.
    const activity = Array.from({ length: 168 }, (_, h) => (h === 19 || h === 24 + 21 ? 5 : 0))
    const at = (hour: number): number => T0 - 10 * HOUR + hour * HOUR
    expect(activityRatio(activity, at(20), 'UTC')).toBeGreaterThan(3)
    expect(activityBucket(activity, at(20), 'UTC')).toBe('peak')
    expect(activityBucket(activity, at(4), 'UTC')).toBe('idle')
    // The same hour of day on any day of the week: the seven days are pooled.
    expect(activityRatio(activity, at(3 * 24 + 20), 'UTC')).toBe(activityRatio(activity, at(20), 'UTC'))
    expect(activityRatio(null, at(20), 'UTC')).toBeNull()
  })

  it('learns the user\'s active hour from the activity histogram', () => {
    // Active at 20:00 UTC only.
    const activity = Array.from({ length: 168 }, (_, h) => (h % 24 === 20 ? 5 : 0))
    const rand = seededRandom('planted-hour')
    const evening = T0 + 10 * HOUR // Monday 20:00 UTC
    expect(activityBucket(activity, evening, 'UTC')).toBe('peak')
    expect(activityBucket(activity, T0, 'UTC')).toBe('idle')
    const examples = Array.from({ length: 2000 }, () => {
      const at = rand() < 0.5 ? T0 : evening
      return { names: featureNames(candidate(10, activity), at, ['dropPct']), clicked: at === evening && rand() < 0.2 }
    })
    const model = train(examples)
    const atPeak = predict(model, featureNames(candidate(10, activity), evening, ['dropPct'])).expectedCtr
    const idle = predict(model, featureNames(candidate(10, activity), T0, ['dropPct'])).expectedCtr
    expect(atPeak).toBeGreaterThan(5 * idle)
  })

  it('keeps the material\'s level: what every push shares (its rate, clicks after the window) lands on the level features', () => {
    const rand = seededRandom('level')
    // Prior mean 5 %, but only 1 % of pushes are clicked within the window, in every context.
    const examples = Array.from({ length: 3000 }, () => ({ names: featureNames(candidate(rand() < 0.5 ? 10 : 40), T0, ['dropPct']), clicked: rand() < 0.01 }))
    const model = train(examples)
    for (const drop of [10, 40]) {
      const p = predict(model, featureNames(candidate(drop), T0, ['dropPct'])).expectedCtr
      expect(p).toBeGreaterThan(0.035)
      expect(p).toBeLessThan(0.065)
    }
  })

  it('starts from the material\'s rate (cold start) and explains nothing before it has learned', () => {
    const cold = predict(null, featureNames(candidate(40), T0, ['dropPct']))
    expect(cold.expectedCtr).toBe(0.05)
    expect(cold.score).toBe(0.05)
    expect(cold.model.byPushes).toEqual([0.05, 0.05, 0.05, 0.05])
    expect(cold.model.explain).toEqual([])
  })

  it('samples weights for Thompson sampling from a seed: the same seed gives the same score', () => {
    const rand = seededRandom('thompson')
    const model = train(Array.from({ length: 200 }, () => ({ names: featureNames(candidate(40), T0, ['dropPct']), clicked: rand() < 0.1 })))
    const names = featureNames(candidate(40), T0, ['dropPct'])
    const a = predict(model, names, 'thompson', 'decision-1\u0000m1').score
    expect(predict(model, names, 'thompson', 'decision-1\u0000m1').score).toBe(a)
    const others = Array.from({ length: 20 }, (_, i) => predict(model, names, 'thompson', `decision-${i + 2}\u0000m1`).score)
    expect(new Set(others).size).toBe(20)
    // The draws centre on the greedy prediction.
    const mean = others.reduce((s, x) => s + x, 0) / others.length
    expect(Math.abs(Math.log(mean) - Math.log(predict(model, names).expectedCtr))).toBeLessThan(1)
    expect(sigmoid(0)).toBe(0.5)
  })
})

describe('Thompson sampling on the model: one draw of the weights per decision', () => {
  it('ranks a candidate\'s materials by what tells them apart, not by independent draws of the context they share', () => {
    // Shared context weights very uncertain (variance 1 each), the materials' crossed weights
    // known (variance 1e-4); m1's rate 6 %, m2's 4 %: under one draw of the model, m1 ranks first
    // every time, whatever the shared draw. With a draw per material the shared noise (a logit
    // sd of about 2.4) decides the ranking about half the time.
    const names = (m: string): string[] => featureNames({ ...candidate(40), materialId: m }, T0, ['dropPct'])
    const crossed = [...names('m1'), ...names('m2')].filter((n) => n.startsWith('material='))
    const weights = crossed.map((n) => [featureIndex(n, DIMS), 0, 1e-4] as [number, number, number]).sort((a, b) => a[0] - b[0])
    const model = decodeModel({ modelId: 'ctr', ts: 0, dims: DIMS, priorVariance: 1, examples: 1000, center: 0, weights }, DIMS) as Model
    const rank = (decision: string, drawSeed: string | undefined): boolean => {
      const s = (m: string, rate: number): number => scoreCandidate({ model, names: names(m), dims: DIMS, materialId: m, priorMean: 0.05, materialMean: rate, materialScore: rate, policy: 'thompson', seed: `${decision}\u0000${m}`, ...(drawSeed ? { drawSeed } : {}), ucbAlpha: 1 }).score
      return s('m1', 0.06) > s('m2', 0.04)
    }
    const decisions = Array.from({ length: 200 }, (_, i) => `decision-${i}`)
    expect(decisions.filter((d) => rank(d, d)).length).toBe(200)
    // The old draw per material: the shared noise reorders them often.
    expect(decisions.filter((d) => rank(d, undefined)).length).toBeLessThan(160)
    // Still a draw: the score of one material varies from decision to decision.
    const m1 = new Set(decisions.slice(0, 20).map((d) => scoreCandidate({ model, names: names('m1'), dims: DIMS, materialId: 'm1', priorMean: 0.05, materialMean: 0.06, materialScore: 0.06, policy: 'thompson', seed: `${d}\u0000m1`, drawSeed: d, ucbAlpha: 1 }).score))
    expect(m1.size).toBe(20)
  })
})

describe('click model in the decision flow', () => {
  /** Sends price drops of 10 % and 40 % to fresh users and clicks half of the 40 % pushes, never a 10 % one. */
  async function trained(d: TopologyTestDriver): Promise<number> {
    const us = users(200, 'train')
    await d.pipe('behavior-events', us.map((u, i) => drop(u, T0 + i * 1000, i % 2 === 0 ? 40 : 10)))
    await advanceTo(d, T0 + 5 * MIN, MIN)
    const sent = decisions(d)
    expect(sent).toHaveLength(200)
    const rand = seededRandom('flow-clicks')
    const clicks = sent.filter((x) => Number(x.userId.slice(-3)) % 2 === 0 && rand() < 0.5).map((x) => clickOn(x, x.sendAt + 5 * MIN))
    await d.pipe('behavior-events', clicks)
    // Past the attribution window (2 h) and one publish interval (15 min): the model is out.
    await advanceTo(d, T0 + 3 * HOUR, 10 * MIN)
    return clicks.length
  }

  it('after feedback, predicts more for a 40 % drop than for a 10 % one, and arbitration and low_value follow', async () => {
    const d = await flow({ stats: true, settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    const clicks = await trained(d)
    expect(clicks).toBeGreaterThan(30)
    // One example per push, labelled when the attribution window has passed.
    const models = d.readValues<{ examples: number }>('ctr-model')
    expect(models.at(-1)?.examples).toBe(200)
    suppressions(d)

    // Two drops for one user inside the arbitration window: the bigger one wins on expected value.
    const t = T0 + 4 * HOUR
    const pairs = users(10, 'pair')
    await d.pipe('behavior-events', pairs.flatMap((u, i) => [drop(u, t + i * 5000, 10), drop(u, t + i * 5000 + 1, 40)]))
    await advanceTo(d, t + 5 * MIN, MIN)
    const won = decisions(d)
    expect(won).toHaveLength(10)
    for (const x of won) expect(x.triggerEventId).toMatch(/-drop-\d*1$/) // the +1 ms event: the 40 % drop
    expect(suppressions(d).map((s) => s.reason)).toEqual(Array(10).fill('arbitration'))
    const high = won[0]?.expectedCtr as number
    expect(won[0]?.explain?.length).toBeGreaterThan(0)

    // A threshold between the two rates: 10 % drops are low_value, 40 % drops go out.
    await d.pipe('config.tasks', [eventTask('t1', { minExpectedCtr: high / 3 })])
    const t2 = T0 + 5 * HOUR
    const mixed = users(10, 'mixed')
    await d.pipe('behavior-events', mixed.map((u, i) => drop(u, t2 + i * 1000, i % 2 === 0 ? 40 : 10)))
    await advanceTo(d, t2 + 5 * MIN, MIN)
    expect(decisions(d).map((x) => x.userId)).toEqual(mixed.filter((_, i) => i % 2 === 0))
    expect(suppressions(d).map((s: Suppression) => [s.userId, s.reason])).toEqual(mixed.filter((_, i) => i % 2 === 1).map((u) => [u, 'low_value']))
    await d.close()
  })

  it('under Thompson sampling, ranks materials under one draw of the model per decision: context both share does not reorder them', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m2', 'm1'], policy: 'thompson' })])
    // Rates known from a million impressions each (m1 6 %, m2 4 %); shared context uncertain
    // (unseen weights at a prior variance of 1), each material's crossed weights known.
    await d.pipe('material-stats', [{ materialId: 'm1', impressions: 1e6, clicks: 6e4, ts: T0 - HOUR }, { materialId: 'm2', impressions: 1e6, clicks: 4e4, ts: T0 - HOUR }])
    const input = (m: string) => ({ taskId: 't1', materialId: m, origin: 'event', event: { eventId: 'e', userId: 'u', type: 'price_drop', ts: T0, attrs: { dropPct: 40 } }, segments: [], timezone: 'UTC', activity: null })
    const crossed = ['m1', 'm2'].flatMap((m) => featureNames(input(m), T0, ['dropPct', 'discountPct'])).filter((n) => n.startsWith('material='))
    const weights = crossed.map((n) => [featureIndex(n, DIMS), 0, 1e-4] as [number, number, number]).sort((a, b) => a[0] - b[0])
    await d.pipe('ctr-model', [{ modelId: 'ctr', ts: T0 - HOUR, dims: DIMS, priorVariance: 1, examples: 1000, center: 0, weights }])
    await d.pipe('behavior-events', users(100, 'one').map((u, i) => drop(u, T0 + i * 1000, 40)))
    await advanceTo(d, T0 + 5 * MIN, MIN)
    const sent = decisions(d)
    expect(sent).toHaveLength(100)
    expect(sent.filter((x) => x.materialId === 'm1')).toHaveLength(100)
    await d.close()
  })

  it('gives byte-identical decisions and models when the same input runs again, with Thompson sampling on the model', async () => {
    const run = async (): Promise<string> => {
      const d = await flow({ stats: true, settings: { fatigue: { minGapMs: 0 } } })
      await d.pipe('config.materials', [material('m1'), material('m2')])
      await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'], policy: 'thompson' })])
      await trained(d)
      await d.pipe('behavior-events', users(30, 'after').map((u, i) => drop(u, T0 + 4 * HOUR + i * 1000, 40)))
      await advanceTo(d, T0 + 4 * HOUR + 5 * MIN, MIN)
      const out = JSON.stringify([d.readOutput('push-decisions').map((r) => r.value), d.readOutput('ctr-model').map((r) => r.value)])
      await d.close()
      return out
    }
    const first = await run()
    expect(first).toContain('"policy":"thompson"')
    expect(await run()).toBe(first)
  })
})

describe('a scored candidate\'s explanation and feature indices', () => {
  /** The explanation as it was computed before the sixth round: every active feature, sorted, the first three. */
  const sortedExplain = (model: Model, names: readonly string[]) => {
    const features = names.map((n) => featureIndex(n, model.dims))
    const out: Array<{ feature: string; weight: number }> = []
    const seen = new Set<number>()
    features.forEach((i, k) => {
      const w = model.mean[i] as number
      if (seen.has(i) || Math.abs(w) < 1e-4) return
      seen.add(i)
      out.push({ feature: names[k] as string, weight: Math.round(w * 1e6) / 1e6 })
    })
    return out.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || (a.feature < b.feature ? -1 : 1)).slice(0, 3)
  }

  it('names the three largest active weights, ties by name, a hashed-together index once, as a full sort did', () => {
    // 16 weights for about 20 names: names share indices; weights drawn from a few values, so
    // equal absolute weights (ties, of either sign) and inactive ones (below 1e-4) are common.
    const dims = 16
    const rand = seededRandom('explain')
    const values = [0, 5e-5, 0.25, -0.25, 0.5, -0.75, 0.75, 1.5]
    let compared = 0
    for (let round = 0; round < 300; round++) {
      const mean = new Float64Array(dims).map(() => values[Math.floor(rand() * values.length)] as number)
      const model: Model = { dims, examples: 1, center: 0, mean, variance: new Float64Array(dims).fill(1) }
      const names = Array.from({ length: 1 + Math.floor(rand() * 20) }, (_, i) => `f${Math.floor(rand() * 40)}=${i % 3}`)
      const got = scoreCandidate({ model, names, dims, materialId: 'm1', priorMean: 0.05, materialMean: 0.05, materialScore: 0.05, policy: 'greedy', seed: 's', ucbAlpha: 0 }).model.explain
      expect(got).toEqual(sortedExplain(model, names))
      compared += got.length
    }
    // Not all empty: the comparison saw explanations of every length.
    expect(compared).toBeGreaterThan(300)
  })

  it('gives every candidate the same pushes and level indices, hashed from their names, and refuses to have them changed', () => {
    const score = (materialId: string) =>
      scoreCandidate({ model: null, names: ['task=t1'], dims: DIMS, materialId, priorMean: 0.05, materialMean: 0.05, materialScore: 0.05, policy: 'greedy', seed: 's', ucbAlpha: 0 }).model
    const a = score('m1')
    const b = score('m2')
    expect(a.pushFeatures).toEqual(['pushes24h=0', 'pushes24h=1', 'pushes24h=2', 'pushes24h=3+'].map((n) => featureIndex(n, DIMS)))
    expect(b.pushFeatures).toEqual(a.pushFeatures)
    expect(a.level).toEqual(levelNames('m1').map((n) => featureIndex(n, DIMS)))
    expect(b.level).toEqual(levelNames('m2').map((n) => featureIndex(n, DIMS)))
    // Another feature space hashes again.
    const small = scoreCandidate({ model: null, names: ['task=t1'], dims: 8, materialId: 'm1', priorMean: 0.05, materialMean: 0.05, materialScore: 0.05, policy: 'greedy', seed: 's', ucbAlpha: 0 }).model
    expect(small.level).toEqual(levelNames('m1').map((n) => featureIndex(n, 8)))
    // Shared by every score (and the decisions carrying them): a change would be everyone's.
    expect(() => (a.level as number[]).push(1)).toThrow(TypeError)
    expect(() => {
      ;(a.pushFeatures as number[])[0] = 1
    }).toThrow(TypeError)
  })
})
