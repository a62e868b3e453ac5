import { describe, expect, it } from 'vitest'
import { perKeyDigest } from '../../bench/decisions-outputs.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { benchEvents, buildWorld, closingEvents, eventTimeDensity, eventsForHour, packEvents } from '../../scripts/hermes-workload.ts'

const HOUR = 3_600_000
const START = Date.UTC(2026, 10, 2)

describe('packEvents', () => {
  it('packs each hour into the given seconds, keeping order, spacing and every other field', () => {
    const world = buildWorld({ users: 200, seed: 7 })
    const events = [...eventsForHour(world, START, 1000), ...eventsForHour(world, START + HOUR, 1001)]
    const packed = packEvents(events, START, 10)
    expect(packed).toHaveLength(events.length)
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as { [k: string]: unknown }
      const p = packed[i] as { [k: string]: unknown }
      expect(p.ts).toBe(START + Math.floor(((e.ts as number) - START) / 360))
      expect({ ...p, ts: e.ts }).toEqual(e)
      if (i > 0) expect(p.ts as number).toBeGreaterThanOrEqual((packed[i - 1] as { ts: number }).ts)
    }
    // The second hour starts 10 s after the first, and the input is left as it was.
    expect(Math.max(...packed.map((e) => e.ts as number))).toBeLessThan(START + 20_000)
    expect(Math.min(...packed.filter((_, i) => (events[i]?.ts as number) >= START + HOUR).map((e) => e.ts as number))).toBeGreaterThanOrEqual(START + 10_000)
    expect(events.some((e) => (e.ts as number) >= START + 20_000)).toBe(true)
  })
})

describe('closingEvents', () => {
  it('puts one chat event at the time on every partition, for users outside the world', () => {
    for (const partitions of [1, 4, 7]) {
      const closing = closingEvents(START + 5 * HOUR, partitions)
      expect(closing).toHaveLength(partitions)
      expect(new Set(closing.map((e) => partitionFor(e.userId as string, partitions))).size).toBe(partitions)
      for (const e of closing) expect(e).toMatchObject({ type: 'chat', ts: START + 5 * HOUR, userId: expect.stringMatching(/^zz-close-/) })
    }
  })
})

describe('benchEvents', () => {
  it('is the hours of events unpacked, and packed: the same events in denser time, then the closing events a day after the last', () => {
    const world = buildWorld({ users: 100, seed: 7 })
    const plain = benchEvents(world, START, 1)
    const hours = Array.from({ length: 24 }, (_, h) => eventsForHour(world, START + h * HOUR, 1000 + h)).flat()
    expect(plain).toEqual(hours)
    const packed = benchEvents(world, START, 1, 1)
    expect(packed.slice(0, plain.length)).toEqual(packEvents(plain, START, 1))
    const last = (packed[plain.length - 1] as { ts: number }).ts
    expect(last).toBeLessThan(START + 24_000)
    expect(packed.slice(plain.length)).toEqual(closingEvents(last + 24 * HOUR))
  })
})

describe('eventTimeDensity', () => {
  it('is events per second between the first and the last, the closing events left out', () => {
    const e = (userId: string, ts: number): { [k: string]: unknown } => ({ userId, ts })
    expect(eventTimeDensity([e('u1', 0), e('u2', 500), e('u3', 1000), ...closingEvents(10 * HOUR)])).toBe(3)
    expect(eventTimeDensity([e('u1', 0)])).toBe(0)
    const world = buildWorld({ users: 500, seed: 7 })
    const plain = eventTimeDensity(benchEvents(world, START, 1))
    expect(eventTimeDensity(benchEvents(world, START, 1, 36))).toBeGreaterThan(plain * 90)
  })
})

describe('perKeyDigest', () => {
  const r = (key: string | null, value: string): { key: string | null; value: string } => ({ key, value })

  it('ignores the order across keys, not within a key', () => {
    const a = [r('u1', 'a'), r('u2', 'b'), r('u1', 'c')]
    expect(perKeyDigest([r('u2', 'b'), r('u1', 'a'), r('u1', 'c')])).toBe(perKeyDigest(a))
    expect(perKeyDigest([r('u1', 'c'), r('u2', 'b'), r('u1', 'a')])).not.toBe(perKeyDigest(a))
  })

  it('tells values, keys and record boundaries apart, and takes buffers as their text', () => {
    const base = perKeyDigest([r('u1', 'ab')])
    expect(perKeyDigest([r('u1', 'a'), r('u1', 'b')])).not.toBe(base)
    expect(perKeyDigest([r('u2', 'ab')])).not.toBe(base)
    expect(perKeyDigest([r(null, 'ab')])).not.toBe(base)
    expect(perKeyDigest([{ key: 'u1', value: Buffer.from('ab') }])).toBe(base)
  })
})
