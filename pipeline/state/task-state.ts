import { HermesError } from '../api/errors.ts'
import type { StoreSpec, ValueCodec } from '../api/stores.ts'
import type { KeyValueBackend } from './backend.ts'
import { decodeCodecValue, encodeCodecValue } from './value-codec.ts'
import { WindowEvents } from './window-events.ts'

const SEP = '\u0000'
/** Key prefixes inside a task's backend. */
export const PREFIX = { keyed: `k${SEP}`, broadcast: `b${SEP}`, timer: `t${SEP}`, meta: `m${SEP}` } as const

/** The cached state of one key: a decoded value per keyed store (`undefined` = absent). */
interface Row {
  values: unknown[]
  /** Bit i set: store i changed since the last flush. */
  dirty: number
  /** Bit i set: the backend holds a value for store i (so removing it needs a delete). */
  stored: number
  /** Approximate heap bytes of the row, as of its load or last flush (the cache's byte bound). */
  bytes: number
  /** Per store: approximate heap bytes of its value, as of its load or last flush. */
  sizes: number[]
}

/**
 * Default byte bound of one task's cache. Kafka Streams bounds its record cache in bytes
 * (`statestore.cache.max.bytes`, 10 MiB per instance by default); a bound in entries alone let
 * every user's state stay parsed in the heap (docs/performance.md, "Decision-flow state").
 */
export const DEFAULT_CACHE_MAX_BYTES = 16 * 1024 * 1024
/** Heap bytes a cached row costs besides its values (the row, its values array, the map entry, the key). */
const ROW_OVERHEAD_BYTES = 160
/** Heap bytes of a decoded JSON value per byte of its JSON text (objects, arrays and numbers outgrow their text). */
const JSON_HEAP_FACTOR = 3

/** Counters the task reports as metrics. */
export interface StateStats {
  hits: number
  misses: number
  loads: number
  flushedEntries: number
}

/**
 * The state of one task: a write-back cache of decoded keyed values in front of the backend,
 * broadcast stores held fully in memory, and task metadata (offsets, watermark). Nothing reaches
 * the backend until {@link TaskState.flush}, which writes everything dirty in one atomic batch.
 *
 * Values are JSON on disk, except window stores, which are binary ({@link WindowEvents}), and
 * value stores that declare a codec (value-codec.ts). They are
 * treated as immutable: to change one, `set` it again (window values are changed in place and set
 * again). The cache is bounded twice: in rows (`maxCacheEntries`) and in approximate heap bytes
 * (`maxCacheBytes`); keys read again move to the young end, so the least recently used clean rows
 * are evicted first, after each flush.
 */
export class TaskState {
  /** Rows by key, in load order (the oldest clean rows are evicted first). */
  private readonly rows = new Map<string, Row>()
  private readonly dirtyKeys = new Set<string>()
  private readonly storeNames: string[]
  /** Per store index: whether it is a window store (binary values). */
  private readonly isWindow: boolean[]
  /** Per store index: the value store's binary codec, if it declares one (else JSON). */
  private readonly codecs: Array<ValueCodec<unknown> | undefined>
  /** Approximate heap bytes of the cached rows. */
  private cacheBytes = 0
  private readonly storeIndex = new Map<string, number>()
  private readonly broadcast = new Map<string, Map<string, unknown>>()
  private readonly broadcastDirty = new Map<string, Set<string>>()
  private readonly meta = new Map<string, unknown>()
  private readonly metaDirty = new Set<string>()
  private extraOps: Array<readonly [string, Buffer | null]> = []
  /** The row used last: a record's stores and timers all ask for the same key in a row. */
  private lastKey: string | undefined
  private lastRow: Row | undefined
  readonly stats: StateStats = { hits: 0, misses: 0, loads: 0, flushedEntries: 0 }

