import { describe, expect, it } from 'vitest'
import { TOMBSTONE } from '../../pipeline/testing/test-driver.ts'
import { HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material } from './helpers.ts'

// On Kafka a compacted configuration topic deletes a key with a record whose value is null (a
// tombstone): that is how a producer, or compaction itself, removes a task or a material.
describe('tombstones on configuration topics', () => {
  it('a null-valued task record deletes the task instead of being dead-lettered', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0)])
    await advanceTo(d, T0 + 10 * MIN)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.pipe('config.tasks', [TOMBSTONE], { key: 't1' })
    await d.pipe('behavior-events', [ev('u2', 'price_drop', T0 + HOUR)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual([])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('a null value on a keyed input (behavior-events) is still a dead letter: it has no user', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [TOMBSTONE], { key: 'u1' })
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringContaining('no value')])
    await d.close()
  })
})
