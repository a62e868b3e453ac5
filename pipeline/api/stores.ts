/**
 * Keyed stores as operators see them: already scoped to the key of the record (or timer) being
 * processed. The runtime loads, caches, commits and closes them; operators never do.
 *
 * Reads and writes are synchronous: before a record reaches an operator the runtime has loaded
 * that key's state into memory (batched multi-get), so no call here touches the disk.
 */
import { HermesError } from './errors.ts'

/** One value per key. */
export interface ValueStore<V> {
  /** The value for the current key, or `undefined` (also once its TTL has passed). */
  get(): V | undefined
  /** Replaces the value for the current key. Values must be JSON-serializable. */
  put(value: V): void
  /** Removes the value for the current key. */
  delete(): void
}

/**
 * A small map per key (field → value), stored and loaded as one unit. Meant for bounded per-key
 * maps (a user's segments, per-task counters); an unbounded map belongs in its own keyed stream.
 */
export interface MapStore<V> {
  get(field: string): V | undefined
  has(field: string): boolean
  put(field: string, value: V): void
  delete(field: string): void
  /** Snapshot of the entries, in insertion order. */
  entries(): Array<[string, V]>
  size(): number
  clear(): void
}

/**
 * Sliding event counts per key with retention: add `(timestamp, amount, tag)` events and sum them
 * over any time range. Events older than the newest event minus the retention are pruned, so the
 * state of a key never grows past its retention. Tags let one store count several things
 * (for example pushes per task) for the same key.
 */
export interface WindowStore {
  /** Records `amount` (default 1) at event time `timestamp`, optionally under `tag`. */
  add(timestamp: number, amount?: number, tag?: string): void
  /** Sum of amounts with `from <= timestamp <= to` (and the tag, when given). */
  sum(from: number, to: number, tag?: string): number
  /** Timestamp of the newest event (with the tag, when given), or `undefined`. */
  latest(tag?: string): number | undefined
  /** All retained events, oldest first. */
  events(): ReadonlyArray<WindowEvent>
  /**
   * Calls `fn` for each retained event, oldest first, with its tag (`undefined` when it has
   * none): {@link events} without an object per event.
   */
  forEach(fn: (ts: number, amount: number, tag: string | undefined) => void): void
  clear(): void
}

/** One event held by a {@link WindowStore}. */
export interface WindowEvent {
  readonly ts: number
  readonly amount: number
  readonly tag?: string
}

/**
 * State that every task holds in full (tasks, materials, statistics): written by broadcast records,
 * read by keyed records of any key. Writes are allowed only inside `processBroadcast`.
 */
export interface BroadcastStore<V> {
  get(id: string): V | undefined
  has(id: string): boolean
  put(id: string, value: V): void
  delete(id: string): void
  entries(): Array<[string, V]>
  size(): number
}

/** Kind of a keyed store. */
export type StoreKind = 'value' | 'map' | 'window'

/** Declaration of a keyed store on a `process` node. */
export interface StoreSpec {
  readonly kind: StoreKind
  /**
   * Value and map stores: entries not written for this long (event time) read as absent and are
   * removed by the runtime's sweeps. `undefined` keeps them forever.
   */
  readonly ttlMs?: number
  /** Window stores: how far back (event time, from the newest event of the key) events are kept. */
  readonly retentionMs?: number
  /** `false` keeps the store local only: no changelog topic. Default `true`. */
  readonly changelog?: boolean
  /**
   * Value stores without `ttlMs`: a binary encoding of the values, used instead of JSON on disk
   * and in the changelog (values stay plain data in memory). Values written as JSON before a
   * codec was declared are still read, and rewritten with the codec when next changed.
   */
  readonly codec?: ValueCodec<never>
}

/**
 * A binary encoding of a value store's values. `decode(encode(v))` must give back a value that
 * `JSON.stringify`s as `v` does: the codec changes how state is stored, never what it holds.
 * Give the payload its own version byte, so a later layout can still read this one.
 */
export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  /** Throws when the bytes are not a value this codec wrote. */
  decode(bytes: Uint8Array): V
  /**
   * Approximate heap bytes of a decoded value stored in `encodedBytes` bytes, for the cache's
   * byte bound. Default: as a JSON value (three times its size).
   */
  heapBytes?(encodedBytes: number): number
}

/** Declaration of a broadcast store on a `process` node. */
export interface BroadcastStoreSpec {
  readonly kind: 'broadcast'
}

/** Declares a value store. A `codec` needs no `ttlMs` (the TTL wrapper is JSON). */
export function valueStore<V = unknown>(options: { ttlMs?: number; changelog?: boolean; codec?: ValueCodec<V> } = {}): StoreSpec {
  if (options.codec !== undefined && options.ttlMs !== undefined) throw new HermesError('STATE_ERROR', 'valueStore: a codec cannot be combined with ttlMs (the TTL wrapper is stored as JSON); drop one of them')
  return { kind: 'value', ...options } as StoreSpec
}

/** Declares a map store. */
export function mapStore(options: { ttlMs?: number; changelog?: boolean } = {}): StoreSpec {
  return { kind: 'map', ...options }
}

/** Declares a window (sliding count) store; `retentionMs` is required. */
export function windowStore(options: { retentionMs: number; changelog?: boolean }): StoreSpec {
  return { kind: 'window', ...options }
}

/** Declares a broadcast store. */
export function broadcastStore(): BroadcastStoreSpec {
  return { kind: 'broadcast' }
}
