/**
 * CTR feedback: decisions (impressions) and push_click / push_open events (clicks, counted once
 * per decision) re-keyed by material, decayed, and published to the compacted material-stats
 * topic that the decision topology reads as broadcast state.
 */
import { TopologyBuilder, defineTopology, jsonObjectSerde, jsonSerde, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { MaterialStats } from '../operators/config.ts'
import type { Feedback } from '../operators/ctr-stats.ts'
import { clickOf, ctrStats, firstClickOnly, impressionOf } from '../operators/ctr-stats.ts'
import { parseSettings } from '../operators/settings.ts'
import type { BehaviorEvent, Decision } from '../operators/types.ts'
import { checkBehaviorEvent } from '../operators/types.ts'

const WEEK = 7 * 86_400_000

export default defineTopology(({ settings }) => {
  const s = parseSettings(settings)
  const b = new TopologyBuilder(s.applications.stats)
  const decisions = b.source<Decision>('decisions', { topic: s.topics.decisions, serde: jsonObjectSerde<Decision>(), keyField: 'userId', timestampField: 'sendAt' })
  const events = b.source<BehaviorEvent>('events', { topic: s.topics.events, serde: jsonObjectSerde<BehaviorEvent>(checkBehaviorEvent), keyField: 'userId', timestampField: 'ts' })
  const impressions = decisions.map<Feedback>('impressions', impressionOf)
  const clicks = events.flatMap<Feedback>('clicks', clickOf)
  impressions
    .merge('feedback', clicks)
    .process('first-click-only', firstClickOnly, { stores: { clicked: windowStore({ retentionMs: WEEK }) } })
    .keyBy('by-material', (f) => f.materialId)
    .process<MaterialStats>('ctr-stats', () => ctrStats(s.stats), { stores: { stats: valueStore(), publishAt: valueStore() } })
    .to('stats-out', { topic: s.topics.stats, serde: jsonSerde() })
  return b.build()
})
