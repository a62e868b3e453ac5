import { HermesError } from '../api/errors.ts'
import type { StoreSpec } from '../api/stores.ts'
import type { KeyValueBackend } from './backend.ts'

const SEP = '\u0000'
/** Key prefixes inside a task's backend. */
export const PREFIX = { keyed: `k${SEP}`, broadcast: `b${SEP}`, timer: `t${SEP}`, meta: `m${SEP}` } as const

interface CacheEntry {
  /** Decoded value; `undefined` caches an absent key. */
  value: unknown
  dirty: boolean
}

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
 * Values are JSON on disk. They are treated as immutable: to change one, `set` it again.
 */
export class TaskState {
  private readonly cache = new Map<string, CacheEntry>()
  private readonly broadcast = new Map<string, Map<string, unknown>>()
  private readonly broadcastDirty = new Map<string, Set<string>>()
  private readonly meta = new Map<string, unknown>()
  private readonly metaDirty = new Set<string>()
  private extraOps: Array<readonly [string, Buffer | null]> = []
  readonly stats: StateStats = { hits: 0, misses: 0, loads: 0, flushedEntries: 0 }

  constructor(
    readonly backend: KeyValueBackend,
    /** Keyed stores, by full name (`<node>.<store>`). */
    readonly keyedStores: ReadonlyMap<string, StoreSpec>,
    broadcastStores: readonly string[],
    private readonly maxCacheEntries: number,
  ) {
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

  /** Whether every keyed store's entry for `key` is in the cache. */
  isLoaded(key: string): boolean {
    for (const store of this.keyedStores.keys()) if (!this.cache.has(fullKey(store, key))) return false
    return true
  }

  /** Loads the entries of all keyed stores for these keys with one multi-get. */
  prefetch(keys: Iterable<string>): void {
    const wanted: string[] = []
    const seen = new Set<string>()
    for (const key of keys) {
      if (seen.has(key)) continue
      seen.add(key)
      for (const store of this.keyedStores.keys()) {
        const fk = fullKey(store, key)
        if (!this.cache.has(fk)) wanted.push(fk)
      }
    }
    if (wanted.length === 0) return
    this.stats.loads += wanted.length
    const values = this.backend.getManySync(wanted)
    for (let i = 0; i < wanted.length; i++) {
      const buf = values[i]
      this.cache.set(wanted[i] as string, { value: buf === undefined ? undefined : JSON.parse(buf.toString('utf8')), dirty: false })
    }
  }

  /** Reads a keyed value (loading it on a cache miss). */
  get(store: string, key: string): unknown {
    const fk = fullKey(store, key)
    const hit = this.cache.get(fk)
    if (hit) {
      this.stats.hits++
      return hit.value
    }
    this.stats.misses++
    this.stats.loads++
    const buf = this.backend.getManySync([fk])[0]
    const value = buf === undefined ? undefined : JSON.parse(buf.toString('utf8'))
    this.cache.set(fk, { value, dirty: false })
    return value
  }

  /** Writes a keyed value; `undefined` deletes it. */
  set(store: string, key: string, value: unknown): void {
    const fk = fullKey(store, key)
    const entry = this.cache.get(fk)
    if (entry) {
      entry.value = value
      entry.dirty = true
    } else {
      this.cache.set(fk, { value, dirty: true })
    }
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

  /** Adds raw operations (timers) to the next flush. */
  addRawOps(ops: Array<readonly [string, Buffer | null]>): void {
    for (const op of ops) this.extraOps.push(op)
  }

  /** Lists keyed entries of a store straight from the backend (tests, sweeps, inspection). */
  async *scanStore(store: string): AsyncIterable<[string, unknown]> {
    const prefix = `${PREFIX.keyed}${store}${SEP}`
    // Dirty cache entries win over what is on disk.
    const cached = new Map<string, CacheEntry>()
    for (const [fk, entry] of this.cache) if (fk.startsWith(prefix) && entry.dirty) cached.set(fk, entry)
    for await (const [k, v] of this.backend.scan(prefix)) {
      const entry = cached.get(k)
      if (entry) {
        cached.delete(k)
        if (entry.value !== undefined) yield [k.slice(prefix.length), entry.value]
      } else {
        yield [k.slice(prefix.length), JSON.parse(v.toString('utf8'))]
      }
    }
    for (const [k, entry] of cached) if (entry.value !== undefined) yield [k.slice(prefix.length), entry.value]
  }

  /** Number of dirty entries waiting for the next flush. */
  dirtyCount(): number {
    let n = this.extraOps.length + this.metaDirty.size
    for (const e of this.cache.values()) if (e.dirty) n++
    for (const s of this.broadcastDirty.values()) n += s.size
    return n
  }

  /**
   * Writes every dirty entry, broadcast change, timer change and metadata change in one atomic
   * batch, then trims the cache of clean entries to its size limit (oldest loaded first).
   */
  async flush(): Promise<void> {
    const ops: Array<readonly [string, Buffer | null]> = []
    for (const [fk, entry] of this.cache) {
      if (!entry.dirty) continue
      ops.push([fk, entry.value === undefined ? null : Buffer.from(JSON.stringify(entry.value), 'utf8')])
      entry.dirty = false
    }
    for (const [store, ids] of this.broadcastDirty) {
      const map = this.broadcast.get(store) as Map<string, unknown>
      for (const id of ids) {
        const v = map.get(id)
        ops.push([`${PREFIX.broadcast}${store}${SEP}${id}`, v === undefined ? null : Buffer.from(JSON.stringify(v), 'utf8')])
      }
      ids.clear()
    }
    for (const op of this.extraOps) ops.push(op)
    this.extraOps = []
    for (const name of this.metaDirty) ops.push([`${PREFIX.meta}${name}`, Buffer.from(JSON.stringify(this.meta.get(name)), 'utf8')])
    this.metaDirty.clear()
    this.stats.flushedEntries += ops.length
    await this.backend.write(ops)
    if (this.cache.size > this.maxCacheEntries) {
      let excess = this.cache.size - this.maxCacheEntries
      for (const [fk, entry] of this.cache) {
        if (excess <= 0) break
        if (!entry.dirty) {
          this.cache.delete(fk)
          excess--
        }
      }
    }
  }

  cacheSize(): number {
    return this.cache.size
  }

  async close(): Promise<void> {
    await this.backend.close()
  }
}

/** Backend key of a keyed store entry. */
export function fullKey(store: string, key: string): string {
  return `${PREFIX.keyed}${store}${SEP}${key}`
}
