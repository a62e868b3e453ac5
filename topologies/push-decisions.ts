/**
 * The Hermes decision flow: behavior events, audience memberships and user profiles (keyed by
 * user, co-partitioned) and tasks, materials and material stats (broadcast) in; push decisions
 * and the suppression audit trail out.
 *
 *   Task Center (when) → Matching Center (what) → fatigue and arbitration (whether) → push-decisions
 */
import { TopologyBuilder, broadcastStore, defineTopology, jsonObjectSerde, jsonSerde, mapStore, valueStore, windowStore } from '../pipeline/api/index.ts'
import type { Stream } from '../pipeline/api/index.ts'
import { PUSH_HISTORY_MS, fatigue } from '../operators/fatigue.ts'
import { matchingCenter } from '../operators/matching-center.ts'
import { parseSettings } from '../operators/settings.ts'
import type { Settings } from '../operators/settings.ts'
import { taskCenter } from '../operators/task-center.ts'
import type { BehaviorEvent, Candidate, Decision, ScoredCandidate, Suppression } from '../operators/types.ts'
import { SUPPRESSIONS, checkBehaviorEvent } from '../operators/types.ts'

const WEEK = 7 * 86_400_000

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

  const candidates = (events as Stream<unknown>)
    .merge('user-inputs', audiences, users)
    .connect(tasks, materials)
    .process<Candidate>('task-center', () => taskCenter({ topics, settings: s }), {
      stores: {
        user: valueStore(),
        events: windowStore({ retentionMs: WEEK }),
        pending: mapStore(),
        plans: mapStore(),
        schedule: valueStore(),
      },
      broadcastStores: { tasks: broadcastStore(), materials: broadcastStore() },
      sideOutputs: [SUPPRESSIONS],
    })
  const scored = candidates.connect(tasks, materials, stats).process<ScoredCandidate>('matching-center', () => matchingCenter({ topics, settings: s }), {
    broadcastStores: { tasks: broadcastStore(), materials: broadcastStore(), stats: broadcastStore() },
    sideOutputs: [SUPPRESSIONS],
  })
  const decided = scored.process<Decision>('fatigue', () => fatigue({ settings: s }), {
    stores: {
      // Decision ids sent, so a redelivered trigger never yields a second decision.
      sent: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      pushes: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      materialPushes: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      rate: windowStore({ retentionMs: PUSH_HISTORY_MS }),
      arbitration: valueStore(),
      deferred: mapStore(),
    },
    sideOutputs: [SUPPRESSIONS],
  })
  decided.to('decisions-out', { topic: topics.decisions, serde: jsonSerde() })
  candidates
    .sideOutput<Suppression>(SUPPRESSIONS)
    .merge('all-suppressions', scored.sideOutput<Suppression>(SUPPRESSIONS), decided.sideOutput<Suppression>(SUPPRESSIONS))
    .to('suppressions-out', { topic: topics.suppressions, serde: jsonSerde() })
  return b.build()
})
