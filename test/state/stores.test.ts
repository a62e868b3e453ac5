import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HermesError, TopologyBuilder, broadcastStore, jsonSerde, mapStore, valueStore, windowStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Record, StoreSpec } from '../../pipeline/api/index.ts'
import { MemoryBackend, RocksDbBackend } from '../../pipeline/state/backend.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

/** A record that runs one store operation for its key; the operator forwards what it read. */
interface Op {
  k: string
  ts: number
  op: string
  field?: string
  value?: unknown
  amount?: number
  tag?: string
  from?: number
  to?: number
}

/** Runs `fn` on each record and forwards its result. */
function runner(fn: (ctx: ProcessorContext<unknown>, op: Op) => unknown): () => Processor<Op, unknown> {
  return () => {
    let ctx!: ProcessorContext<unknown>
    return {
      init(c) {
        ctx = c
      },
      process(r: Record<Op>) {
        ctx.forward(r.withValue({ out: fn(ctx, r.value) ?? null }))
      },
    }
  }
}

function topology(name: string, stores: { [name: string]: StoreSpec }, fn: (ctx: ProcessorContext<unknown>, op: Op) => unknown) {
  const b = new TopologyBuilder(name)
  b.source<Op>('ops', { topic: 'ops', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
    .process('p', runner(fn), { stores })
    .to('out', { topic: 'out', serde: jsonSerde() })
  return b.build()
}

/** Pipes operations one at a time and returns what each one read. */
async function run(d: TopologyTestDriver, ops: Op[]): Promise<unknown[]> {
  const outs: unknown[] = []
  for (const op of ops) {
    await d.pipe('ops', [op])
    outs.push(...d.readValues<{ out: unknown }>('out').map((v) => v.out))
  }
  return outs
}

describe('value store with a TTL', () => {
  const valueOps = (ctx: ProcessorContext<unknown>, op: Op): unknown => {
    const s = ctx.valueStore<unknown>('v')
    if (op.op === 'put') s.put(op.value)
    if (op.op === 'delete') s.delete()
    return s.get()
  }

  it('reads a value until ttlMs of event time has passed since it was written, then undefined', async () => {
    const d = await TopologyTestDriver.create(topology('ttl', { v: valueStore({ ttlMs: 50 }) }, valueOps))
    const out = await run(d, [
      { k: 'a', ts: 100, op: 'put', value: 'x' },
      { k: 'a', ts: 149, op: 'get' },
      { k: 'b', ts: 149, op: 'get' },
      { k: 'a', ts: 150, op: 'get' },
    ])
    expect(out).toEqual(['x', 'x', null, null])
    await d.close()
  })

  it('restarts the TTL when the value is written again', async () => {
    const d = await TopologyTestDriver.create(topology('ttl', { v: valueStore({ ttlMs: 50 }) }, valueOps))
    const out = await run(d, [
      { k: 'a', ts: 100, op: 'put', value: 1 },
      { k: 'a', ts: 140, op: 'put', value: 2 },
      { k: 'a', ts: 189, op: 'get' },
      { k: 'a', ts: 190, op: 'get' },
    ])
    expect(out).toEqual([1, 2, 2, null])
    await d.close()
  })

  it('keeps values without a TTL forever and removes them on delete', async () => {
    const d = await TopologyTestDriver.create(topology('nottl', { v: valueStore() }, valueOps))
    const out = await run(d, [
      { k: 'a', ts: 1, op: 'put', value: { n: 1 } },
      { k: 'a', ts: 1e12, op: 'get' },
    ])
    expect(out).toEqual([{ n: 1 }, { n: 1 }])
    expect(d.storeValue('p', 'v', 'a')).toEqual({ n: 1 })
    expect(await run(d, [{ k: 'a', ts: 1e12, op: 'delete' }])).toEqual([null])
    expect(d.storeValue('p', 'v', 'a')).toBeUndefined()
    await d.close()
  })

  it('shows the unwrapped value through the driver and keeps it across a restart', async () => {
    const d = await TopologyTestDriver.create(topology('ttl', { v: valueStore({ ttlMs: 1000 }) }, valueOps))
    await run(d, [{ k: 'a', ts: 10, op: 'put', value: 'kept' }])
    expect(d.storeValue('p', 'v', 'a')).toBe('kept')
    await d.restart()
    expect(await run(d, [{ k: 'a', ts: 500, op: 'get' }])).toEqual(['kept'])
    await d.close()
  })
})

describe('map store', () => {
  const mapOps = (ctx: ProcessorContext<unknown>, op: Op): unknown => {
    const m = ctx.mapStore<unknown>('m')
    const f = op.field as string
    if (op.op === 'put') m.put(f, op.value)
    if (op.op === 'delete') m.delete(f)
    if (op.op === 'clear') m.clear()
    if (op.op === 'has') return m.has(f)
    if (op.op === 'get') return m.get(f) ?? null
    return { entries: m.entries(), size: m.size() }
  }

  it('puts, overwrites, deletes and lists fields per key in insertion order', async () => {
    const d = await TopologyTestDriver.create(topology('maps', { m: mapStore() }, mapOps))
    const out = await run(d, [
      { k: 'a', ts: 1, op: 'put', field: 'z', value: 1 },
      { k: 'a', ts: 2, op: 'put', field: 'y', value: { deep: [1, 2] } },
      { k: 'b', ts: 3, op: 'put', field: 'z', value: 'other key' },
      { k: 'a', ts: 4, op: 'put', field: 'z', value: 3 },
      { k: 'a', ts: 5, op: 'get', field: 'y' },
      { k: 'a', ts: 6, op: 'has', field: 'missing' },
      { k: 'a', ts: 7, op: 'delete', field: 'z' },
      { k: 'a', ts: 8, op: 'delete', field: 'not-there' },
    ])
    expect(out).toEqual([
      { entries: [['z', 1]], size: 1 },
      { entries: [['z', 1], ['y', { deep: [1, 2] }]], size: 2 },
      { entries: [['z', 'other key']], size: 1 },
      { entries: [['z', 3], ['y', { deep: [1, 2] }]], size: 2 },
      { deep: [1, 2] },
      false,
      { entries: [['y', { deep: [1, 2] }]], size: 1 },
      { entries: [['y', { deep: [1, 2] }]], size: 1 },
    ])
    expect(d.storeValue('p', 'm', 'b')).toEqual({ z: 'other key' })
    await d.close()
  })

  it('changes a map read back from disk in place of the same fields, in the same order', async () => {
    const d = await TopologyTestDriver.create(topology('maps', { m: mapStore() }, mapOps))
    await run(d, [
      { k: 'a', ts: 1, op: 'put', field: 'z', value: 1 },
      { k: 'a', ts: 2, op: 'put', field: '10', value: 'numeric name' },
      { k: 'a', ts: 3, op: 'put', field: 'y', value: { deep: [1, 2] } },
    ])
    await d.restart()
    const out = await run(d, [
      { k: 'a', ts: 4, op: 'put', field: 'x', value: 2 },
      { k: 'a', ts: 5, op: 'put', field: 'z', value: 3 },
    ])
    expect(out).toEqual([
      { entries: [['10', 'numeric name'], ['z', 1], ['y', { deep: [1, 2] }], ['x', 2]], size: 4 },
      { entries: [['10', 'numeric name'], ['z', 3], ['y', { deep: [1, 2] }], ['x', 2]], size: 4 },
    ])
    await d.restart()
    expect(JSON.stringify(d.storeValue('p', 'm', 'a'))).toBe('{"10":"numeric name","z":3,"y":{"deep":[1,2]},"x":2}')
    await d.close()
  })

  it('removes the key entirely once its last field is deleted or it is cleared', async () => {
    const d = await TopologyTestDriver.create(topology('maps', { m: mapStore() }, mapOps))
    await run(d, [
      { k: 'a', ts: 1, op: 'put', field: 'x', value: 1 },
      { k: 'a', ts: 2, op: 'delete', field: 'x' },
      { k: 'b', ts: 3, op: 'put', field: 'x', value: 1 },
      { k: 'b', ts: 4, op: 'put', field: 'y', value: 2 },
      { k: 'b', ts: 5, op: 'clear' },
    ])
    expect(d.storeValue('p', 'm', 'a')).toBeUndefined()
    expect(d.storeValue('p', 'm', 'b')).toBeUndefined()
    await d.close()
  })

  it('keeps a field named "__proto__" as a plain field, across a restart, without touching any prototype', async () => {
    const d = await TopologyTestDriver.create(topology('maps', { m: mapStore() }, mapOps))
    const out = await run(d, [
      { k: 'a', ts: 1, op: 'put', field: '__proto__', value: { polluted: true } },
      { k: 'a', ts: 2, op: 'has', field: '__proto__' },
      { k: 'a', ts: 3, op: 'get', field: '__proto__' },
      { k: 'a', ts: 4, op: 'has', field: 'polluted' },
      { k: 'a', ts: 5, op: 'has', field: 'toString' },
      { k: 'a', ts: 6, op: 'put', field: 'other', value: 1 },
    ])
    expect(out).toEqual([
      { entries: [['__proto__', { polluted: true }]], size: 1 },
      true,
      { polluted: true },
      false,
      false,
      { entries: [['__proto__', { polluted: true }], ['other', 1]], size: 2 },
    ])
    const raw = d.storeValue('p', 'm', 'a') as object
    // The fields live in a null-prototype object (pipeline/state/stores.ts, ownFields): the field
    // did not become its prototype.
    expect(Object.getPrototypeOf(raw)).toBeNull()
    expect(Object.hasOwn(raw, '__proto__')).toBe(true)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()

    await d.restart()
    const after = await run(d, [
      { k: 'a', ts: 7, op: 'get', field: '__proto__' },
      { k: 'a', ts: 8, op: 'delete', field: '__proto__' },
    ])
    expect(after).toEqual([{ polluted: true }, { entries: [['other', 1]], size: 1 }])
    await d.close()
  })

  it('expires the whole map of a key after its TTL', async () => {
    const d = await TopologyTestDriver.create(topology('maps', { m: mapStore({ ttlMs: 10 }) }, mapOps))
    const out = await run(d, [
      { k: 'a', ts: 100, op: 'put', field: 'x', value: 1 },
      { k: 'a', ts: 109, op: 'get', field: 'x' },
      { k: 'a', ts: 110, op: 'get', field: 'x' },
    ])
    expect(out).toEqual([{ entries: [['x', 1]], size: 1 }, 1, null])
    await d.close()
  })
})

describe('window store', () => {
  const windowOps = (ctx: ProcessorContext<unknown>, op: Op): unknown => {
    const w = ctx.windowStore('w')
    if (op.op === 'add') w.add(op.value as number, op.amount, op.tag)
    if (op.op === 'clear') w.clear()
    if (op.op === 'sum') return w.sum(op.from as number, op.to as number, op.tag)
    if (op.op === 'latest') return w.latest(op.tag) ?? null
    return w.events()
  }

  it('adds events with amounts and tags, keeps them sorted, and sums inclusive ranges', async () => {
    const d = await TopologyTestDriver.create(topology('wins', { w: windowStore({ retentionMs: 1000 }) }, windowOps))
    const out = await run(d, [
      { k: 'a', ts: 1, op: 'add', value: 10 },
      { k: 'a', ts: 2, op: 'add', value: 30, amount: 5, tag: 'x' },
      { k: 'a', ts: 3, op: 'add', value: 20, amount: 2 },
      { k: 'a', ts: 4, op: 'add', value: 25, amount: 7, tag: 'y' },
      { k: 'a', ts: 5, op: 'sum', from: 0, to: 100 },
      { k: 'a', ts: 6, op: 'sum', from: 10, to: 20 },
      { k: 'a', ts: 7, op: 'sum', from: 11, to: 29 },
      { k: 'a', ts: 8, op: 'sum', from: 0, to: 100, tag: 'x' },
      { k: 'a', ts: 9, op: 'latest' },
      { k: 'a', ts: 10, op: 'latest', tag: 'y' },
      { k: 'a', ts: 11, op: 'latest', tag: 'none' },
      { k: 'b', ts: 12, op: 'sum', from: 0, to: 100 },
    ])
    expect(out.slice(3)).toEqual([
      [
        { ts: 10, amount: 1 },
        { ts: 20, amount: 2 },
        { ts: 25, amount: 7, tag: 'y' },
        { ts: 30, amount: 5, tag: 'x' },
      ],
      15,
      3,
      9,
      5,
      30,
      25,
      null,
      0,
    ])
    await d.close()
  })

  it('prunes events at or before the newest event minus the retention', async () => {
    const d = await TopologyTestDriver.create(topology('wins', { w: windowStore({ retentionMs: 100 }) }, windowOps))
    const out = await run(d, [
      { k: 'a', ts: 1, op: 'add', value: 10 },
      { k: 'a', ts: 2, op: 'add', value: 20 },
      { k: 'a', ts: 3, op: 'add', value: 21, tag: 't' },
      { k: 'a', ts: 4, op: 'add', value: 120 },
      { k: 'a', ts: 5, op: 'add', value: 50 },
      { k: 'a', ts: 6, op: 'latest', tag: 't' },
    ])
    expect(out[3]).toEqual([
      { ts: 21, amount: 1, tag: 't' },
      { ts: 120, amount: 1 },
    ])
    expect(out[4]).toEqual([
      { ts: 21, amount: 1, tag: 't' },
      { ts: 50, amount: 1 },
      { ts: 120, amount: 1 },
    ])
    expect(out[5]).toBe(21)
    expect(d.storeValue('p', 'w', 'a')).toEqual([
      [21, 1, 't'],
      [50, 1],
      [120, 1],
    ])
    await d.close()
  })

  it('keeps its events across a restart and forgets them on clear', async () => {
    const d = await TopologyTestDriver.create(topology('wins', { w: windowStore({ retentionMs: 100 }) }, windowOps))
    await run(d, [{ k: 'a', ts: 1, op: 'add', value: 10, amount: 3 }])
    await d.restart()
    expect(await run(d, [{ k: 'a', ts: 2, op: 'sum', from: 0, to: 10 }])).toEqual([3])
    expect(await run(d, [{ k: 'a', ts: 3, op: 'clear' }])).toEqual([[]])
    expect(d.storeValue('p', 'w', 'a')).toBeUndefined()
    await d.close()
  })
})

describe('broadcast store', () => {
  interface Rule {
    id: string
    ts: number
    limit: number
  }

  function rules(writeInProcess: boolean) {
    const b = new TopologyBuilder('bcast')
    const rulesIn = b.broadcast<Rule>('rules', { topic: 'rules', serde: jsonSerde(), keyField: 'id', timestampField: 'ts' })
    b.source<Op>('ops', { topic: 'ops', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
      .connect(rulesIn)
      .process(
        'check',
        (): Processor<Op, unknown> => {
          let ctx!: ProcessorContext<unknown>
          return {
            init(c) {
              ctx = c
            },
            process(r) {
              const store = ctx.broadcastStore<Rule>('rules')
              if (writeInProcess) store.put('sneaky', { id: 'sneaky', ts: 0, limit: 0 })
              ctx.forward(r.withValue({ k: r.key, rule: store.get(r.value.field ?? '')?.limit ?? null, size: store.size() }))
            },
            processBroadcast(r) {
              const rule = r.value as Rule
              ctx.broadcastStore<Rule>('rules').put(rule.id, rule)
            },
          }
        },
        { broadcastStores: { rules: broadcastStore() } },
      )
      .to('out', { topic: 'out', serde: jsonSerde() })
    return b.build()
  }

  it('is written in processBroadcast and read by records of every key, also after a restart', async () => {
    const d = await TopologyTestDriver.create(rules(false))
    await d.pipe('rules', [{ id: 'r1', ts: 1, limit: 5 }])
    await d.pipe('ops', [
      { k: 'a', ts: 2, op: 'get', field: 'r1' },
      { k: 'c', ts: 3, op: 'get', field: 'r1' },
    ])
    expect(d.readValues('out')).toEqual([
      { k: 'a', rule: 5, size: 1 },
      { k: 'c', rule: 5, size: 1 },
    ])
    await d.restart()
    await d.pipe('ops', [{ k: 'd', ts: 4, op: 'get', field: 'r1' }])
    expect(d.readValues('out')).toEqual([{ k: 'd', rule: 5, size: 1 }])
    await d.close()
  })

  it('lists entries as of the latest put or delete, in an array each caller may change', async () => {
    const b = new TopologyBuilder('bcast-entries')
    const rulesIn = b.broadcast<Rule | null>('rules', { topic: 'rules', serde: jsonSerde(), keyField: 'id', timestampField: 'ts' })
    b.source<Op>('ops', { topic: 'ops', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
      .connect(rulesIn)
      .process(
        'list',
        (): Processor<Op, unknown> => {
          let ctx!: ProcessorContext<unknown>
          return {
            init(c) {
              ctx = c
            },
            process(r) {
              const listed = ctx.broadcastStore<Rule>('rules').entries()
              const out = listed.map(([id, rule]) => `${id}=${rule.limit}`)
              // A caller's own array: emptying it leaves the next call's list whole.
              listed.length = 0
              ctx.forward(r.withValue({ k: r.key, rules: out }))
            },
            processBroadcast(r) {
              const store = ctx.broadcastStore<Rule>('rules')
              const rule = r.value as Rule & { drop?: boolean }
              if (rule.drop) store.delete(rule.id)
              else store.put(rule.id, rule)
            },
          }
        },
        { broadcastStores: { rules: broadcastStore() } },
      )
      .to('out', { topic: 'out', serde: jsonSerde() })
    const d = await TopologyTestDriver.create(b.build())
    await d.pipe('rules', [{ id: 'r1', ts: 1, limit: 5 }, { id: 'r2', ts: 1, limit: 7 }])
    await d.pipe('ops', [{ k: 'a', ts: 2, op: 'list' }, { k: 'b', ts: 3, op: 'list' }])
    await d.pipe('rules', [{ id: 'r1', ts: 4, limit: 6 }])
    await d.pipe('ops', [{ k: 'a', ts: 5, op: 'list' }])
    await d.pipe('rules', [{ id: 'r2', ts: 6, limit: 0, drop: true }, { id: 'r3', ts: 6, limit: 1 }])
    await d.pipe('ops', [{ k: 'c', ts: 7, op: 'list' }])
    expect(d.readValues('out')).toEqual([
      { k: 'a', rules: ['r1=5', 'r2=7'] },
      { k: 'b', rules: ['r1=5', 'r2=7'] },
      { k: 'a', rules: ['r1=6', 'r2=7'] },
      { k: 'c', rules: ['r1=6', 'r3=1'] },
    ])
    await d.close()
  })

  it('throws a STATE_ERROR naming the node when written outside processBroadcast', async () => {
    const d = await TopologyTestDriver.create(rules(true))
    const err = await d.pipe('ops', [{ k: 'a', ts: 1, op: 'get' }]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(HermesError)
    const cause = (err as HermesError).cause as HermesError
    expect(cause).toBeInstanceOf(HermesError)
    expect(cause.code).toBe('STATE_ERROR')
    expect(cause.message).toContain('node check')
    expect(cause.message).toContain('broadcast store "check.rules" can only be written in processBroadcast')
    expect((err as HermesError).message).toContain('can only be written in processBroadcast')
    expect(d.readValues('out')).toEqual([])
    await d.close()
  })
})

describe('RocksDB backend', () => {
  const dirs: string[] = []
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-rocksdb-test-'))
    dirs.push(dir)
    return dir
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  const collect = async (it: AsyncIterable<[string, Buffer]>): Promise<Array<[string, string]>> => {
    const out: Array<[string, string]> = []
    for await (const [k, v] of it) out.push([k, v.toString('utf8')])
    return out
  }

  it('writes a batch, reads it back with getManySync and scans by prefix in key order', async () => {
    const db = await RocksDbBackend.open(join(tempDir(), 'task_0'))
    expect(db.kind).toBe('rocksdb')
    await db.write([
      ['k\u0000s\u0000b', Buffer.from('2')],
      ['k\u0000s\u0000a', Buffer.from('1')],
      ['k\u0000s\u0000é', Buffer.from('3')],
      ['k\u0000t\u0000a', Buffer.from('other store')],
      ['m\u0000positions', Buffer.from('{}')],
    ])
    expect(db.getManySync(['k\u0000s\u0000a', 'missing', 'k\u0000s\u0000é']).map((b) => b?.toString('utf8'))).toEqual(['1', undefined, '3'])
    expect(await collect(db.scan('k\u0000s\u0000'))).toEqual([
      ['k\u0000s\u0000a', '1'],
      ['k\u0000s\u0000b', '2'],
      ['k\u0000s\u0000é', '3'],
    ])
    expect(await collect(db.scan('k\u0000'))).toHaveLength(4)
    expect(await collect(db.scan('x'))).toEqual([])
    await db.write([
      ['k\u0000s\u0000a', null],
      ['k\u0000s\u0000b', Buffer.from('22')],
    ])
    expect(db.getManySync(['k\u0000s\u0000a', 'k\u0000s\u0000b']).map((b) => b?.toString('utf8'))).toEqual([undefined, '22'])
    expect(db.approximateSize()).toBeGreaterThanOrEqual(0)
    // What the state-scale benchmark reads: the writes above sit in the memtable.
    const mem = db.memoryUsage()
    expect(mem.memtables).toBeGreaterThan(0)
    expect(mem.tableReaders).toBeGreaterThanOrEqual(0)
    expect(mem.blockCache).toBeGreaterThanOrEqual(0)
    await db.close()
  })

  it('keeps its data after being closed and reopened on the same directory', async () => {
    const dir = join(tempDir(), 'task_1')
    const first = await RocksDbBackend.open(dir)
    const value = Buffer.from(JSON.stringify({ v: 'ü', n: 42 }), 'utf8')
    await first.write([
      ['k\u0000s\u0000user-1', value],
      ['k\u0000s\u0000user-2', Buffer.from('"x"')],
      ['k\u0000s\u0000user-3', Buffer.from('"deleted"')],
    ])
    await first.write([['k\u0000s\u0000user-3', null]])
    await first.close()

    const second = await RocksDbBackend.open(dir)
    const [got] = second.getManySync(['k\u0000s\u0000user-1'])
    expect(got && JSON.parse(got.toString('utf8'))).toEqual({ v: 'ü', n: 42 })
    expect((await collect(second.scan('k\u0000s\u0000'))).map(([k]) => k)).toEqual(['k\u0000s\u0000user-1', 'k\u0000s\u0000user-2'])
    await second.close()
  })

  it('applies successive writes of different sizes through its one reused native batch, puts and deletes of a key in order, and refuses a write after close', async () => {
    const dir = join(tempDir(), 'task_reuse')
    const db = await RocksDbBackend.open(dir)
    const big = Array.from({ length: 3000 }, (_, i) => [`k\u0000s\u0000u${String(i).padStart(4, '0')}`, Buffer.from(`v${i}`)] as const)
    await db.write(big)
    // Puts and deletes in one batch apply in order: the last operation on a key wins.
    await db.write([
      ['k\u0000s\u0000u0001', null],
      ['k\u0000s\u0000u0002', Buffer.from('first')],
      ['k\u0000s\u0000u0002', null],
      ['k\u0000s\u0000u0003', null],
      ['k\u0000s\u0000u0003', Buffer.from('again')],
    ])
    await db.write([['k\u0000t\u0000only', Buffer.from('x')]])
    expect(db.getManySync(['k\u0000s\u0000u0000', 'k\u0000s\u0000u0001', 'k\u0000s\u0000u0002', 'k\u0000s\u0000u0003', 'k\u0000s\u0000u2999']).map((b) => b?.toString('utf8'))).toEqual(['v0', undefined, undefined, 'again', 'v2999'])
    expect(db.keysSync('k\u0000t\u0000')).toEqual(['k\u0000t\u0000only'])
    expect(db.keysSync('k\u0000s\u0000')).toHaveLength(2998)
    await db.close()
    // A write after close is refused with a STATE_ERROR (the binding's internals would not check).
    const err = await db.write([['k\u0000t\u0000late', Buffer.from('x')]]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(HermesError)
    expect((err as HermesError).code).toBe('STATE_ERROR')
    const again = await RocksDbBackend.open(dir)
    expect(again.keysSync('k\u0000t\u0000')).toEqual(['k\u0000t\u0000only'])
    expect(again.keysSync('k\u0000s\u0000')).toHaveLength(2998)
    await again.close()
  })

  it('writes keys given as UTF-8 bytes (a restore\'s) as write does with strings, through the same batch, puts and deletes in order, and refuses them after close', async () => {
    const db = await RocksDbBackend.open(join(tempDir(), 'task_bytes'))
    const mem = new MemoryBackend()
    const ops = (): Array<[string, Buffer | null]> => [
      ['k\u0000s\u0000é', Buffer.from('1')],
      ['k\u0000s\u0000😀', Buffer.from('2')],
      ['t\u0000timer', Buffer.from('3')],
      ['k\u0000s\u0000gone', Buffer.from('4')],
      ['k\u0000s\u0000gone', null],
    ]
    await db.write([['k\u0000s\u0000before', Buffer.from('0')]])
    for (const b of [db, mem]) await b.writeBytes(ops().map(([k, v]) => [Buffer.from(k, 'utf8'), v] as const))
    const keys = ['k\u0000s\u0000é', 'k\u0000s\u0000😀', 't\u0000timer', 'k\u0000s\u0000gone']
    expect(db.getManySync(keys).map((b) => b?.toString('utf8'))).toEqual(['1', '2', '3', undefined])
    expect(mem.getManySync(keys).map((b) => b?.toString('utf8'))).toEqual(['1', '2', '3', undefined])
    // The emoji key sorts after é as bytes (F0 > C3): the keys went in as the bytes given.
    expect(db.keysSync('k\u0000s\u0000')).toEqual(['k\u0000s\u0000before', 'k\u0000s\u0000é', 'k\u0000s\u0000😀'])
    await db.close()
    const err = await db.writeBytes([[Buffer.from('k\u0000s\u0000late'), Buffer.from('x')]]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as HermesError).code).toBe('STATE_ERROR')
  })

  it('refuses to open a directory that is already open, with a STATE_ERROR', async () => {
    const dir = join(tempDir(), 'task_2')
    const db = await RocksDbBackend.open(dir)
    const err = await RocksDbBackend.open(dir).then(
      async (again) => {
        await again.close()
        return undefined
      },
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(HermesError)
    expect((err as HermesError).code).toBe('STATE_ERROR')
    expect((err as HermesError).message).toContain(dir)
    await db.close()
  })
})

describe('synchronous key scans', () => {
  it('list every key under a prefix from RocksDB, across pages, and nothing outside it', async () => {
    const { RocksDbBackend } = await import('../../pipeline/state/backend.ts')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'hermes-keys-'))
    const db = await RocksDbBackend.open(dir)
    const ops: Array<[string, Buffer]> = []
    for (let i = 0; i < 5000; i++) ops.push([`k\u0000s\u0000user-${String(i).padStart(5, '0')}`, Buffer.from('1')])
    ops.push(['k\u0000t\u0000other', Buffer.from('1')], ['k\u0000s\u0000用户', Buffer.from('1')])
    await db.write(ops)
    const keys = db.keysSync('k\u0000s\u0000')
    expect(keys).toHaveLength(5001)
    expect(keys[0]).toBe('k\u0000s\u0000user-00000')
    expect(keys).toContain('k\u0000s\u0000用户')
    expect(keys.some((k) => k.includes('other'))).toBe(false)
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('list keys whose next character lies outside the Basic Multilingual Plane (emoji), and stop at the next prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-keys-'))
    const db = await RocksDbBackend.open(dir)
    try {
      const inside = ['u🙂1', '🙂', '𠀀CJK-extension-B', '用户', 'ascii', '\uffff', '\uffffz', 'é'].map((u) => `k\u0000s\u0000${u}`)
      // Next to the prefix in byte order: another store and the byte right after the separator.
      const outside = ['k\u0000t\u0000🙂', 'k\u0000s\u0001🙂', 'k\u0000sa\u0000x', 'k\u0000r\u0000🙂']
      await db.write([...inside, ...outside].map((k) => [k, Buffer.from('1')] as const))
      expect(db.keysSync('k\u0000s\u0000').sort()).toEqual([...inside].sort())
      // Pages end on emoji keys too: the next page starts after the last key's bytes.
      const many = Array.from({ length: 4100 }, (_, i) => `k\u0000m\u0000🙂${String(i).padStart(5, '0')}`)
      await db.write(many.map((k) => [k, Buffer.from('1')] as const))
      expect(db.keysSync('k\u0000m\u0000')).toEqual(many)
    } finally {
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
