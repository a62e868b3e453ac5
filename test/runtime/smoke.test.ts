import { describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Record } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

interface Ev { userId: string; type: string; ts: number }

function counting(): Processor<Ev, { userId: string; n: number }> {
  let ctx!: ProcessorContext<{ userId: string; n: number }>
  return {
    init(c) { ctx = c },
    process(r: Record<Ev>) {
      const s = ctx.valueStore<number>('count')
      const n = (s.get() ?? 0) + 1
      s.put(n)
      ctx.forward(r.withValue({ userId: r.value.userId, n }))
    },
  }
}

describe('a keyed counting topology', () => {
  it('counts per key and keeps counts across a restart', async () => {
    const b = new TopologyBuilder('counts')
    b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
      .process('count', counting, { stores: { count: valueStore() } })
      .to('out', { topic: 'counts', serde: jsonSerde() })
    const d = await TopologyTestDriver.create(b.build())
    await d.pipe('events', [{ userId: 'a', type: 'x', ts: 1 }, { userId: 'b', type: 'x', ts: 2 }, { userId: 'a', type: 'x', ts: 3 }])
    expect(d.readValues('counts')).toEqual([{ userId: 'a', n: 1 }, { userId: 'b', n: 1 }, { userId: 'a', n: 2 }])
    await d.restart()
    await d.pipe('events', [{ userId: 'a', type: 'x', ts: 4 }])
    expect(d.readValues('counts')).toEqual([{ userId: 'a', n: 3 }])
    expect(d.storeValue('count', 'count', 'a')).toBe(3)
    await d.close()
  })
})
