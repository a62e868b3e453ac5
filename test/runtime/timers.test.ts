import { describe, expect, it } from 'vitest'
import { Record, TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Timer } from '../../pipeline/api/index.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

/** A record that tells the operator which timers to register or delete for its key. */
interface Cmd {
  k: string
  ts: number
  reg?: Array<{ time: number; name?: string; payload?: unknown }>
  del?: Array<{ time: number; name?: string }>
  /** Processing-time timers, relative to the wall clock when the record is processed. */
  proc?: Array<{ in: number; name?: string; payload?: unknown }>
  delProc?: Array<{ at: number; name?: string }>
}

type Out = { seen: number; k: string } | { fired: number; k: string | null; name: string; payload: unknown; domain: string; wm: number; wall: number; count: number }

function commands(): Processor<Cmd, Out> {
  let ctx!: ProcessorContext<Out>
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<Cmd>) {
      ctx.forward(r.withValue({ seen: r.timestamp, k: r.value.k }))
      for (const t of r.value.reg ?? []) ctx.timers.registerEventTime(t.time, t.name, t.payload)
      for (const t of r.value.del ?? []) ctx.timers.deleteEventTime(t.time, t.name)
      for (const t of r.value.proc ?? []) ctx.timers.registerProcessingTime(ctx.wallClock() + t.in, t.name, t.payload)
      for (const t of r.value.delProc ?? []) ctx.timers.deleteProcessingTime(t.at, t.name)
    },
    onTimer(t: Timer) {
      // A keyed store is read in onTimer to check that stores are scoped to the timer's key.
      const s = ctx.valueStore<number>('fires')
      const count = (s.get() ?? 0) + 1
      s.put(count)
      ctx.forward(
        new Record<Out>({
          key: t.key,
          timestamp: t.time,
          value: { fired: t.time, k: t.key, name: t.name, payload: t.payload, domain: t.domain, wm: ctx.watermark(), wall: ctx.wallClock(), count },
        }),
      )
    },
  }
}

