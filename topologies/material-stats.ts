/**
 * Feedback: the decision flow's exposures (sent pushes: impressions, and the click model's
 * features) joined per user with push_delivered / push_failed / push_click / push_open events
 * naming their decision (operators/feedback.ts); impressions and clicks (once per decision)
 * re-keyed by material, decayed and published to the compacted material-stats topic; training
 * examples learned by one global click model (operators/ctr-learner.ts) published to the
 * compacted model topic. The decision topology reads both as broadcast state.
 */
import { TopologyBuilder, defineTopology, jsonObjectSerde, jsonSerde, mapStore, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { MaterialStats } from '../operators/config.ts'
import type { ModelRecord } from '../operators/ctr-model.ts'
import { MODEL_KEY } from '../operators/ctr-model.ts'
import { ctrLearner } from '../operators/ctr-learner.ts'
import { ctrStats } from '../operators/ctr-stats.ts'
import type { Exposure } from '../operators/exposures.ts'
import type { FeedbackInput, TrainingExample } from '../operators/feedback.ts'
import { EXAMPLES, eventInput, exposureInput, feedbackJoin } from '../operators/feedback.ts'
import { parseSettings } from '../operators/settings.ts'
import type { BehaviorEvent } from '../operators/types.ts'
import { checkBehaviorEvent } from '../operators/types.ts'

const WEEK = 7 * 86_400_000

export default defineTopology(({ settings }) => {
  const s = parseSettings(settings)
  const b = new TopologyBuilder(s.applications.stats)
  const exposures = b.source<Exposure>('exposures', { topic: s.topics.exposures, serde: jsonObjectSerde<Exposure>(), keyField: 'userId', timestampField: 'ts' })
  const events = b.source<BehaviorEvent>('events', { topic: s.topics.events, serde: jsonObjectSerde<BehaviorEvent>(checkBehaviorEvent), keyField: 'userId', timestampField: 'ts' })
  const joined = exposures
    .flatMap<FeedbackInput>('sent', exposureInput)
    .merge('feedback', events.flatMap<FeedbackInput>('push-events', eventInput))
    .process('feedback-join', () => feedbackJoin({ attributionWindowMs: s.model.attributionWindowMs }), {
      stores: {
        pending: mapStore(),
        // Decisions already exposed and clicked: a redelivered exposure or a second click counts once.
        exposed: windowStore({ retentionMs: WEEK }),
        clicked: windowStore({ retentionMs: WEEK }),
      },
      sideOutputs: [EXAMPLES],
    })
  joined
    .keyBy('by-material', (f) => f.materialId)
    .process<MaterialStats>('ctr-stats', () => ctrStats(s.stats), { stores: { stats: valueStore(), publishAt: valueStore() } })
    .to('stats-out', { topic: s.topics.stats, serde: jsonSerde() })
  joined
    .sideOutput<TrainingExample>(EXAMPLES)
    .keyBy('to-model', () => MODEL_KEY)
    .process<ModelRecord>('ctr-learner', () => ctrLearner(s.model), { stores: { weights: mapStore(), level: mapStore(), batch: mapStore(), examples: valueStore(), center: valueStore(), publishAt: valueStore() } })
    .to('model-out', { topic: s.topics.model, serde: jsonSerde() })
  return b.build()
})