  constructor(
    readonly backend: KeyValueBackend,
    /** Keyed stores, by full name (`<node>.<store>`). */
    readonly keyedStores: ReadonlyMap<string, StoreSpec>,
    broadcastStores: readonly string[],
    private readonly maxCacheEntries: number,
    private readonly maxCacheBytes: number = DEFAULT_CACHE_MAX_BYTES,
  ) {
    this.storeNames = [...keyedStores.keys()]
    this.isWindow = [...keyedStores.values()].map((spec) => spec.kind === 'window')
    this.codecs = [...keyedStores.entries()].map(([name, spec]) => {
      if (spec.codec === undefined) return undefined
      // The TTL wrapper ({v, t}) and map fields are JSON: a codec only knows the store's values.
      if (spec.kind !== 'value' || spec.ttlMs !== undefined) throw new HermesError('STATE_ERROR', `store ${name}: a codec is only for value stores without ttlMs; drop the codec or the ttlMs`)
      return spec.codec as ValueCodec<unknown>
    })
    if (this.storeNames.length > 30) throw new HermesError('STATE_ERROR', 'a sub-topology may declare at most 30 keyed stores')
    this.storeNames.forEach((name, i) => this.storeIndex.set(name, i))
    for (const name of broadcastStores) {
      this.broadcast.set(name, new Map())
      this.broadcastDirty.set(name, new Set())
    }
  }

  /** Loads broadcast stores and metadata. Call once before use. */
  async open(): Promise<void> {
    for (const [name, map] of this.broadcast) {
      for await (const [k, v] of this.backend.scan(`${PREFIX.broadcast}${name}${SEP}`)) {
        map.set(k.slice(PREFIX.broadcast.length + name.length + 1), JSON.parse(v.toString('utf8')))
      }
    }
    for await (const [k, v] of this.backend.scan(PREFIX.meta)) {
      this.meta.set(k.slice(PREFIX.meta.length), JSON.parse(v.toString('utf8')))
    }
  }

  /** Index of a keyed store, for the fast accessors. */
  indexOf(store: string): number {
    const i = this.storeIndex.get(store)
    if (i === undefined) throw new HermesError('STATE_ERROR', `unknown keyed store "${store}" (known: ${this.storeNames.join(', ') || 'none'})`)
    return i
  }

  /** Whether the state of `key` is in the cache. */
  isLoaded(key: string): boolean {
    if (this.storeNames.length === 0 || key === this.lastKey) return true
    const row = this.rows.get(key)
    if (row === undefined) return false
    // The runner asks before the record's stores do: they find the row without a second lookup.
    this.lastKey = key
    this.lastRow = row
    return true
  }

  /** Loads the state of these keys (every keyed store) with one multi-get. */
  prefetch(keys: Iterable<string>): void {
    const stores = this.storeNames.length
    if (stores === 0) return
    const missing: string[] = []
    const seen = new Set<string>()
    for (const key of keys) {
      if (seen.has(key)) continue
      seen.add(key)
      const row = this.rows.get(key)
      if (row === undefined) missing.push(key)
      else {
        // Read again: to the young end of the map, so eviction takes the least recently used.
        this.rows.delete(key)
        this.rows.set(key, row)
      }
    }
    if (missing.length) this.load(missing)
  }

  private load(keys: string[]): void {
    const stores = this.storeNames.length
    const wanted: string[] = new Array(keys.length * stores)
    for (let k = 0; k < keys.length; k++) for (let s = 0; s < stores; s++) wanted[k * stores + s] = fullKey(this.storeNames[s] as string, keys[k] as string)
    this.stats.loads += wanted.length
    const bufs = this.backend.getManySync(wanted)
    for (let k = 0; k < keys.length; k++) {
      const values: unknown[] = new Array(stores)
      let stored = 0
      const sizes: number[] = new Array(stores).fill(0)
      let bytes = ROW_OVERHEAD_BYTES + 8 * stores + 2 * (keys[k] as string).length
      for (let s = 0; s < stores; s++) {
        const buf = bufs[k * stores + s]
        if (buf === undefined) values[s] = undefined
        else {
          values[s] = this.decode(s, buf)
          sizes[s] = this.heapBytes(s, buf.length)
          bytes += sizes[s] as number
          stored |= 1 << s
        }
      }
      this.rows.set(keys[k] as string, { values, dirty: 0, stored, bytes, sizes })
      this.cacheBytes += bytes
    }
  }

  private row(key: string): Row {
    let row = key === this.lastKey ? this.lastRow : this.rows.get(key)
    if (row) {
      this.stats.hits++
    } else {
      this.stats.misses++
      this.load([key])
      row = this.rows.get(key) as Row
    }
    this.lastKey = key
    this.lastRow = row
    return row
  }

  /** Reads a keyed value by store index (loading the key on a cache miss). */
  getAt(store: number, key: string): unknown {
    return this.row(key).values[store]
  }