function topology() {
  const b = new TopologyBuilder('timers')
  b.source<Cmd>('cmds', { topic: 'cmds', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
    .process('timers', commands, { stores: { fires: valueStore() } })
    .to('out', { topic: 'out', serde: jsonSerde() })
  return b.build()
}

const fired = (d: TopologyTestDriver) => d.readValues<Out>('out').filter((v): v is Extract<Out, { fired: number }> => 'fired' in v)

/** Pipes records one at a time so that their processing order is exactly the given order. */
async function feed(d: TopologyTestDriver, cmds: Cmd[]): Promise<void> {
  for (const c of cmds) await d.pipe('cmds', [c])
}

describe('event-time timers', () => {
  it('fire in (time, key, name) order regardless of the order they were registered in', async () => {
    const d = await TopologyTestDriver.create(topology())
    // Keys "a" and "b" share a partition (see the cross-partition test for the other case).
    expect(partitionFor('a', 4)).toBe(partitionFor('b', 4))
    await feed(d, [
      { k: 'b', ts: 1, reg: [{ time: 20, name: 'y' }, { time: 10, name: 'z' }, { time: 20, name: 'x' }] },
      { k: 'a', ts: 2, reg: [{ time: 20, name: 'y' }, { time: 30 }, { time: 10, name: 'z' }] },
    ])
    expect(fired(d)).toEqual([])
    await feed(d, [{ k: 'a', ts: 100 }])
    expect(fired(d).map((t) => [t.fired, t.k, t.name])).toEqual([
      [10, 'a', 'z'],
      [10, 'b', 'z'],
      [20, 'a', 'y'],
      [20, 'b', 'x'],
      [20, 'b', 'y'],
      [30, 'a', ''],
    ])
    await d.close()
  })

  it('fire once the watermark reaches their time, with the stores and key of the timer', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [{ k: 'a', ts: 1, reg: [{ time: 50, name: 't', payload: { n: 1 } }] }, { k: 'b', ts: 49 }])
    expect(fired(d)).toEqual([])
    await feed(d, [{ k: 'b', ts: 50 }])
    const out = fired(d)
    expect(out).toEqual([{ fired: 50, k: 'a', name: 't', payload: { n: 1 }, domain: 'event', wm: 50, wall: 0, count: 1 }])
    expect(d.storeValue('timers', 'fires', 'a')).toBe(1)
    expect(d.storeValue('timers', 'fires', 'b')).toBeUndefined()
    await d.close()
  })

  it('replace the payload when the same (key, time, name) is registered again, and fire once', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [
      { k: 'a', ts: 1, reg: [{ time: 10, name: 'n', payload: 'first' }] },
      { k: 'a', ts: 2, reg: [{ time: 10, name: 'n', payload: 'second' }, { time: 10, name: 'other', payload: 'kept' }] },
      { k: 'b', ts: 3, reg: [{ time: 10, name: 'n', payload: 'b' }] },
      { k: 'a', ts: 20 },
    ])
    expect(fired(d).map((t) => [t.k, t.name, t.payload])).toEqual([
      ['a', 'n', 'second'],
      ['a', 'other', 'kept'],
      ['b', 'n', 'b'],
    ])
    await d.close()
  })

  it('are cancelled by deleteEventTime, for that key and name only', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [
      { k: 'a', ts: 1, reg: [{ time: 10, name: 'n' }, { time: 10, name: 'm' }, { time: 11 }] },
      { k: 'b', ts: 2, reg: [{ time: 10, name: 'n' }] },
      { k: 'a', ts: 3, del: [{ time: 10, name: 'n' }, { time: 11 }, { time: 99, name: 'never-registered' }] },
      { k: 'a', ts: 50 },
    ])
    expect(fired(d).map((t) => [t.fired, t.k, t.name])).toEqual([
      [10, 'a', 'm'],
      [10, 'b', 'n'],
    ])
    await d.close()
  })

  it('can be registered again after being deleted', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [
      { k: 'a', ts: 1, reg: [{ time: 10, payload: 1 }] },
      { k: 'a', ts: 2, del: [{ time: 10 }] },
      { k: 'a', ts: 3, reg: [{ time: 10, payload: 2 }] },
      { k: 'a', ts: 10 },
    ])
    expect(fired(d).map((t) => t.payload)).toEqual([2])
    await d.close()
  })

  it('survive a restart and fire afterwards, exactly once', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [
      { k: 'a', ts: 1, reg: [{ time: 100, name: 'later', payload: { p: 'a' } }, { time: 5, name: 'soon' }] },
      { k: 'c', ts: 2, reg: [{ time: 200, name: 'later', payload: { p: 'c' } }, { time: 300, name: 'deleted' }] },
      { k: 'c', ts: 3, del: [{ time: 300, name: 'deleted' }] },
      { k: 'a', ts: 5 },
    ])
    expect(fired(d).map((t) => t.name)).toEqual(['soon'])
    await d.restart()
    await feed(d, [{ k: 'b', ts: 99 }])
    expect(fired(d)).toEqual([])
    await feed(d, [{ k: 'b', ts: 1000 }])
    expect(fired(d).map((t) => [t.fired, t.k, t.name, t.payload])).toEqual([
      [100, 'a', 'later', { p: 'a' }],
      [200, 'c', 'later', { p: 'c' }],
    ])
    await d.restart()
    await feed(d, [{ k: 'b', ts: 2000 }])
    expect(fired(d)).toEqual([])
    await d.close()
  })

  it('fire right after the record that registered them when that record moves the watermark past them', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [{ k: 'a', ts: 100, reg: [{ time: 50, name: 'past' }] }, { k: 'a', ts: 101 }])
    expect(d.readValues<Out>('out').map((v) => ('seen' in v ? `seen ${v.seen}` : `fired ${v.fired}`))).toEqual(['seen 100', 'fired 50', 'seen 101'])
    await d.close()
  })
})

