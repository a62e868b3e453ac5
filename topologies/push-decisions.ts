/**
 * The Hermes decision flow: behavior events, audience memberships and user profiles (keyed by
 * user, co-partitioned) and tasks, materials and material stats (broadcast) in; push decisions
 * the suppression audit trail and every candidate's exposure out; the click model's weights in
 * (broadcast, learned by topologies/material-stats.ts).
 *
 *   Task Center (when) → Matching Center (what) → fatigue and arbitration (whether) → push-decisions
 *
 * Item triggers add a sub-topology keyed by item: the behavior events that build or end a
 * user-item relation (repartitioned by itemId) and item events meet in the relations node, whose
 * fan-out (repartitioned by userId) joins the Task Center's input.
 */
import { TopologyBuilder, broadcastStore, defineTopology, jsonObjectSerde, jsonSerde, mapStore, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { Stream } from '../pipeline/api/index.ts'
import { PUSH_HISTORY_MS, fatigue } from '../operators/fatigue.ts'
import { matchingCenter, matchingCenterStores } from '../operators/matching-center.ts'
import { checkItemEvent } from '../operators/item-event.ts'
import type { ItemEvent } from '../operators/item-event.ts'
import { relationEventTypes, relations, relationsStores } from '../operators/relations.ts'
import type { ItemFanOut } from '../operators/relations.ts'
import { parseSettings } from '../operators/settings.ts'
import type { Settings } from '../operators/settings.ts'
import { taskCenter, taskCenterStores } from '../operators/task-center.ts'
import type { BehaviorEvent, Candidate, DecisionOut, ScoredCandidate, Suppression } from '../operators/types.ts'
import type { Exposure } from '../operators/exposures.ts'
import { exposureArms, exposureOfDecision, exposureOfSuppression, publicDecision } from '../operators/exposures.ts'
import { SUPPRESSIONS, checkBehaviorEvent } from '../operators/types.ts'

/** Default topic names of the flow: the defaults of `hermes.topics` (operators/settings.ts). */
export const TOPICS: Readonly<Settings['topics']> = Object.freeze(parseSettings({}).topics)

export default defineTopology(({ settings }) => {
  const s = parseSettings(settings)
  const b = new TopologyBuilder(s.applications.decisions)
  const topics = s.topics
  const events = b.source<BehaviorEvent>('behavior-events', { topic: topics.events, serde: jsonObjectSerde<BehaviorEvent>(checkBehaviorEvent), keyField: 'userId', timestampField: 'ts' })
  // Configuration a restart with fresh state rebuilds from: profiles compacted (one per user),
  // memberships kept forever (several per user: compaction by user would keep only the last).
  const audiences = b.source<unknown>('audiences', { topic: topics.audiences, serde: jsonObjectSerde(), keyField: 'userId', timestampField: 'ts', eventTime: false, cleanup: 'forever' })
  const users = b.source<unknown>('users', { topic: topics.users, serde: jsonObjectSerde(), keyField: 'userId', timestampField: 'ts', eventTime: false, cleanup: 'compact' })
  const tasks = b.broadcast<unknown>('tasks', { topic: topics.tasks, serde: jsonSerde(), keyField: 'taskId', timestampField: 'ts' })
  const materials = b.broadcast<unknown>('materials', { topic: topics.materials, serde: jsonSerde(), keyField: 'materialId', timestampField: 'ts' })
  const stats = b.broadcast<unknown>('stats', { topic: topics.stats, serde: jsonSerde(), keyField: 'materialId', timestampField: 'ts' })
  // The click model's weights, learned by the material-stats topology (operators/ctr-model.ts).
  const model = b.broadcast<unknown>('model', { topic: topics.model, serde: jsonSerde(), keyField: 'modelId', timestampField: 'ts' })

  const items = b.source<ItemEvent>('item-events', { topic: topics.items, serde: jsonObjectSerde<ItemEvent>(checkItemEvent), keyField: 'itemId', timestampField: 'ts' })

  // Relations by item: only the events that build or end one cross to the item side.
  const relationTypes = relationEventTypes(s)
  const behaviorsByItem = events
    .filter('relation-events', (e) => typeof e.itemId === 'string' && e.itemId !== '' && relationTypes.has(e.type))
    .keyBy('behaviors-by-item', (e) => e.itemId as string)
  const fanOut = (items as Stream<unknown>)
    .merge('item-inputs', behaviorsByItem as Stream<unknown>)
    .connect(tasks, materials)
    .process<ItemFanOut>('relations', () => relations({ topics, settings: s }), {
      stores: relationsStores(s),
      broadcastStores: { tasks: broadcastStore(), materials: broadcastStore() },
    })
    .keyBy('fanout-by-user', (f) => f.userId)

  const candidates = (events as Stream<unknown>)
    .merge('user-inputs', audiences, users, fanOut as Stream<unknown>)
    .connect(tasks, materials)
    .process<Candidate>('task-center', () => taskCenter({ topics, settings: s }), {
      stores: taskCenterStores(s),
      broadcastStores: { tasks: broadcastStore(), materials: broadcastStore() },
      sideOutputs: [SUPPRESSIONS],
    })
  const scored = candidates.connect(tasks, materials, stats, model).process<ScoredCandidate>('matching-center', () => matchingCenter({ topics, settings: s }), {
    // Held pushes and the push budget's candidate history (operators/matching-center.ts).
    stores: matchingCenterStores(s),
    broadcastStores: { tasks: broadcastStore(), materials: broadcastStore(), stats: broadcastStore(), model: broadcastStore() },
    sideOutputs: [SUPPRESSIONS],
  })
  const decided = scored.process<DecisionOut>('fatigue', () => fatigue({ settings: s }), {
    stores: {
      // Decision ids sent or suppressed (bounded, expiring): one decision or one suppression each.
      decided: valueStore({ ttlMs: s.dedup.ttlMs }),
      pushes: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      materialPushes: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      // Pushes per content (material and item), for material caps that count content.
      contentPushes: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      rate: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      arbitration: valueStore(),
      deferred: mapStore(),
    },
    sideOutputs: [SUPPRESSIONS],
  })
  decided.map('public-decisions', publicDecision).to('decisions-out', { topic: topics.decisions, serde: jsonSerde() })
  const suppressed = candidates
    .sideOutput<Suppression>(SUPPRESSIONS)
    .merge('all-suppressions', scored.sideOutput<Suppression>(SUPPRESSIONS), decided.sideOutput<Suppression>(SUPPRESSIONS))
  suppressed.to('suppressions-out', { topic: topics.suppressions, serde: jsonSerde() })
  // Every candidate's exposure (sent, suppressed, held out) with its experiment and arm (operators/exposures.ts).
  decided
    .map<Exposure>('sent-exposures', exposureOfDecision)
    .merge('all-exposures', suppressed.map<Exposure>('suppressed-exposures', exposureOfSuppression))
    .connect(tasks)
    .process<Exposure>('exposure-arms', () => exposureArms({ topics }), { broadcastStores: { tasks: broadcastStore() } })
    .to('exposures-out', { topic: topics.exposures, serde: jsonSerde() })
  return b.build()
})