  /** Writes a keyed value by store index; `undefined` deletes it. */
  setAt(store: number, key: string, value: unknown): void {
    const row = this.row(key)
    row.values[store] = value
    // A row with dirty bits is already listed.
    if (row.dirty === 0) this.dirtyKeys.add(key)
    row.dirty |= 1 << store
  }

  /**
   * Reads a keyed value by store name, as plain data: a window store's events as the
   * `[[ts, amount, tag?], ...]` array they are shown as (key queries, the test driver).
   */
  get(store: string, key: string): unknown {
    const v = this.getAt(this.indexOf(store), key)
    return v instanceof WindowEvents ? v.toJSON() : v
  }

  /** Writes a keyed value by store name; `undefined` deletes it. A window store also takes the array form of {@link get}. */
  set(store: string, key: string, value: unknown): void {
    const idx = this.indexOf(store)
    this.setAt(idx, key, this.isWindow[idx] && Array.isArray(value) ? WindowEvents.fromLegacy(value) : value)
  }

  /** Decodes a stored value of store `s`. */
  private decode(s: number, buf: Buffer): unknown {
    if (this.isWindow[s]) return WindowEvents.decode(buf)
    const codec = this.codecs[s]
    return codec ? decodeCodecValue(codec, buf, this.storeNames[s] as string) : JSON.parse(buf.toString('utf8'))
  }

  /** Encodes a value of store `s` for the backend. */
  private encode(s: number, v: unknown): Buffer {
    if (this.isWindow[s]) return (v as WindowEvents).encode()
    const codec = this.codecs[s]
    return codec ? encodeCodecValue(codec, v) : Buffer.from(JSON.stringify(v), 'utf8')
  }

  /** Approximate heap bytes of a decoded value of store `s` stored in `length` bytes. */
  private heapBytes(s: number, length: number): number {
    // Window values are flat arrays of doubles: 24 bytes an event in the heap, 18 on disk. A codec
    // may store far less than its value holds in the heap (a sparse histogram), so it says.
    if (this.isWindow[s]) return 64 + Math.ceil(length * 1.4)
    const heapBytes = this.codecs[s]?.heapBytes
    return heapBytes ? heapBytes(length) : 32 + length * JSON_HEAP_FACTOR
  }

  /** The in-memory map of a broadcast store. */
  broadcastMap(store: string): Map<string, unknown> {
    const map = this.broadcast.get(store)
    if (!map) throw new HermesError('STATE_ERROR', `unknown broadcast store "${store}"`)
    return map
  }

  /** Marks a broadcast entry for writing at the next flush. */
  markBroadcastDirty(store: string, id: string): void {
    this.broadcastDirty.get(store)?.add(id)
  }

  getMeta<T>(name: string): T | undefined {
    return this.meta.get(name) as T | undefined
  }

  setMeta(name: string, value: unknown): void {
    this.meta.set(name, value)
    this.metaDirty.add(name)
  }

  /** Raw operations added but not yet written (a flush in flight or failed), oldest first. */
  pendingRawOps(): ReadonlyArray<readonly [string, Buffer | null]> {
    return this.extraOps
  }

  /** Adds raw operations (timers) to the next flush. */
  addRawOps(ops: Array<readonly [string, Buffer | null]>): void {
    for (const op of ops) this.extraOps.push(op)
  }

  /** Lists the entries of a keyed store: flushed ones from the backend, overlaid by the cache. */
  async *scanStore(store: string): AsyncIterable<[string, unknown]> {
    const idx = this.indexOf(store)
    const prefix = `${PREFIX.keyed}${store}${SEP}`
    const seen = new Set<string>()
    for await (const [k, v] of this.backend.scan(prefix)) {
      const key = k.slice(prefix.length)
      seen.add(key)
      const row = this.rows.get(key)
      const value = row ? row.values[idx] : this.decode(idx, v)
      if (value !== undefined) yield [key, value]
    }
    for (const [key, row] of this.rows) {
      if (!seen.has(key) && row.values[idx] !== undefined) yield [key, row.values[idx]]
    }
  }

