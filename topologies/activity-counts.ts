/**
 * A sample stateful topology: hourly activity per user (tumbling windows), user sessions
 * (session windows), and the late records of both on their own topic. The windows benchmark,
 * the embedded-runner tests and the CLI examples use it.
 */
import { TopologyBuilder, defineTopology, jsonObjectSerde, jsonSerde } from '../pipeline/api/index.ts'
import type { Aggregator } from '../pipeline/api/index.ts'
import { checkBehaviorEvent } from '../operators/types.ts'
import type { BehaviorEvent } from '../operators/types.ts'

interface TypeCounts {
  total: number
  byType: { [type: string]: number }
}

const countByType: Aggregator<BehaviorEvent, TypeCounts> = {
  init: () => ({ total: 0, byType: {} }),
  // The accumulator belongs to its window: updated in place, not copied per record.
  add: (acc, e) => {
    acc.total += 1
    const n = Object.hasOwn(acc.byType, e.type) ? (acc.byType[e.type] as number) : 0
    // defineProperty: an event type named "__proto__" stays a plain count.
    Object.defineProperty(acc.byType, e.type, { value: n + 1, enumerable: true, writable: true, configurable: true })
    return acc
  },
  merge: (a, b) => {
    const byType = { ...a.byType }
    for (const [t, n] of Object.entries(b.byType)) {
      const m = Object.hasOwn(byType, t) ? (byType[t] as number) : 0
      // defineProperty, as in add: assigning to "__proto__" would set the prototype and lose the count.
      Object.defineProperty(byType, t, { value: m + n, enumerable: true, writable: true, configurable: true })
    }
    return { total: a.total + b.total, byType }
  },
}

export default defineTopology(() => {
  const b = new TopologyBuilder('activity-counts')
  const events = b.source<BehaviorEvent>('behavior-events', {
    topic: 'behavior-events',
    serde: jsonObjectSerde<BehaviorEvent>(checkBehaviorEvent),
    keyField: 'userId',
    timestampField: 'ts',
  })
  const hourly = events.window('hourly-activity', { window: { type: 'tumbling', sizeMs: 3_600_000 }, graceMs: 300_000, aggregate: countByType })
  hourly.to('hourly-out', { topic: 'user-activity-hourly', serde: jsonSerde() })
  hourly.sideOutput('late').to('hourly-late-out', { topic: 'behavior-events-late', serde: jsonSerde() })
  const sessions = events.window('sessions', { window: { type: 'session', gapMs: 1_800_000 }, graceMs: 300_000, aggregate: countByType })
  sessions.to('sessions-out', { topic: 'user-sessions', serde: jsonSerde() })
  return b.build()
})
