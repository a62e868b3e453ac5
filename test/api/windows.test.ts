import { describe, expect, it } from 'vitest'
import { TopologyBuilder, TopologyError, jsonSerde } from '../../pipeline/api/index.ts'
import type { Aggregator, WindowOptions, WindowResult } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

interface Ev {
  k: string
  ts: number
  n: number
}

interface Acc {
  sum: number
  ts: number[]
}

/** Sums `n` and remembers the event times folded in (sorted, so merge order does not matter). */
const summing: Aggregator<Ev, Acc> = {
  init: () => ({ sum: 0, ts: [] }),
  add: (acc, v) => ({ sum: acc.sum + v.n, ts: [...acc.ts, v.ts].sort((a, b) => a - b) }),
  merge: (a, b) => ({ sum: a.sum + b.sum, ts: [...a.ts, ...b.ts].sort((x, y) => x - y) }),
}

function windowed(options: Omit<WindowOptions<Ev, Acc>, 'aggregate'>) {
  const b = new TopologyBuilder('win')
  const w = b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' }).window('agg', { ...options, aggregate: summing })
  w.to('results', { topic: 'results', serde: jsonSerde() })
  w.sideOutput<Ev>('late').to('late', { topic: 'late', serde: jsonSerde() })
  return b.build()
}

async function open(options: Omit<WindowOptions<Ev, Acc>, 'aggregate'>): Promise<TopologyTestDriver> {
  return TopologyTestDriver.create(windowed(options), { config: { time: { maxOutOfOrdernessMs: 0 } } })
}

/** Pipes events one at a time, so the processing order (and the watermark after each) is exactly this order. */
async function feed(d: TopologyTestDriver, events: Array<[k: string, ts: number, n?: number]>): Promise<void> {
  for (const [k, ts, n] of events) await d.pipe('events', [{ k, ts, n: n ?? 1 }])
}

const results = (d: TopologyTestDriver) => d.readValues<WindowResult<Acc>>('results')
const late = (d: TopologyTestDriver) => d.readValues<Ev>('late').map((e) => [e.k, e.ts])

