/**
 * The decision flow, embedded, fed as producers that do not key or partition by userId would
 * feed it (issue 11, defects 1 and 2), and the dead letters of its inputs (defect 9).
 */
import { describe, expect, it } from 'vitest'
import { DLQ_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { MIN, T0, decisions, ev, eventTask, flow, material, suppressions, user } from '../operators/helpers.ts'

const PARTITIONS = 4
/** One push per user and day, no gap, no quiet hours: the cap alone decides. */
const settings = { fatigue: { userMax: 1, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 } }

async function withPriceDropTask(options: { stats?: boolean } = {}): Promise<TopologyTestDriver> {
  const d = await flow({ settings, stats: options.stats ?? false, config: { topics: { defaultPartitions: PARTITIONS } } })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', [eventTask('t1')])
  return d
}

describe('the decision flow with keys that are not the userId', () => {
  it('decides three price_drop events of user bad-key keyed someone-else, another-one and third-key for bad-key, under its cap', async () => {
    const d = await withPriceDropTask()
    const keys = ['someone-else', 'another-one', 'third-key']
    for (const [i, key] of keys.entries()) await d.pipe('behavior-events', [ev('bad-key', 'price_drop', T0 + i * MIN)], { key })
    const out = d.readOutput<{ userId: string }>('push-decisions')
    expect(out.map((r) => [r.key, r.value.userId])).toEqual([['bad-key', 'bad-key']])
    expect(suppressions(d).map((x) => [x.userId, x.reason])).toEqual([['bad-key', 'fatigue.user'], ['bad-key', 'fatigue.user']])
    expect(d.keyRouting('push-decisions', 'behavior-events').rekeyed).toBe(3)
    await d.close()
  })

  it('never decides for user "" when an event has an empty key', async () => {
    const d = await withPriceDropTask()
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0)], { key: '' })
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })

  it('gives no push to opted-out users whose events sit on other partitions than their profiles', async () => {
    const d = await withPriceDropTask()
    const users = Array.from({ length: 20 }, (_, i) => `opted-out-${i}`)
    await d.pipe('config.users', users.map((u) => user(u, 'UTC', false)))
    // As a producer with another partitioner would place them: never on the profile's partition.
    for (const u of users) await d.pipe('behavior-events', [ev(u, 'price_drop', T0)], { partition: (partitionFor(u, PARTITIONS) + 1) % PARTITIONS })
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((x) => x.reason)).toEqual(users.map(() => 'opted_out'))
    expect(d.keyRouting('push-decisions', 'behavior-events').repartitioned).toBe(20)
    await d.close()
  })
})

describe('dead letters of the decision flow', () => {
  it('keep the bytes of a refused configuration record as they were read', async () => {
    const d = await withPriceDropTask()
    const bytes = '{"taskId": "t2",  "status": "active", "trigger": {"type": "nope"}}'
    await d.pipe('config.tasks', [bytes], { key: 't2', headers: { origin: 'console' } })
    const entry = d.log.read('push-decisions.dlq', 0, 0)
    expect(entry?.value?.toString('utf8')).toBe(bytes)
    expect(entry?.key).toBe('t2')
    expect(entry?.headers).toMatchObject({ origin: 'console', [DLQ_HEADERS.topic]: 'config.tasks', [DLQ_HEADERS.app]: 'push-decisions' })
    await d.close()
  })

  it('say which application dead-lettered a bad event that both applications read', async () => {
    const d = await withPriceDropTask({ stats: true })
    const bytes = '{"eventId": "e1", "userId": "u1", "type": "price_drop", "ts": "yesterday"}'
    await d.pipe('behavior-events', [bytes], { key: 'u1', timestamp: T0 })
    for (const app of ['push-decisions', 'material-stats']) {
      const entry = d.log.read(`${app}.dlq`, 0, 0)
      expect(entry?.value?.toString('utf8'), app).toBe(bytes)
      expect(entry?.headers?.[DLQ_HEADERS.app], app).toBe(app)
      expect(entry?.headers?.[DLQ_HEADERS.topic], app).toBe('behavior-events')
    }
    await d.close()
  })
})
