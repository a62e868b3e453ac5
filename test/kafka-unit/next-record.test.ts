import { describe, expect, it } from 'vitest'
import { HoldScope } from '../../pipeline/kafka/hold-scope.ts'
import { InFlightTimes } from '../../pipeline/kafka/in-flight.ts'
import type { KafkaApp } from '../../pipeline/kafka/kafka-app.ts'
import { nextRecord } from '../../pipeline/kafka/next-record.ts'
import type { PartitionBuffer } from '../../pipeline/kafka/source.ts'
import { CommittedFilter } from '../../pipeline/kafka/transactions.ts'
import type { RawRecord } from '../../pipeline/runtime/task.ts'

// The next-record choice with fake apps (only the buffers and in-flight times it reads): no broker.

const NOW = 1_000_000
const opts = { now: NOW, maxTaskIdleMs: 500, maxAheadMs: 0 }

function rec(topic: string, partition: number, offset: number, timestamp: number): RawRecord {
  return { topic, partition, offset, key: 'k', value: Buffer.from('{}'), timestamp }
}

/**
 * A partition buffer holding records with these timestamps. By default it has fetched everything
 * up to its end (nothing more to wait for).
 */
function buffer(topic: string, partition: number, timestamps: number[], more: Partial<PartitionBuffer> = {}): PartitionBuffer {
  const records = timestamps.map((ts, i) => rec(topic, partition, i, ts))
  return {
    topic,
    partition,
    tp: `${topic}:${partition}`,
    records,
    head: 0,
    fetched: records.length,
    end: records.length,
    initialEnd: 0,
    internal: false,
    emptySince: NOW - 10_000,
    paused: false,
    filter: new CommittedFilter(),
    ...more,
  }
}

function app(name: string, buffers: PartitionBuffer[], inFlight = new InFlightTimes()): KafkaApp {
  return { name, source: { buffers: new Map(buffers.map((b) => [b.tp, b])) }, inFlight } as unknown as KafkaApp
}

/** The tp of the chosen record, or the kind of answer. */
function pick(apps: KafkaApp[], o = opts): string {
  const next = nextRecord(apps, o)
  return next.kind === 'record' ? `${next.app.name}/${next.buffer.tp}` : next.kind
}

