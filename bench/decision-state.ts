/**
 * The decision-flow state of one user, as the flow leaves it after a week of activity, for the
 * state benchmarks (bench/state-scale.bench.ts builds it into RocksDB, bench/restore-kafka.bench.ts
 * into a changelog on the broker). Per user: a profile with two segments and an activity
 * histogram, 8 behavior events in the 7-day window, a personalized plan and its pending timer,
 * decision ids born and decided, and 2 pushes in each of the three push histories. The values
 * have the shapes the operators store (operators/task-center.ts, fatigue.ts); no operator code runs.
 */
import type { StoreSpec } from '../pipeline/api/index.ts'
import type { TaskState } from '../pipeline/state/task-state.ts'
import { WindowEvents } from '../pipeline/state/window-events.ts'
import type { TimerQueue } from '../pipeline/runtime/timers.ts'
import { mulberry32 } from '../operators/ids.ts'
import pushDecisions from '../topologies/push-decisions.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
export const NOW = Date.UTC(2026, 10, 9)
/** The push-decisions nodes whose keyed stores hold users. */
const USER_NODES = new Set(['task-center', 'matching-center', 'fatigue'])
const TYPES = ['view', 'fav', 'cart', 'chat', 'search', 'price_drop']
const TASKS = ['price-drop', 'cart-reminder', 'evening-digest']

/** The keyed stores that hold users (task-center, matching-center, fatigue), by full name, as the topology declares them. */
export function userStores(): Map<string, StoreSpec> {
  const topology = pushDecisions({ settings: {} })
  const stores = new Map<string, StoreSpec>()
  for (const n of topology.nodes) {
    if (n.kind !== 'process' || !USER_NODES.has(n.id)) continue
    for (const [name, spec] of Object.entries(n.stores)) stores.set(`${n.id}.${name}`, spec)
  }
  return stores
}

/** A writer of users' state, deterministic for a seed: call it once per user. */
export function userStateWriter(seed: number): (state: TaskState, timers: TimerQueue, userId: string) => void {
  const rand = mulberry32(seed)
  /** Decision ids as recent-ids keeps them: 16 hex characters. */
  const hexId = (): string => Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0')
  return (state, timers, userId) => {
    const hist = new Array<number>(168).fill(0)
    for (let i = 0; i < 8; i++) {
      const h = Math.floor(rand() * 168)
      hist[h] = (hist[h] as number) + 1
    }
    state.set('task-center.user', userId, { timezone: 'Asia/Shanghai', pushEnabled: true, segments: ['active', `s${Math.floor(rand() * 5)}`], hist, histWeek: Math.floor(NOW / (7 * DAY)) })
    const events = WindowEvents.empty()
    for (let i = 0; i < 8; i++) events.add(NOW - Math.floor(rand() * 7 * DAY), 1, TYPES[Math.floor(rand() * TYPES.length)], 7 * DAY)
    state.setAt(state.indexOf('task-center.events'), userId, events)
    const planAt = NOW + Math.floor(rand() * DAY)
    state.set('task-center.plans', userId, { 'evening-digest': planAt })
    timers.register('event', 'task-center', userId, planAt, 'z:evening-digest', { taskId: 'evening-digest' })
    const ids = { ids: [hexId(), hexId()], ts: [NOW - DAY, NOW - HOUR] }
    state.set('task-center.seen', userId, { v: ids, t: NOW - HOUR })
    state.set('fatigue.decided', userId, { v: ids, t: NOW - HOUR })
    for (const [store, tag] of [
      ['fatigue.pushes', () => TASKS[Math.floor(rand() * TASKS.length)]],
      ['fatigue.materialPushes', () => `m${Math.floor(rand() * 10)}`],
      ['fatigue.contentPushes', () => `m${Math.floor(rand() * 10)}\u0000i${Math.floor(rand() * 1e6)}`],
    ] as const) {
      const w = WindowEvents.empty()
      w.add(NOW - 2 * DAY, 1, tag(), 31 * DAY)
      w.add(NOW - HOUR, 1, tag(), 31 * DAY)
      state.setAt(state.indexOf(store), userId, w)
    }
  }
}
