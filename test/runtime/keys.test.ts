import { describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Record } from '../../pipeline/api/index.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { DLQ_HEADERS, ORIGIN_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { repartitionTopic } from '../../pipeline/runtime/plan.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import type { TestDriverOptions } from '../../pipeline/testing/test-driver.ts'

interface Ev { userId?: unknown; n?: number; ts: number; fail?: boolean }
interface Out { key: string | null; userId: unknown; count: number; partition: number }

const PARTITIONS = 4
const MISPLACED = repartitionTopic('counts', 'events')

/** Counts records per key: what keyed state sees, and on which task. */
function counting(): Processor<Ev, Out> {
  let ctx!: ProcessorContext<Out>
  return {
    init(c) { ctx = c },
    process(r: Record<Ev>) {
      if (r.value.fail) {
        ctx.deadLetter(r, 'asked to fail')
        return
      }
      const s = ctx.valueStore<number>('count')
      const count = (s.get() ?? 0) + 1
      s.put(count)
      ctx.forward(r.withValue({ key: r.key, userId: r.value.userId, count, partition: ctx.partition }))
    },
  }
}

async function driver(options: TestDriverOptions = {}): Promise<TopologyTestDriver> {
  const b = new TopologyBuilder('counts')
  b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
    .process('count', counting, { stores: { count: valueStore() } })
    .to('out', { topic: 'counts', serde: jsonSerde() })
  return TopologyTestDriver.create(b.build(), { ...options, config: { topics: { defaultPartitions: PARTITIONS }, ...(options.config ?? {}) } })
}

/** A key that hashes to another partition than `userId` does. */
function keyElsewhere(userId: string): string {
  for (let i = 0; ; i++) if (partitionFor(`other-${i}`, PARTITIONS) !== partitionFor(userId, PARTITIONS)) return `other-${i}`
}