describe('nextRecord', () => {
  it('takes the buffered head with the lowest timestamp across partitions and apps', () => {
    const a = app('a', [buffer('ev', 0, [30, 40]), buffer('ev', 1, [20])])
    const b = app('b', [buffer('cfg', 0, [25])])
    expect(pick([a, b])).toBe('a/ev:1')
  })

  it('looks at each buffer from its head, not its first record', () => {
    const b0 = buffer('ev', 0, [10, 50])
    b0.head = 1
    expect(pick([app('a', [b0, buffer('ev', 1, [30])])])).toBe('a/ev:1')
  })

  it('on equal timestamps keeps the first partition it meets (stable)', () => {
    expect(pick([app('a', [buffer('ev', 0, [10]), buffer('ev', 1, [10])])])).toBe('a/ev:0')
  })

  it('takes records of sources without event time (configuration) first, whatever their log timestamp', () => {
    const users = buffer('users', 0, [9_000_000], { untimed: true })
    expect(pick([app('a', [buffer('ev', 0, [10]), users])])).toBe('a/users:0')
    users.head = 1
    expect(pick([app('a', [buffer('ev', 0, [10]), users])])).toBe('a/ev:0')
  })

  it('says none when nothing is buffered and nothing is expected', () => {
    expect(pick([app('a', [buffer('ev', 0, []), buffer('ev', 1, [])])])).toBe('none')
    expect(pick([])).toBe('none')
  })

  it('always waits for an empty partition that was behind when assigned, however long it takes', () => {
    const behind = buffer('ev', 1, [], { initialEnd: 5, fetched: 2, end: 5, emptySince: NOW - 3_600_000 })
    expect(pick([app('a', [buffer('ev', 0, [10]), behind])])).toBe('wait')
    behind.fetched = 5
    expect(pick([app('a', [buffer('ev', 0, [10]), behind])])).toBe('a/ev:0')
  })

  it('waits for a lagging partition (its last fetch saw more) up to maxTaskIdleMs after it ran empty', () => {
    const lagging = buffer('ev', 1, [], { fetched: 3, end: 10, emptySince: NOW - 499 })
    expect(pick([app('a', [buffer('ev', 0, [10]), lagging])])).toBe('wait')
    lagging.emptySince = NOW - 500
    expect(pick([app('a', [buffer('ev', 0, [10]), lagging])])).toBe('a/ev:0')
  })

  it('does not wait for a lagging internal (repartition) partition: its records are tracked as in flight', () => {
    const lagging = buffer('app-by-type-repartition', 0, [], { fetched: 3, end: 10, emptySince: NOW, internal: true })
    expect(pick([app('a', [buffer('ev', 0, [10]), lagging])])).toBe('a/ev:0')
  })

  it('waits while a partition holds records of a transaction whose marker is not read yet', () => {
    const filter = new CommittedFilter()
    filter.push([{ offset: '0', key: Buffer.from('k'), value: Buffer.from('{}'), timestamp: '5', attributes: 0, headers: {}, batchContext: { producerId: '7', inTransaction: true } } as never])
    expect(filter.held()).toBe(1)
    const open = buffer('ev', 1, [], { filter })
    expect(pick([app('a', [buffer('ev', 0, [10]), open])])).toBe('wait')
  })

  it('holds back when a record of ours is on its way to an input more than maxAheadMs earlier than the best head', () => {
    const inFlight = new InFlightTimes()
    const repartition = buffer('app-rep', 0, [], { internal: true })
    const a = app('a', [buffer('ev', 0, [100]), repartition], inFlight)
    inFlight.add('app-rep:0', 40)
    expect(pick([a], { ...opts, maxAheadMs: 0 })).toBe('in-flight')
    expect(pick([a], { ...opts, maxAheadMs: 59 })).toBe('in-flight')
    // Within maxAheadMs of the record on its way: go on.
    expect(pick([a], { ...opts, maxAheadMs: 60 })).toBe('a/ev:0')
    // Once it has arrived, nothing holds.
    inFlight.arrived('app-rep:0', 40)
    expect(pick([a], { ...opts, maxAheadMs: 0 })).toBe('a/ev:0')
  })

  it('does not hold back for a record on its way to a partition that already has records buffered', () => {
    const inFlight = new InFlightTimes()
    const a = app('a', [buffer('ev', 0, [100]), buffer('app-rep', 0, [50], { internal: true })], inFlight)
    inFlight.add('app-rep:0', 40)
    // The buffered head at 50 is taken first; the one on its way is behind it in that partition.
    expect(pick([a])).toBe('a/app-rep:0')
  })

  it('prefers "in-flight" to "wait" so that exactly-once commits make our own records readable', () => {
    const inFlight = new InFlightTimes()
    const a = app('a', [buffer('ev', 0, [100]), buffer('ev', 1, [], { initialEnd: 3, fetched: 0, end: 3 }), buffer('app-rep', 0, [], { internal: true })], inFlight)
    inFlight.add('app-rep:0', 10)
    expect(pick([a])).toBe('in-flight')
  })

  describe('with a HoldScope (at-least-once)', () => {
    /** An app whose partitions are read by tasks of the given sub-topology ids (task per partition). */
    function scopedApp(name: string, buffers: Array<[PartitionBuffer, number]>, inFlight: InFlightTimes): KafkaApp {
      const owners = new Map(buffers.map(([b, sub]) => [b.tp, [{ task: { sub: { id: sub }, tp: b.tp }, id: `${name}/${sub}_${b.partition}` }]]))
      return { name, source: { buffers: new Map(buffers.map(([b]) => [b.tp, b])) }, owners, inFlight } as unknown as KafkaApp
    }
    const bench = (): HoldScope =>
      new HoldScope([
        [
          { reads: ['ev'], writes: ['rep'] },
          { reads: ['rep'], writes: ['out'] },
        ],
      ])

    it('goes on with the sub-topologies a record on its way cannot reorder, while the global wait stalls', () => {
      const inFlight = new InFlightTimes()
      const a = scopedApp('a', [[buffer('ev', 0, [100]), 0], [buffer('rep', 0, [], { internal: true }), 1], [buffer('rep', 1, [90], { internal: true }), 1]], inFlight)
      inFlight.add('rep:0', 40)
      expect(pick([a])).toBe('in-flight')
      // rep:1 (at 90) and ev:0 (at 100) go on: what they write to rep:0 lands after the record at 40.
      const o = nextRecord([a], opts, bench())
      expect(o.kind === 'record' && o.buffer.tp).toBe('rep:1')
    })

    it('holds back the tasks reading the partition the record is on its way to, beyond maxAheadMs', () => {
      const inFlight = new InFlightTimes()
      // One running-count task reads rep:0 and a second topic merged by time: it must wait for the record at 40.
      const rep0 = buffer('rep', 0, [], { internal: true })
      const merged = buffer('rep2', 0, [100], { internal: true })
      const a = scopedApp('a', [[rep0, 1], [merged, 1]], inFlight)
      const owners = (a as unknown as { owners: Map<string, Array<{ task: unknown }>> }).owners
      const task = owners.get('rep:0')?.[0]?.task
      owners.set('rep2:0', [{ task }])
      inFlight.add('rep:0', 40)
      expect(nextRecord([a], opts, bench()).kind).toBe('in-flight')
      expect(nextRecord([a], { ...opts, maxAheadMs: 60 }, bench()).kind).toBe('record')
      inFlight.arrived('rep:0', 40)
      expect(nextRecord([a], opts, bench()).kind).toBe('record')
    })

    it('holds back everything the record can meet downstream (a chain of repartitions), as the global wait does', () => {
      const chain = new HoldScope([
        [
          { reads: ['ev'], writes: ['rep'] },
          { reads: ['rep'], writes: ['rep2'] },
          { reads: ['rep2'], writes: ['out'] },
        ],
      ])
      const inFlight = new InFlightTimes()
      const a = scopedApp('a', [[buffer('ev', 0, [100]), 0], [buffer('rep', 0, [], { internal: true }), 1], [buffer('rep2', 0, [70], { internal: true }), 2]], inFlight)
      inFlight.add('rep:0', 40)
      // ev and rep are held; rep2 (downstream of the record's sub-topology, fed only through it) goes on.
      const o = nextRecord([a], opts, chain)
      expect(o.kind === 'record' && o.buffer.tp).toBe('rep2:0')
      ;(a.source.buffers.get('rep2:0') as PartitionBuffer).head = 1
      expect(nextRecord([a], opts, chain).kind).toBe('in-flight')
    })
  })
})
