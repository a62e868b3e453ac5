/**
 * The click model's learner (topologies/material-stats.ts): every training example of every user
 * comes to one key ({@link MODEL_KEY}), where the diagonal Gaussian posterior of the weights is
 * updated one example at a time (operators/ctr-model.ts, `learnExample`) and published, at most
 * once per `publishIntervalMs` of event time, to the compacted model topic that the decision
 * flow reads as broadcast state. One key on purpose: a global model needs one place, and its
 * state is small (at most `dims` weights, only those that moved are stored and published).
 */
import type { Processor, ProcessorContext, Record, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor } from '../pipeline/api/index.ts'
import type { ModelRecord, WeightState } from './ctr-model.ts'
import { BIAS_FEATURE, BIAS_VARIANCE_FACTOR, MODEL_KEY, featureIndex, learnExample, round } from './ctr-model.ts'
import type { TrainingExample } from './feedback.ts'
import type { ModelSettings } from './model-settings.ts'

/** Learns from examples keyed by {@link MODEL_KEY}; stores `weights` (map by index), `examples` and `publishAt`. */
export function ctrLearner(settings: Pick<ModelSettings, 'dims' | 'priorVariance' | 'forgetting' | 'publishIntervalMs'>): Processor<TrainingExample, ModelRecord> {
  let ctx!: ProcessorContext<ModelRecord>
  const bias = featureIndex(BIAS_FEATURE, settings.dims)
  const priorVariance = (i: number): number => (i === bias ? BIAS_VARIANCE_FACTOR : 1) * settings.priorVariance
  return {
    init(c) {
      ctx = c
    },
    process(record: Record<TrainingExample>) {
      const ex = record.value
      const weights = ctx.mapStore<WeightState>('weights')
      const features = ex.features.filter((i) => Number.isInteger(i) && i >= 0 && i < settings.dims)
      learnExample({
        features,
        offset: ex.offset,
        clicked: ex.clicked,
        priorVariance,
        forgetting: settings.forgetting,
        get: (i) => weights.get(String(i)),
        put: (i, w) => weights.put(String(i), w),
      })
      const count = ctx.valueStore<number>('examples')
      count.put((count.get() ?? 0) + 1)
      const pending = ctx.valueStore<number>('publishAt')
      if (pending.get() === undefined) {
        const at = record.timestamp + settings.publishIntervalMs
        pending.put(at)
        ctx.timers.registerEventTime(at, 'publish')
      }
    },
    onTimer(timer: Timer) {
      ctx.valueStore<number>('publishAt').delete()
      const weights = ctx.mapStore<WeightState>('weights')
        .entries()
        .map(([i, [m, q]]) => [Number(i), round(m), round(1 / q)] as [number, number, number])
        .sort((a, b) => a[0] - b[0])
      const value: ModelRecord = { modelId: MODEL_KEY, ts: timer.time, dims: settings.dims, priorVariance: settings.priorVariance, examples: ctx.valueStore<number>('examples').get() ?? 0, weights }
      ctx.forward(new RecordCtor<ModelRecord>({ key: MODEL_KEY, value, timestamp: timer.time }))
    },
  }
}
