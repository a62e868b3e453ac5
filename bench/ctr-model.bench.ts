/**
 * The click model's CPU cost per candidate, as the Matching Center pays it (operators/ctr-model.ts,
 * operators/matching-center.ts): the features and score of each of three materials, without a
 * model (the level only) and with one, plus the search of a held push over eight hours (features
 * and score per hour, the unlearned age share).
 * Prints microseconds per candidate for each, median of `--rounds` rounds; figures only.
 *
 *   npx tsx bench/ctr-model.bench.ts [--candidates N] [--rounds N]
 */
import { parseArgs } from 'node:util'
import type { FeatureInput, Model } from '../operators/ctr-model.ts'
import * as ctrModel from '../operators/ctr-model.ts'
import { bestSendTime } from '../operators/hold.ts'
import { mulberry32 } from '../operators/ids.ts'

const { featureNames, scoreCandidate } = ctrModel
// Absent from versions before issue 12's last round: the bench then times what there is, so the
// same file measures an older checkout side by side.
const { unlearnedAgeShare } = ctrModel as Partial<typeof ctrModel>

const { values: args } = parseArgs({ options: { candidates: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } })
const N = Number(args.candidates)
const ROUNDS = Number(args.rounds)
const DIMS = 4096
const HOUR = 3_600_000
const T0 = Date.UTC(2026, 10, 2, 10)
const ATTRS = ['dropPct', 'discountPct']
const rand = mulberry32(42)

// A model whose every weight has moved (the worst case for lookups is the same as the best: arrays).
const model: Model = { dims: DIMS, examples: 1e5, center: 0.1, mean: new Float64Array(DIMS).map(() => (rand() - 0.5) * 0.4), variance: new Float64Array(DIMS).map(() => 0.01 + rand() * 0.2) }
const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Kolkata', 'UTC']
const inputs: FeatureInput[] = Array.from({ length: 1000 }, (_, k) => ({
  taskId: 'cart-abandon',
  materialId: 'm4',
  origin: 'event',
  event: { eventId: `e${k}`, userId: `u${k}`, type: 'add_to_cart', ts: T0 + k * 1000, itemId: `i${k % 97}`, attrs: { dropPct: k % 50 } },
  segments: k % 3 === 0 ? ['vip', 'new'] : ['bargain-hunters'],
  timezone: zones[k % zones.length] as string,
  activity: Array.from({ length: 168 }, () => Math.floor(rand() * 4)),
}))
const MATERIALS = ['m4', 'm5', 'm3']

function score(input: FeatureInput, m: Model | null, at: number): number {
  let best = 0
  for (const materialId of MATERIALS) {
    const names = featureNames({ ...input, materialId }, at, ATTRS)
    const s = scoreCandidate({ model: m, names, dims: DIMS, materialId, priorMean: 1 / 21, materialMean: 0.05, materialScore: 0.05, policy: 'thompson', seed: `${input.event?.eventId}\u0000${materialId}`, ucbAlpha: 1 })
    best = Math.max(best, s.score)
  }
  return best
}

function hold(input: FeatureInput): number {
  // As the Matching Center does: hours with the same features are scored once.
  const memo = new Map<string, number>()
  const expected = (t: number): number => {
    const names = featureNames(input, t, ATTRS)
    const key = names.join('\u0000')
    let p = memo.get(key)
    if (p === undefined) memo.set(key, (p = scoreCandidate({ model, names, dims: DIMS, materialId: input.materialId, priorMean: 1 / 21, materialMean: 0.05, materialScore: 0.05, policy: 'greedy', seed: 'x', ucbAlpha: 0 }).expectedCtr))
    return p
  }
  const at = (input.event?.ts ?? T0) + 30 * 60_000
  return bestSendTime({ at, maxHoldMs: 8 * HOUR, triggerTs: input.event?.ts ?? T0, halfLifeMs: 6 * HOUR, margin: 0.1, expected, quiet: () => false, ...(unlearnedAgeShare ? { unlearned: (t: number) => unlearnedAgeShare(model, input, t, 0.25) } : {}) })
}

function time(label: string, body: (input: FeatureInput, k: number) => number): [string, number] {
  const rounds: number[] = []
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let k = 0; k < N; k++) sink += body(inputs[k % inputs.length] as FeatureInput, k)
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / N)
  }
  if (Number.isNaN(sink)) throw new Error('unreachable')
  rounds.sort((a, b) => a - b)
  return [label, +(rounds[Math.floor(rounds.length / 2)] as number).toFixed(2)]
}

const figures = Object.fromEntries([
  time('score3MaterialsNoModelUs', (x, k) => score(x, null, T0 + k)),
  time('score3MaterialsWithModelUs', (x, k) => score(x, model, T0 + k)),
  time('holdSearch8HoursUs', (x) => hold(x)),
])
process.stdout.write(`${JSON.stringify({ benchmark: 'click model CPU per candidate (median of rounds)', candidates: N, rounds: ROUNDS, ...figures }, null, 2)}\n`)
