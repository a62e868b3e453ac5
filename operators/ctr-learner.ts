/**
 * The click model's learner (topologies/material-stats.ts): every training example of every user
 * comes to one key ({@link MODEL_KEY}), where examples are counted by (features, offset) until
 * the publish interval ends; then the diagonal Gaussian posterior of the weights takes one batch
 * update (operators/ctr-model.ts, `learnBatch`) and is published to the compacted model topic
 * that the decision flow reads as broadcast state. One key on purpose: a global model needs one
 * place, and its state is small (at most `dims` weights, only those that moved are stored and
 * published; the batch holds one counter per distinct example).
 */
import type { Processor, ProcessorContext, Record, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor } from '../pipeline/api/index.ts'
import type { ExampleGroup, ModelRecord, WeightState } from './ctr-model.ts'
import { LEVEL_VARIANCE_FACTOR, MODEL_KEY, learnBatch, round } from './ctr-model.ts'
import type { TrainingExample } from './feedback.ts'
import type { ModelSettings } from './model-settings.ts'

/** Examples the running centre remembers at most: older batches fade out of it. */
const CENTER_MEMORY = 10_000

/** Learns from examples keyed by {@link MODEL_KEY}; stores `weights` (map by index), `level` (level feature indices), `batch` (map by example), `examples`, `center` and `publishAt`. */
export function ctrLearner(settings: Pick<ModelSettings, 'dims' | 'priorVariance' | 'forgetting' | 'publishIntervalMs'>): Processor<TrainingExample, ModelRecord> {
  let ctx!: ProcessorContext<ModelRecord>
  return {
    init(c) {
      ctx = c
    },
    process(record: Record<TrainingExample>) {
      const ex = record.value
      const valid = (i: number): boolean => Number.isInteger(i) && i >= 0 && i < settings.dims
      const features = ex.features.filter(valid)
      const level = (ex.level ?? []).filter(valid)
      // Level features are remembered as such: they get the wider prior (operators/ctr-model.ts).
      const levels = ctx.mapStore<number>('level')
      for (const i of level) if (!levels.has(String(i))) levels.put(String(i), 1)
      const batch = ctx.mapStore<ExampleGroup>('batch')
      const field = `${ex.offset}|${features.join(',')}|${level.join(',')}`
      const g = batch.get(field) ?? { features: [...features, ...level], offset: ex.offset, n: 0, clicks: 0 }
      batch.put(field, { ...g, n: g.n + 1, clicks: g.clicks + (ex.clicked ? 1 : 0) })
      const pending = ctx.valueStore<number>('publishAt')
      if (pending.get() === undefined) {
        const at = record.timestamp + settings.publishIntervalMs
        pending.put(at)
        ctx.timers.registerEventTime(at, 'publish')
      }
    },
    onTimer(timer: Timer) {
      ctx.valueStore<number>('publishAt').delete()
      const batch = ctx.mapStore<ExampleGroup>('batch')
      const groups = batch.entries().map(([, g]) => g)
      batch.clear()
      const weights = ctx.mapStore<WeightState>('weights')
      const levels = ctx.mapStore<number>('level')
      const priorVariance = (i: number): number => (levels.has(String(i)) ? LEVEL_VARIANCE_FACTOR : 1) * settings.priorVariance
      learnBatch({ groups, priorVariance, forgetting: settings.forgetting, get: (i) => weights.get(String(i)), put: (i, w) => weights.put(String(i), w) })
      // Centring (operators/ctr-model.ts): the mean context sum of this batch, averaged into the
      // running centre with the weight of its examples (older ones capped, so the centre can move).
      const examples = ctx.valueStore<number>('examples')
      const before = examples.get() ?? 0
      const n = groups.reduce((sum, g) => sum + g.n, 0)
      const batchMean = n === 0 ? 0 : groups.reduce((sum, g) => sum + g.n * g.features.reduce((c, i) => (levels.has(String(i)) ? c : c + (weights.get(String(i))?.[0] ?? 0)), 0), 0) / n
      const center = ctx.valueStore<number>('center')
      const kept = Math.min(before, CENTER_MEMORY)
      center.put(n === 0 ? (center.get() ?? 0) : ((center.get() ?? 0) * kept + batchMean * n) / (kept + n))
      examples.put(before + n)
      const published = weights
        .entries()
        .map(([i, [m, q]]) => [Number(i), round(m), round(1 / q)] as [number, number, number])
        .sort((a, b) => a[0] - b[0])
      const value: ModelRecord = { modelId: MODEL_KEY, ts: timer.time, dims: settings.dims, priorVariance: settings.priorVariance, examples: examples.get() ?? 0, weights: published, center: round(center.get() ?? 0) }
      ctx.forward(new RecordCtor<ModelRecord>({ key: MODEL_KEY, value, timestamp: timer.time }))
    },
  }
}
