import { describe, expect, it } from 'vitest'
import { windowStore } from '../../pipeline/api/index.ts'
import type { StoreSpec } from '../../pipeline/api/index.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { TaskState, fullKey } from '../../pipeline/state/task-state.ts'
import { WINDOW_FORMAT_V2, WindowEvents } from '../../pipeline/state/window-events.ts'
import { mulberry32 } from '../../operators/ids.ts'

/** The previous layout's window store, as pipeline/state/stores.ts kept it: a sorted array. */
class ArrayWindow {
  events: Array<[number, number, string?]> = []
  add(ts: number, amount: number, tag: string | undefined, retention: number): void {
    const ev: [number, number, string?] = tag === undefined ? [ts, amount] : [ts, amount, tag]
    let i = this.events.length
    while (i > 0 && (this.events[i - 1] as [number, number])[0] > ts) i--
    this.events.splice(i, 0, ev)
    const newest = (this.events[this.events.length - 1] as [number, number])[0]
    while (this.events.length && (this.events[0] as [number, number])[0] <= newest - retention) this.events.shift()
  }
  sum(from: number, to: number, tag?: string): number {
    return this.events.filter((e) => e[0] >= from && e[0] <= to && (tag === undefined || e[2] === tag)).reduce((n, e) => n + e[1], 0)
  }
  latest(tag?: string): number | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (tag === undefined || (this.events[i] as [number, number, string?])[2] === tag) return (this.events[i] as [number, number])[0]
    return undefined
  }
}