describe('tumbling windows with grace', () => {
  it('emit each window once, when the watermark reaches end - 1 + grace', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 1, 1], ['a', 9, 2], ['a', 10, 4], ['a', 13, 8]])
    expect(d.watermark('win')).toBe(13)
    expect(results(d)).toEqual([]) // [0,10) closes at 9 + 5 = 14
    await feed(d, [['a', 14, 16]])
    expect(results(d)).toEqual([{ key: 'a', start: 0, end: 10, value: { sum: 3, ts: [1, 9] }, count: 2 }])
    await feed(d, [['a', 23, 32]])
    expect(results(d)).toEqual([])
    await feed(d, [['a', 24, 64]])
    expect(results(d)).toEqual([{ key: 'a', start: 10, end: 20, value: { sum: 28, ts: [10, 13, 14] }, count: 3 }])
    expect(late(d)).toEqual([])
    await d.close()
  })

  it('include out-of-order records that arrive within grace', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 2, 1], ['a', 12, 2], ['a', 7, 4], ['a', 13, 8], ['a', 0, 16]])
    expect(results(d)).toEqual([])
    await feed(d, [['a', 14, 32]])
    expect(results(d)).toEqual([{ key: 'a', start: 0, end: 10, value: { sum: 21, ts: [0, 2, 7] }, count: 3 }])
    expect(late(d)).toEqual([])
    await d.close()
  })

  it('send records later than grace to the late side output instead of dropping them', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 1, 1], ['a', 14, 2]])
    expect(results(d)).toEqual([{ key: 'a', start: 0, end: 10, value: { sum: 1, ts: [1] }, count: 1 }])
    // [0,10) has closed: these are late, for its own key and for a key with no window yet.
    await feed(d, [['a', 9, 4], ['b', 3, 8], ['a', 10, 16]])
    expect(late(d)).toEqual([
      ['a', 9],
      ['b', 3],
    ])
    await feed(d, [['a', 30, 1]])
    expect(results(d)).toEqual([{ key: 'a', start: 10, end: 20, value: { sum: 18, ts: [10, 14] }, count: 2 }])
    await d.close()
  })

  it('keep windows per key and close them on the shared watermark', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 } })
    await feed(d, [['a', 1], ['b', 2], ['b', 5], ['c', 8]])
    expect(results(d)).toEqual([])
    await feed(d, [['c', 9]])
    const out = results(d)
    expect(out.map((r) => [r.key, r.start, r.end, r.count])).toEqual([
      ['a', 0, 10, 1],
      ['b', 0, 10, 2],
      ['c', 0, 10, 2],
    ])
    await d.close()
  })

  it('close a window with zero grace as soon as the watermark reaches its last millisecond', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 } })
    await feed(d, [['a', 5], ['a', 8]])
    expect(results(d)).toEqual([])
    await feed(d, [['b', 9]])
    expect(results(d).map((r) => [r.key, r.start, r.end, r.count])).toEqual([
      ['a', 0, 10, 2],
      ['b', 0, 10, 1],
    ])
    await feed(d, [['a', 9]])
    expect(late(d)).toEqual([['a', 9]])
    await d.close()
  })

  it('stamp each result with the window end - 1 and the window key', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 1000 }, graceMs: 100 })
    await feed(d, [['a', 1500], ['a', 3000]])
    const out = d.readOutput<WindowResult<Acc>>('results')
    expect(out.map((r) => [r.key, r.timestamp, r.value.start, r.value.end])).toEqual([['a', 1999, 1000, 2000]])
    await d.close()
  })
  it('keep open windows and their pending results across a restart', async () => {
    const d = await open({ window: { type: 'tumbling', sizeMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 1, 1], ['a', 12, 2]])
    await d.restart()
    await feed(d, [['a', 7, 4]]) // still within grace after the restart: the watermark was restored
    expect(late(d)).toEqual([])
    await feed(d, [['a', 14, 8]])
    expect(results(d)).toEqual([{ key: 'a', start: 0, end: 10, value: { sum: 5, ts: [1, 7] }, count: 2 }])
    await d.close()
  })
})

describe('hopping windows with grace', () => {
  it('put each record into every window that covers it, and emit each once after end - 1 + grace', async () => {
    // size 10, advance 5: windows [95,105), [100,110), [105,115), [110,120), ...
    const d = await open({ window: { type: 'hopping', sizeMs: 10, advanceMs: 5 }, graceMs: 2 })
    await feed(d, [['a', 101, 1], ['a', 104, 2], ['a', 105, 4]])
    expect(results(d)).toEqual([])
    await feed(d, [['a', 106, 8]]) // [95,105) closes at 104 + 2 = 106
    expect(results(d)).toEqual([{ key: 'a', start: 95, end: 105, value: { sum: 3, ts: [101, 104] }, count: 2 }])
    await feed(d, [['a', 110, 16]])
    expect(results(d)).toEqual([])
    await feed(d, [['a', 111, 32]]) // [100,110) closes at 111
    expect(results(d)).toEqual([{ key: 'a', start: 100, end: 110, value: { sum: 15, ts: [101, 104, 105, 106] }, count: 4 }])
    await feed(d, [['a', 200, 64]])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts])).toEqual([
      [105, 115, [105, 106, 110, 111]],
      [110, 120, [110, 111]],
    ])
    await d.close()
  })

  it('give an out-of-order record to the windows still open and send it to late only when all are closed', async () => {
    const d = await open({ window: { type: 'hopping', sizeMs: 10, advanceMs: 5 }, graceMs: 0 })
    await feed(d, [['a', 101], ['a', 107]]) // watermark 107: [95,105) closed, [100,110) open
    expect(results(d).map((r) => [r.start, r.end, r.count])).toEqual([[95, 105, 1]])
    await feed(d, [['a', 103]]) // belongs to [95,105) (closed) and [100,110) (open)
    expect(late(d)).toEqual([])
    await feed(d, [['a', 99]]) // belongs to [90,100) and [95,105): both closed
    expect(late(d)).toEqual([['a', 99]])
    await feed(d, [['a', 109]])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts])).toEqual([[100, 110, [101, 103, 107, 109]]])
    await d.close()
  })
})