describe('keyed sources take their key from the key field, not from the Kafka key', () => {
  it('processes a record whose Kafka key differs from its userId under the userId, and counts it', async () => {
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const d = await driver({ metrics })
    await d.pipe('events', [{ userId: 'bad-key', ts: 1 }], { key: 'someone-else' })
    await d.pipe('events', [{ userId: 'bad-key', ts: 2 }], { key: 'another-one' })
    await d.pipe('events', [{ userId: 'bad-key', ts: 3 }], { key: 'third-key' })
    const out = d.readValues<Out>('counts')
    expect(out.map((o) => [o.key, o.count])).toEqual([['bad-key', 1], ['bad-key', 2], ['bad-key', 3]])
    // All three on the task that owns bad-key's partition, whatever partition the keys chose.
    expect(new Set(out.map((o) => o.partition))).toEqual(new Set([partitionFor('bad-key', PARTITIONS)]))
    expect(d.storeValue('count', 'count', 'bad-key')).toBe(3)
    expect(d.keyRouting('counts', 'events').rekeyed).toBe(3)
    const misplaced = ['someone-else', 'another-one', 'third-key'].filter((k) => partitionFor(k, PARTITIONS) !== partitionFor('bad-key', PARTITIONS)).length
    expect(d.keyRouting('counts', 'events').repartitioned).toBe(misplaced)
    const text = await metrics.registry.getSingleMetricAsString('hermes_operator_events_total')
    expect(text).toContain('hermes_operator_events_total{app="counts",node="events",event="rekeyed",reason="key_mismatch"} 3')
    await d.close()
  })

  it('never decides for user "" when the Kafka key is empty, and re-keys a record without a Kafka key', async () => {
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const d = await driver({ metrics })
    await d.pipe('events', [{ userId: 'u1', ts: 1 }], { key: '' })
    await d.pipe('events', [{ userId: 'u1', ts: 2 }], { key: null })
    expect(d.readValues<Out>('counts').map((o) => [o.key, o.count])).toEqual([['u1', 1], ['u1', 2]])
    const text = await metrics.registry.getSingleMetricAsString('hermes_operator_events_total')
    expect(text).toContain('event="rekeyed",reason="key_mismatch"} 1')
    expect(text).toContain('event="rekeyed",reason="no_key"} 1')
    await d.close()
  })

  it.each([
    ['missing', { ts: 1 }, /key field "userId" is missing/],
    ['empty', { userId: '', ts: 1 }, /key field "userId" is empty/],
    ['a number', { userId: 42, ts: 1 }, /key field "userId" is a number, not a string/],
    ['null', { userId: null, ts: 1 }, /key field "userId" is null, not a string/],
  ])('dead-letters a record whose userId is %s, naming the field, and goes on', async (_what, value, reason) => {
    const d = await driver()
    await d.pipe('events', [value], { key: 'k1' })
    await d.pipe('events', [{ userId: 'u2', ts: 2 }])
    const dlq = d.log.read('counts.dlq', 0, 0)
    expect(dlq?.headers?.[DLQ_HEADERS.reason]).toMatch(reason)
    expect(dlq?.headers?.[DLQ_HEADERS.phase]).toBe('deserialize')
    expect(dlq?.key).toBe('k1')
    expect(dlq?.value?.toString('utf8')).toBe(JSON.stringify(value))
    expect(d.readValues<Out>('counts').map((o) => o.key)).toEqual(['u2'])
    expect(d.keyRouting('counts', 'events').rejected).toBe(1)
    await d.close()
  })

  it('dead-letters a record whose Kafka key disagrees with its userId when runtime.keyMismatch is dead-letter', async () => {
    const d = await driver({ config: { runtime: { keyMismatch: 'dead-letter' } } })
    await d.pipe('events', [{ userId: 'u1', ts: 1 }], { key: 'someone-else' })
    await d.pipe('events', [{ userId: 'u1', ts: 2 }], { key: 'u1' })
    await d.pipe('events', [{ userId: 'u1', ts: 3 }], { key: null })
    expect(d.readValues<Out>('counts').map((o) => [o.key, o.count])).toEqual([['u1', 1], ['u1', 2]])
    const dlq = d.readOutput('counts.dlq')
    expect(dlq).toHaveLength(1)
    expect(dlq[0]?.key).toBe('someone-else')
    expect(dlq[0]?.headers[DLQ_HEADERS.reason]).toMatch(/Kafka key "someone-else" is not the record's "userId" "u1"/)
    expect(d.keyRouting('counts', 'events')).toMatchObject({ rejected: 1, rekeyed: 1 })
    await d.close()
  })
})

describe('records on a partition their key does not hash to', () => {
  it('go through the source repartition topic and are processed on the partition of their key', async () => {
    const d = await driver()
    const home = partitionFor('u1', PARTITIONS)
    const wrong = (home + 1) % PARTITIONS
    await d.pipe('events', [{ userId: 'u1', ts: 1 }])
    await d.pipe('events', [{ userId: 'u1', ts: 2 }], { partition: wrong, headers: { trace: 't-2' } })
    await d.pipe('events', [{ userId: 'u1', ts: 3 }])
    const out = d.readOutput<Out>('counts')
    // One count per user, on one task: the misplaced record did not start a second count elsewhere.
    expect(out.map((o) => [o.value.key, o.value.count, o.value.partition])).toEqual([['u1', 1, home], ['u1', 2, home], ['u1', 3, home]])
    // The moved record keeps its headers, and operators never see the origin headers.
    expect(out[1]?.headers).toEqual({ trace: 't-2' })
    const moved = d.log.read(MISPLACED, home, 0)
    expect(moved?.key).toBe('u1')
    expect(moved?.value?.toString('utf8')).toBe(JSON.stringify({ userId: 'u1', ts: 2 }))
    expect(moved?.headers).toMatchObject({ trace: 't-2', [ORIGIN_HEADERS.topic]: 'events', [ORIGIN_HEADERS.partition]: String(wrong) })
    expect(d.keyRouting('counts', 'events')).toMatchObject({ repartitioned: 1, rekeyed: 0 })
    await d.close()
  })

  it('are dead-lettered, when bad, as the record first read: topic, partition, offset, key and bytes', async () => {
    const d = await driver()
    const wrong = (partitionFor('u1', PARTITIONS) + 1) % PARTITIONS
    const bytes = '{ "userId": "u1",  "ts": 5, "fail": true }'
    await d.pipe('events', [bytes], { partition: wrong, key: 'kafka-key', timestamp: 5 })
    const dlq = d.log.read('counts.dlq', 0, 0)
    expect(dlq?.value?.toString('utf8')).toBe(bytes)
    expect(dlq?.key).toBe('kafka-key')
    expect(dlq?.timestamp).toBe(5)
    expect(dlq?.headers).toEqual({
      [DLQ_HEADERS.reason]: 'asked to fail',
      [DLQ_HEADERS.phase]: 'process',
      [DLQ_HEADERS.node]: 'count',
      [DLQ_HEADERS.topic]: 'events',
      [DLQ_HEADERS.partition]: String(wrong),
      [DLQ_HEADERS.offset]: '0',
      [DLQ_HEADERS.timestamp]: '5',
      [DLQ_HEADERS.app]: 'counts',
    })
    await d.close()
  })

  it('are all moved when a producer partitioned by another hash: every user still has one count', async () => {
    const d = await driver()
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`)
    // Round robin, as a producer without keys (or with another partitioner) would place them.
    users.forEach((u, i) => d.append('events', [{ userId: u, ts: i }], { partition: i % PARTITIONS }))
    users.forEach((u, i) => d.append('events', [{ userId: u, ts: 100 + i }], { partition: (i + 1) % PARTITIONS }))
    await d.run()
    for (const u of users) expect(d.storeValue('count', 'count', u)).toBe(2)
    const moved = users.filter((u, i) => partitionFor(u, PARTITIONS) !== i % PARTITIONS).length + users.filter((u, i) => partitionFor(u, PARTITIONS) !== (i + 1) % PARTITIONS).length
    expect(d.keyRouting('counts', 'events').repartitioned).toBe(moved)
    expect(moved).toBeGreaterThan(40)
    await d.close()
  })
})

describe('dead letters', () => {
  it('carry the bytes, key, headers and timestamp of the input as read, and the application', async () => {
    const d = await driver()
    const bytes = '{"userId":"u1", "ts": 7,   "fail": true}'
    await d.pipe('events', [bytes], { key: 'u1', timestamp: 99, headers: { h: 'v' } })
    const dlq = d.log.read('counts.dlq', 0, 0)
    expect(dlq?.value?.toString('utf8')).toBe(bytes)
    expect(dlq?.timestamp).toBe(99)
    expect(dlq?.headers).toMatchObject({ h: 'v', [DLQ_HEADERS.app]: 'counts', [DLQ_HEADERS.timestamp]: '99' })
    await d.close()
  })
})

describe('key field stays out of broadcast sources', () => {
  it('keeps the Kafka key of a broadcast record (a compacted topic\'s key decides what a tombstone deletes)', async () => {
    const b = new TopologyBuilder('bc')
    const cfg = b.broadcast<unknown>('cfg', { topic: 'cfg', serde: jsonSerde(), keyField: 'id' })
    const seen: Array<string | null> = []
    b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId' })
      .connect(cfg)
      .process('p', () => ({ process() {}, processBroadcast(r: Record<unknown>) { seen.push(r.key) } }), {})
      .to('out', { topic: 'out', serde: jsonSerde() })
    const d = await TopologyTestDriver.create(b.build())
    await d.pipe('cfg', [{ id: 'a' }], { key: 'b' })
    expect(new Set(seen)).toEqual(new Set(['b']))
    expect(d.readOutput('bc.dlq')).toEqual([])
    await d.close()
  })
})