describe('WindowEvents', () => {
  it('answers sum, latest and events as the array layout did, through random adds and binary round trips', () => {
    const seed = Number(process.env.HERMES_TEST_SEED ?? 20261206)
    const rand = mulberry32(seed)
    const tags = [undefined, 'view', 'chat', 'fav', 'a-very-long-tag-ü€']
    const old = new ArrayWindow()
    let w = WindowEvents.empty()
    let t = 1_700_000_000_000
    for (let i = 0; i < 2000; i++) {
      t += Math.floor(rand() * 1000)
      // Out of order now and then, and equal times, as late events give.
      const ts = rand() < 0.2 ? t - Math.floor(rand() * 3000) : t
      const tag = tags[Math.floor(rand() * tags.length)]
      const amount = rand() < 0.9 ? 1 : Math.floor(rand() * 5) + 0.5
      old.add(ts, amount, tag, 20_000)
      w.add(ts, amount, tag, 20_000)
      if (i % 97 === 0) w = WindowEvents.decode(w.encode())
      const from = t - Math.floor(rand() * 25_000)
      for (const q of tags) expect(w.sum(from, t, q), `seed ${seed}, step ${i}`).toBe(old.sum(from, t, q))
      expect(w.latest(tag)).toBe(old.latest(tag))
    }
    expect(w.toJSON()).toEqual(old.events)
    expect(w.events()).toEqual(old.events.map((e) => (e.length === 3 ? { ts: e[0], amount: e[1], tag: e[2] } : { ts: e[0], amount: e[1] })))
  })

  it('writes fixed-size binary events and only the tags still in use', () => {
    const w = WindowEvents.empty()
    for (let i = 0; i < 50; i++) w.add(1000 + i, 1, `item-${i}`, 10)
    const buf = w.encode()
    expect(buf[0]).toBe(WINDOW_FORMAT_V2)
    // 10 events left (times 1040..1049), each 20 bytes, and their 10 tags of 7 bytes (+4 length).
    expect(w.length).toBe(10)
    expect(buf.length).toBe(1 + 4 + 10 * (4 + 7) + 4 + 10 * 20)
    expect(WindowEvents.decode(buf).toJSON()).toEqual(w.toJSON())
  })

  it('stores a tag longer than 65,535 bytes and more than 65,535 tags (event types come from producers)', () => {
    const long = 'x'.repeat(900_007)
    const w = WindowEvents.empty()
    w.add(1, 1, long, 1_000_000)
    for (let i = 0; i < 70_000; i++) w.add(2 + i, 1, `t${i}`, 1_000_000)
    const back = WindowEvents.decode(w.encode())
    expect(back.latest(long)).toBe(1)
    expect(back.latest('t69999')).toBe(70_001)
    expect(back.sum(0, 1_000_000)).toBe(70_001)
  })

  it('reads a value of the previous layout (a JSON array) and refuses bytes of no known format', () => {
    const legacy = Buffer.from(JSON.stringify([[1, 1, 'view'], [2, 3], [5, 1, 'chat']]))
    const w = WindowEvents.decode(legacy)
    expect(w.sum(0, 10)).toBe(5)
    expect(w.sum(0, 10, 'view')).toBe(1)
    expect(w.latest('chat')).toBe(5)
    expect(() => WindowEvents.decode(Buffer.from([0x7f, 1, 2]))).toThrow(/unknown format.*delete the task's state directory/)
    const cut = w.encode().subarray(0, 20)
    expect(() => WindowEvents.decode(cut)).toThrow(/damaged/)
  })
})

describe('TaskState with window stores', () => {
  const STORES = new Map<string, StoreSpec>([['n.w', windowStore({ retentionMs: 1000 })]])

  it('migrates window values written by the previous layout: read as they are, rewritten in binary when changed', async () => {
    const backend = new MemoryBackend()
    // As the previous layout wrote them (also what an old changelog restores).
    await backend.write([
      [fullKey('n.w', 'old'), Buffer.from(JSON.stringify([[100, 1, 'view'], [200, 1]]))],
      [fullKey('n.w', 'untouched'), Buffer.from(JSON.stringify([[100, 2]]))],
    ])
    const state = new TaskState(backend, STORES, [], 100)
    await state.open()
    expect(state.get('n.w', 'old')).toEqual([[100, 1, 'view'], [200, 1]])
    const w = state.getAt(0, 'old') as WindowEvents
    w.add(300, 1, 'chat', 1000)
    state.setAt(0, 'old', w)
    await state.flush()
    const stored = backend.raw().get(fullKey('n.w', 'old')) as Buffer
    expect(stored[0]).toBe(WINDOW_FORMAT_V2)
    expect(WindowEvents.decode(stored).toJSON()).toEqual([[100, 1, 'view'], [200, 1], [300, 1, 'chat']])
    // A key never changed keeps its old bytes and still reads.
    expect((backend.raw().get(fullKey('n.w', 'untouched')) as Buffer).toString()).toBe('[[100,2]]')
    const reopened = new TaskState(backend, STORES, [], 100)
    await reopened.open()
    expect(reopened.get('n.w', 'untouched')).toEqual([[100, 2]])
    expect(reopened.get('n.w', 'old')).toEqual([[100, 1, 'view'], [200, 1], [300, 1, 'chat']])
  })

  it('bounds the cache in bytes: clean rows go after a flush once their size passes the bound, least recently read first', async () => {
    const backend = new MemoryBackend()
    const state = new TaskState(backend, STORES, [], 1_000_000, 20_000)
    for (let k = 0; k < 100; k++) {
      const w = WindowEvents.empty()
      for (let i = 0; i < 20; i++) w.add(i, 1, 'view', 1000)
      state.setAt(0, `k${k}`, w)
    }
    await state.flush()
    expect(state.cachedBytes()).toBeLessThanOrEqual(20_000)
    expect(state.cacheSize()).toBeGreaterThan(0)
    expect(state.cacheSize()).toBeLessThan(100)
    // Evicted rows read back from the backend unchanged.
    expect(state.get('n.w', 'k0')).toEqual(Array.from({ length: 20 }, (_, i) => [i, 1, 'view']))
    // Read again just now, k0 outlives a row loaded before it but not read since.
    state.prefetch(['k1', 'k0'])
    state.prefetch(['k0'])
    await state.flush()
    expect(state.isLoaded('k0')).toBe(true)
  })
})
