import { describe, expect, it } from 'vitest'
import type { StoreSpec, ValueCodec } from '../../pipeline/api/index.ts'
import { mapStore, valueStore } from '../../pipeline/api/index.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { TaskState, fullKey } from '../../pipeline/state/task-state.ts'
import { CODEC_FORMAT } from '../../pipeline/state/value-codec.ts'

/** A codec of a number as one f64: small enough to check its bytes by hand. */
const f64: ValueCodec<number> = {
  encode: (v) => {
    const b = Buffer.alloc(8)
    b.writeDoubleLE(v)
    return b
  },
  decode: (b) => {
    if (b.length !== 8) throw new RangeError(`${b.length} bytes, 8 expected`)
    return Buffer.from(b).readDoubleLE(0)
  },
}

const STORES = new Map<string, StoreSpec>([
  ['n.v', valueStore({ codec: f64 })],
  ['n.j', valueStore()],
])

async function open(backend: MemoryBackend): Promise<TaskState> {
  const state = new TaskState(backend, STORES, [], 100)
  await state.open()
  return state
}

describe('value stores with a codec', () => {
  it('store the codec bytes behind one format byte, and read them back', async () => {
    const backend = new MemoryBackend()
    const state = await open(backend)
    state.set('n.v', 'k', 0.1 + 0.2)
    state.set('n.j', 'k', 0.1 + 0.2)
    await state.flush()
    const stored = backend.raw().get(fullKey('n.v', 'k')) as Buffer
    expect(stored.length).toBe(9)
    expect(stored[0]).toBe(CODEC_FORMAT)
    expect(stored.readDoubleLE(1)).toBe(0.1 + 0.2)
    // The store without a codec is JSON as before.
    expect((backend.raw().get(fullKey('n.j', 'k')) as Buffer).toString()).toBe('0.30000000000000004')
    expect((await open(backend)).get('n.v', 'k')).toBe(0.1 + 0.2)
  })

  it('migrate values written as JSON before the codec: read as they are, rewritten with the codec when changed', async () => {
    const backend = new MemoryBackend()
    // As a store without a codec wrote them (also what an old changelog restores).
    await backend.write([
      [fullKey('n.v', 'old'), Buffer.from(JSON.stringify(41.5))],
      [fullKey('n.v', 'untouched'), Buffer.from(JSON.stringify(7))],
    ])
    const state = await open(backend)
    expect(state.get('n.v', 'old')).toBe(41.5)
    state.set('n.v', 'old', 42.5)
    await state.flush()
    const stored = backend.raw().get(fullKey('n.v', 'old')) as Buffer
    expect(stored[0]).toBe(CODEC_FORMAT)
    expect(stored.readDoubleLE(1)).toBe(42.5)
    expect((backend.raw().get(fullKey('n.v', 'untouched')) as Buffer).toString()).toBe('7')
    const reopened = await open(backend)
    expect(reopened.get('n.v', 'untouched')).toBe(7)
    expect(reopened.get('n.v', 'old')).toBe(42.5)
  })

  it('refuse bytes of neither layout, and codec bytes the codec refuses, saying what to do', async () => {
    const backend = new MemoryBackend()
    await backend.write([
      [fullKey('n.v', 'alien'), Buffer.from([0x07, 1, 2])],
      [fullKey('n.v', 'short'), Buffer.from([CODEC_FORMAT, 1, 2])],
    ])
    const state = await open(backend)
    expect(() => state.get('n.v', 'alien')).toThrow(/store n\.v: a stored value of an unknown format \(first byte 7\).*delete the task's state directory/)
    expect(() => state.get('n.v', 'short')).toThrow(/store n\.v: a stored value \(3 bytes\) does not decode \(2 bytes, 8 expected\).*delete the task's state directory/)
  })

  it('are refused on map stores and with ttlMs, naming the store', () => {
    expect(() => valueStore({ codec: f64, ttlMs: 1000 })).toThrow(/codec cannot be combined with ttlMs/)
    const map = { ...mapStore(), codec: f64 } as StoreSpec
    expect(() => new TaskState(new MemoryBackend(), new Map([['n.m', map]]), [], 10)).toThrow(/store n\.m: a codec is only for value stores without ttlMs/)
  })
})
