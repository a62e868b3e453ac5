import { describe, expect, it } from 'vitest'
import { valueStore } from '../../pipeline/api/index.ts'
import type { StoreSpec } from '../../pipeline/api/index.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { PREFIX, TaskState, fullKey } from '../../pipeline/state/task-state.ts'

/** A memory backend whose next `failures` writes reject without writing anything; `gate` holds a write back. */
class FlakyBackend extends MemoryBackend {
  failures = 0
  gate: Promise<void> | undefined
  writes = 0

  override async write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void> {
    this.writes++
    if (this.gate) await this.gate
    if (this.failures > 0) {
      this.failures--
      throw new Error('disk full')
    }
    await super.write(ops)
  }

  /** The backend's contents as decoded JSON. */
  contents(): { [key: string]: unknown } {
    return Object.fromEntries([...this.raw()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, JSON.parse(v.toString('utf8'))]))
  }
}

const SEP = '\u0000'
const STORES = new Map<string, StoreSpec>([
  ['n.a', valueStore()],
  ['n.b', valueStore()],
])

async function open(backend: FlakyBackend, maxCacheEntries = 100): Promise<TaskState> {
  const state = new TaskState(backend, STORES, ['n.cfg'], maxCacheEntries)
  await state.open()
  return state
}

describe('TaskState.flush', () => {
  it('keeps every change pending when the backend write fails, so the next flush writes all of it', async () => {
    const backend = new FlakyBackend()
    const state = await open(backend)
    // Stored before: a value that will be deleted, and one that will be overwritten.
    state.set('n.a', 'gone', 1)
    state.set('n.b', 'k1', 'old')
    await state.flush()
    expect(backend.contents()).toEqual({ [fullKey('n.a', 'gone')]: 1, [fullKey('n.b', 'k1')]: 'old' })

    state.set('n.a', 'k1', { n: 1 })
    state.set('n.b', 'k1', 'new')
    state.set('n.a', 'k2', [2])
    state.set('n.a', 'gone', undefined)
    state.broadcastMap('n.cfg').set('t1', { on: true })
    state.markBroadcastDirty('n.cfg', 't1')
    state.setMeta('offset', 42)
    state.addRawOps([[`${PREFIX.timer}x`, Buffer.from('"timer"')]])
    backend.failures = 1
    await expect(state.flush()).rejects.toThrow('disk full')
    expect(backend.contents()).toEqual({ [fullKey('n.a', 'gone')]: 1, [fullKey('n.b', 'k1')]: 'old' })
    expect(state.stats.flushedEntries).toBe(2)

    await state.flush()
    expect(backend.contents()).toEqual({
      [fullKey('n.a', 'k1')]: { n: 1 },
      [fullKey('n.a', 'k2')]: [2],
      [fullKey('n.b', 'k1')]: 'new',
      [`${PREFIX.broadcast}n.cfg${SEP}t1`]: { on: true },
      [`${PREFIX.meta}offset`]: 42,
      [`${PREFIX.timer}x`]: 'timer',
    })
    expect(state.stats.flushedEntries).toBe(2 + 7)

    // Then everything is clean: a third flush writes nothing.
    await state.flush()
    expect(backend.writes).toBe(4)
    expect(state.stats.flushedEntries).toBe(9)
  })

  it('does not evict rows whose changes failed to be written', async () => {
    const backend = new FlakyBackend()
    const state = await open(backend, 2)
    for (let i = 0; i < 5; i++) state.set('n.a', `k${i}`, i)
    backend.failures = 1
    await expect(state.flush()).rejects.toThrow('disk full')
    // Reading the keys again must give the cached values, not the (empty) backend's.
    for (let i = 0; i < 5; i++) expect(state.get('n.a', `k${i}`)).toBe(i)
    await state.flush()
    expect(Object.keys(backend.contents())).toHaveLength(5)
    expect(state.cacheSize()).toBe(2)
  })

  it('keeps a value changed while the batch is being written pending for the next flush', async () => {
    const backend = new FlakyBackend()
    const state = await open(backend)
    state.set('n.a', 'k', 'first')
    state.setMeta('offset', 1)
    state.broadcastMap('n.cfg').set('t', 1)
    state.markBroadcastDirty('n.cfg', 't')
    let release!: () => void
    backend.gate = new Promise<void>((r) => (release = r))
    const flushing = state.flush()
    state.set('n.a', 'k', 'second')
    state.setMeta('offset', 2)
    state.broadcastMap('n.cfg').set('t', 2)
    state.markBroadcastDirty('n.cfg', 't')
    release()
    await flushing
    backend.gate = undefined
    expect(backend.contents()).toMatchObject({ [fullKey('n.a', 'k')]: 'first', [`${PREFIX.meta}offset`]: 1, [`${PREFIX.broadcast}n.cfg${SEP}t`]: 1 })
    await state.flush()
    expect(backend.contents()).toMatchObject({ [fullKey('n.a', 'k')]: 'second', [`${PREFIX.meta}offset`]: 2, [`${PREFIX.broadcast}n.cfg${SEP}t`]: 2 })
  })

  it('keeps a value changed in place while the batch is being written pending (map and window stores change their cached object)', async () => {
    const backend = new FlakyBackend()
    const state = await open(backend)
    state.set('n.a', 'k', { n: 1 })
    const cfg = { on: false }
    state.broadcastMap('n.cfg').set('t', cfg)
    state.markBroadcastDirty('n.cfg', 't')
    let release!: () => void
    backend.gate = new Promise<void>((r) => (release = r))
    const flushing = state.flush()
    const m = state.get('n.a', 'k') as { n: number }
    m.n = 2
    state.set('n.a', 'k', m)
    cfg.on = true
    state.markBroadcastDirty('n.cfg', 't')
    release()
    await flushing
    backend.gate = undefined
    expect(backend.contents()).toMatchObject({ [fullKey('n.a', 'k')]: { n: 1 }, [`${PREFIX.broadcast}n.cfg${SEP}t`]: { on: false } })
    await state.flush()
    expect(backend.contents()).toMatchObject({ [fullKey('n.a', 'k')]: { n: 2 }, [`${PREFIX.broadcast}n.cfg${SEP}t`]: { on: true } })
  })
})