describe('sliding windows with grace', () => {
  it('emit one window per record covering (ts - size, ts], once the watermark reaches ts + grace', async () => {
    const d = await open({ window: { type: 'sliding', sizeMs: 10 }, graceMs: 3 })
    await feed(d, [['a', 100, 1], ['a', 101, 2], ['a', 102, 4]])
    expect(results(d)).toEqual([]) // the first closes at 100 + 3
    await feed(d, [['a', 103, 8]])
    expect(results(d)).toEqual([{ key: 'a', start: 91, end: 101, value: { sum: 1, ts: [100] }, count: 1 }])
    await feed(d, [['a', 104, 16]])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts, r.count])).toEqual([[92, 102, [100, 101], 2]])
    await feed(d, [['a', 110, 32]])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts])).toEqual([
      [93, 103, [100, 101, 102]],
      [94, 104, [100, 101, 102, 103]],
      [95, 105, [100, 101, 102, 103, 104]],
    ])
    await feed(d, [['a', 113, 64]])
    // (100, 110] excludes the record at 100 and includes the one at 110.
    expect(results(d).map((r) => [r.start, r.end, r.value.ts, r.value.sum])).toEqual([[101, 111, [101, 102, 103, 104, 110], 62]])
    expect(late(d)).toEqual([])
    await d.close()
  })

  it('include out-of-order records within grace in the windows that cover them, and send later ones to late', async () => {
    const d = await open({ window: { type: 'sliding', sizeMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 100], ['a', 103], ['a', 99]]) // 99 + 5 > 103: within grace
    expect(late(d)).toEqual([])
    await feed(d, [['a', 98]]) // 98 + 5 <= 103: late
    expect(late(d)).toEqual([['a', 98]])
    await feed(d, [['a', 108]])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts])).toEqual([
      [90, 100, [99]],
      [91, 101, [99, 100]],
      [94, 104, [99, 100, 103]],
    ])
    await d.close()
  })
  it('fold records with the same timestamp into one window, emitted once', async () => {
    const d = await open({ window: { type: 'sliding', sizeMs: 10 } })
    await feed(d, [['a', 100, 1], ['a', 105, 2], ['b', 105, 4], ['a', 105, 8]])
    // With zero grace, the later records at 105 arrive after the window of 105 closed: late.
    expect(late(d)).toEqual([
      ['b', 105],
      ['a', 105],
    ])
    expect(results(d).map((r) => [r.start, r.end, r.value.ts])).toEqual([
      [91, 101, [100]],
      [96, 106, [100, 105]],
    ])
    const g = await open({ window: { type: 'sliding', sizeMs: 10 }, graceMs: 1 })
    await feed(g, [['a', 100, 1], ['a', 100, 2], ['a', 101, 4]])
    expect(results(g)).toEqual([{ key: 'a', start: 91, end: 101, value: { sum: 3, ts: [100, 100] }, count: 2 }])
    await d.close()
    await g.close()
  })
})

describe('sliding windows when one watermark jump closes several windows', () => {
  it('keep the records that the later windows still need', async () => {
    const d = await open({ window: { type: 'sliding', sizeMs: 10 }, graceMs: 50 })
    await feed(d, [['a', 100], ['a', 105], ['b', 1000]])
    expect(results(d).map((r) => [r.key, r.start, r.end, r.value.ts, r.count])).toEqual([
      ['a', 91, 101, [100], 1],
      ['a', 96, 106, [100, 105], 2],
    ])
    await d.close()
  })
})