  /**
   * Writes every changed keyed value, broadcast change, timer change and metadata change in one
   * atomic batch, then trims the cache of clean rows to its size limit (oldest loaded first).
   * What goes into the batch is marked clean before it is written, so anything changed while
   * the write is under way (also an object changed in place, as map and window stores do) is
   * marked again and stays pending. When the write fails, the batch's changes are marked
   * pending again and the next flush writes them.
   */
  async flush(): Promise<void> {
    const ops: Array<readonly [string, Buffer | null]> = []
    /** Per flushed row: the stores written, and those written with a value (not deleted). */
    const rows: Array<{ key: string; row: Row; bits: number; puts: number }> = []
    for (const key of this.dirtyKeys) {
      const row = this.rows.get(key) as Row
      let puts = 0
      for (let s = 0; s < this.storeNames.length; s++) {
        const bit = 1 << s
        if ((row.dirty & bit) === 0) continue
        const v = row.values[s]
        const before = row.sizes[s] as number
        if (v !== undefined) {
          const buf = this.encode(s, v)
          ops.push([fullKey(this.storeNames[s] as string, key), buf])
          puts |= bit
          row.sizes[s] = this.heapBytes(s, buf.length)
        } else {
          if (row.stored & bit) ops.push([fullKey(this.storeNames[s] as string, key), null])
          // Else: created and removed between two flushes; the backend never saw it.
          row.sizes[s] = 0
        }
        row.bytes += (row.sizes[s] as number) - before
        this.cacheBytes += (row.sizes[s] as number) - before
      }
      rows.push({ key, row, bits: row.dirty, puts })
      row.dirty = 0
    }
    this.dirtyKeys.clear()
    const broadcast = new Map<string, string[]>()
    for (const [store, ids] of this.broadcastDirty) {
      if (ids.size === 0) continue
      const map = this.broadcast.get(store) as Map<string, unknown>
      for (const id of ids) {
        const v = map.get(id)
        ops.push([`${PREFIX.broadcast}${store}${SEP}${id}`, v === undefined ? null : Buffer.from(JSON.stringify(v), 'utf8')])
      }
      broadcast.set(store, [...ids])
      ids.clear()
    }
    const extra = this.extraOps.length
    for (const op of this.extraOps) ops.push(op)
    const meta = [...this.metaDirty]
    for (const name of meta) ops.push([`${PREFIX.meta}${name}`, Buffer.from(JSON.stringify(this.meta.get(name)), 'utf8')])
    this.metaDirty.clear()
    try {
      await this.backend.write(ops)
    } catch (err) {
      for (const { key, row, bits } of rows) {
        row.dirty |= bits
        this.dirtyKeys.add(key)
      }
      for (const [store, ids] of broadcast) for (const id of ids) this.markBroadcastDirty(store, id)
      for (const name of meta) this.metaDirty.add(name)
      throw err
    }
    this.stats.flushedEntries += ops.length
    for (const { row, bits, puts } of rows) row.stored = (row.stored & ~bits) | puts
    this.extraOps.splice(0, extra)
    this.evict()
  }

  /** Trims the cache to its limits, dropping the least recently loaded rows that hold no pending change. */
  private evict(): void {
    let excess = this.rows.size - this.maxCacheEntries
    if (excess <= 0 && this.cacheBytes <= this.maxCacheBytes) return
    this.lastKey = undefined
    this.lastRow = undefined
    for (const [key, row] of this.rows) {
      if (excess <= 0 && this.cacheBytes <= this.maxCacheBytes) break
      if (row.dirty !== 0) continue
      this.rows.delete(key)
      this.cacheBytes -= row.bytes
      excess--
    }
  }

  /** Approximate heap bytes of the cached rows. */
  cachedBytes(): number {
    return this.cacheBytes
  }

  /**
   * Every key with a value in a keyed store, in key order: keys on disk, overlaid by the cache
   * (a cached deletion hides a key on disk; a cached new value adds one). Synchronous.
   */
  keysWithValue(store: string): string[] {
    const idx = this.indexOf(store)
    const prefix = `${PREFIX.keyed}${store}${SEP}`
    const keys = new Set<string>()
    for (const k of this.backend.keysSync(prefix)) keys.add(k.slice(prefix.length))
    for (const [key, row] of this.rows) {
      if (row.values[idx] === undefined) keys.delete(key)
      else keys.add(key)
    }
    return [...keys].sort()
  }

  /** Number of keys held in the cache. */
  cacheSize(): number {
    return this.rows.size
  }

  async close(): Promise<void> {
    await this.backend.close()
  }
}

/** Backend key of a keyed store entry. */
export function fullKey(store: string, key: string): string {
  return `${PREFIX.keyed}${store}${SEP}${key}`
}