describe('event-time timers across partitions and late registrations', () => {
  it('fire in key order across partitions when they are due at the same time', async () => {
    const d = await TopologyTestDriver.create(topology())
    // a and c share a partition that d does not: the order must come from the keys, not the tasks.
    expect(partitionFor('d', 4)).not.toBe(partitionFor('a', 4))
    await feed(d, [
      { k: 'd', ts: 1, reg: [{ time: 10 }] },
      { k: 'c', ts: 1, reg: [{ time: 10 }] },
      { k: 'a', ts: 1, reg: [{ time: 10 }] },
      { k: 'a', ts: 20 },
    ])
    expect(fired(d).map((t) => t.k)).toEqual(['a', 'c', 'd'])
    await d.close()
  })

  it('fire a timer registered behind the watermark even when the registering record does not move it', async () => {
    const d = await TopologyTestDriver.create(topology())
    await feed(d, [{ k: 'a', ts: 100 }, { k: 'a', ts: 80, reg: [{ time: 60 }] }, { k: 'a', ts: 90 }])
    expect(d.readValues<Out>('out').map((v) => ('seen' in v ? `seen ${v.seen}` : `fired ${v.fired}`))).toEqual(['seen 100', 'seen 80', 'fired 60', 'seen 90'])
    await d.close()
  })
})

describe('processing-time timers', () => {
  it('fire only when the wall clock is advanced past them, not on event time', async () => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: 1_000 })
    await feed(d, [{ k: 'a', ts: 1, proc: [{ in: 500, name: 'p', payload: 'x' }] }, { k: 'b', ts: 1_000_000 }])
    expect(fired(d)).toEqual([])
    await d.advanceWallClock(499)
    expect(fired(d)).toEqual([])
    await d.advanceWallClock(1)
    const out = fired(d)
    expect(out.map((t) => [t.fired, t.k, t.name, t.payload, t.domain, t.wall])).toEqual([[1500, 'a', 'p', 'x', 'processing', 1500]])
    await d.advanceWallClock(10_000)
    expect(fired(d)).toEqual([])
    await d.close()
  })

  it('fire every due timer when the clock jumps, and not deleted ones', async () => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: 0 })
    await feed(d, [
      { k: 'a', ts: 1, proc: [{ in: 30, name: 'x' }, { in: 10, name: 'y' }, { in: 20, name: 'gone' }] },
      { k: 'a', ts: 2, delProc: [{ at: 20, name: 'gone' }] },
    ])
    await d.advanceWallClock(100)
    expect(fired(d).map((t) => [t.fired, t.name])).toEqual([
      [10, 'y'],
      [30, 'x'],
    ])
    await d.close()
  })

  it('survive a restart', async () => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: 0 })
    await feed(d, [{ k: 'a', ts: 1, proc: [{ in: 60_000, name: 'p' }] }])
    await d.restart()
    await d.advanceWallClock(59_999)
    expect(fired(d)).toEqual([])
    await d.advanceWallClock(1)
    expect(fired(d).map((t) => [t.fired, t.k, t.name])).toEqual([[60_000, 'a', 'p']])
    await d.close()
  })
})

describe('idle inputs', () => {
  it('do not hold back the watermark: timers of keys on other partitions fire while one partition stays idle', async () => {
    const d = await TopologyTestDriver.create(topology())
    // Only keys of one partition ever receive records; the other three partitions stay idle.
    const p = partitionFor('a', 4)
    const same = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].filter((k) => partitionFor(k, 4) === p)
    expect(same.length).toBeGreaterThan(1)
    await feed(d, [{ k: same[0] as string, ts: 1, reg: [{ time: 50 }] }, { k: same[1] as string, ts: 100 }])
    expect(fired(d).map((t) => [t.k, t.fired])).toEqual([[same[0], 50]])
    expect(d.watermark('timers')).toBe(100)
    await d.close()
  })
})
