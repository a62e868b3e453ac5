import { describe, expect, it } from 'vitest'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import activityCounts from '../../topologies/activity-counts.ts'

const MIN = 60_000
const T0 = Date.UTC(2026, 10, 2, 10, 0)
const ev = (userId: string, type: string, ts: number): object => ({ eventId: `${userId}-${ts}`, userId, type, ts })

describe('activity-counts: session windows', () => {
  it('merges two sessions bridged by a late event, keeping an event type named "__proto__" as a plain count', async () => {
    const d = await TopologyTestDriver.create(activityCounts({ settings: {} }), { config: { time: { maxOutOfOrdernessMs: 60 * MIN } } })
    // Two sessions 40 min apart (gap 30 min), the second only of "__proto__" events, then an
    // event between them joins them into one.
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u1', '__proto__', T0 + 40 * MIN), ev('u1', '__proto__', T0 + 41 * MIN), ev('u1', '__proto__', T0 + 20 * MIN)])
    await d.pipe('behavior-events', [ev('u2', 'view', T0 + 5 * 60 * MIN)])
    const sessions = d.readValues<{ key: string; start: number; value: { total: number; byType: { [t: string]: number } } }>('user-sessions')
    expect(sessions.map((s) => [s.key, s.start, s.value.total, Object.entries(s.value.byType).sort()])).toEqual([['u1', T0, 4, [['__proto__', 3], ['view', 1]]]])
    expect(({} as { [k: string]: unknown }).view).toBeUndefined()
    await d.close()
  })
})