describe('session windows with grace', () => {
  it('group records closer than the gap into one session and emit it after last + gap - 1 + grace', async () => {
    const d = await open({ window: { type: 'session', gapMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 100, 1], ['a', 109, 2], ['a', 118, 4]])
    expect(d.watermark('win')).toBe(118)
    await feed(d, [['b', 131]]) // session closes at 118 + 10 - 1 + 5 = 132
    expect(results(d)).toEqual([])
    await feed(d, [['b', 132]])
    expect(results(d)).toEqual([{ key: 'a', start: 100, end: 119, value: { sum: 7, ts: [100, 109, 118] }, count: 3 }])
    await d.close()
  })

  it('start a new session when a record is a full gap away from the last one', async () => {
    const d = await open({ window: { type: 'session', gapMs: 10 }, graceMs: 20 })
    await feed(d, [['a', 100], ['a', 110], ['a', 115]])
    await feed(d, [['b', 500]])
    expect(results(d).map((r) => [r.key, r.start, r.end, r.count])).toEqual([
      ['a', 100, 101, 1],
      ['a', 110, 116, 2],
    ])
    await d.close()
  })

  it('merge two sessions when a record bridges them, and emit only the merged session', async () => {
    const d = await open({ window: { type: 'session', gapMs: 10 }, graceMs: 30 })
    await feed(d, [['a', 100, 1], ['a', 105, 2], ['a', 120, 4]]) // sessions [100,106) and [120,121)
    await feed(d, [['a', 112, 8]]) // within the gap of both: they merge into [100,121)
    expect(late(d)).toEqual([])
    // The first session alone would have closed at 105 + 9 + 30 = 144; the merged one closes at 159.
    await feed(d, [['b', 158]])
    expect(results(d)).toEqual([])
    await feed(d, [['b', 159]])
    expect(results(d)).toEqual([{ key: 'a', start: 100, end: 121, value: { sum: 15, ts: [100, 105, 112, 120] }, count: 4 }])
    await feed(d, [['b', 1000]])
    expect(results(d).map((r) => [r.key, r.start, r.end, r.count])).toEqual([['b', 158, 160, 2]])
    await d.close()
  })

  it('include out-of-order records within grace and send records later than grace to late', async () => {
    const d = await open({ window: { type: 'session', gapMs: 10 }, graceMs: 5 })
    await feed(d, [['a', 100], ['b', 103], ['a', 99]]) // 99 + 5 > 103: joins a's session
    expect(late(d)).toEqual([])
    await feed(d, [['a', 98]]) // 98 + 5 <= 103: late
    expect(late(d)).toEqual([['a', 98]])
    await feed(d, [['b', 200]])
    expect(results(d).map((r) => [r.key, r.start, r.end, r.value.ts])).toEqual([
      ['a', 99, 101, [99, 100]],
      ['b', 103, 104, [103]],
    ])
    await d.close()
  })
})

describe('window options', () => {
  it('are validated when the window is added, naming the node', () => {
    const src = () => new TopologyBuilder('w').source<Ev>('events', { topic: 'events', serde: jsonSerde() })
    expect(() => src().window('w1', { window: { type: 'tumbling', sizeMs: 0 }, aggregate: summing })).toThrow(/Window "w1": sizeMs must be a positive/)
    expect(() => src().window('w2', { window: { type: 'hopping', sizeMs: 10, advanceMs: 20 }, aggregate: summing })).toThrow(/Window "w2": advanceMs must be positive and at most sizeMs \(10\)/)
    expect(() => src().window('w3', { window: { type: 'session', gapMs: 10 }, graceMs: -1, aggregate: summing })).toThrow(/Window "w3": graceMs/)
    expect(() => src().window('w4', { window: { type: 'session', gapMs: 10 }, aggregate: { init: () => 0, add: (a: number) => a } })).toThrow(
      /Window "w4": session windows merge sessions, so aggregate needs merge\(a, b\)/,
    )
    expect(() => src().window('w5', { window: { type: 'weekly' } as never, aggregate: summing })).toThrow(TopologyError)
  })
})
