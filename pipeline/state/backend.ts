import { mkdirSync, rmSync } from 'node:fs'
import { RocksLevel } from '@nxtedition/rocksdb'
import { HermesError } from '../api/errors.ts'

/**
 * The byte-level store under one task's state. Reads are synchronous (state is read on the
 * processing path; a native multi-get costs ~1.5 µs per key, an awaited get ~20-40 µs), writes
 * are batched and asynchronous (they happen at commit).
 */
export interface KeyValueBackend {
  readonly kind: 'rocksdb' | 'memory'
  getManySync(keys: readonly string[]): Array<Buffer | undefined>
  /** Applies puts (Buffer) and deletes (null) atomically. */
  write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void>
  /**
   * {@link KeyValueBackend.write} with the keys already as their UTF-8 bytes: a changelog
   * restore has them so (the records' keys), and decoding them to strings only for `write` to
   * encode them again cost a string and a buffer per record. Optional: without it, the restore
   * decodes the keys and calls `write`.
   */
  writeBytes?(ops: ReadonlyArray<readonly [Buffer, Buffer | null]>): Promise<void>
  /** All entries whose key starts with `prefix`, in key order. */
  scan(prefix: string): AsyncIterable<[string, Buffer]>
  /** The keys (not values) that start with `prefix`, in key order, read synchronously. */
  keysSync(prefix: string): string[]
  /**
   * Up to `limit` entries with `from <= key` that start with `prefix`, in key order (UTF-8 bytes),
   * read synchronously: how timers beyond the in-memory window are paged in.
   */
  rangeSync(prefix: string, from: string, limit: number): Array<[string, Buffer]>
  /** Approximate number of bytes on disk (0 for memory). */
  approximateSize(): number
  close(): Promise<void>
}

/** A Map-backed backend for tests; `snapshot()` lets tests restart a task on the same data. */
export class MemoryBackend implements KeyValueBackend {
  readonly kind = 'memory' as const
  private readonly data: Map<string, Buffer>

  constructor(data?: Map<string, Buffer>) {
    this.data = data ?? new Map()
  }

  getManySync(keys: readonly string[]): Array<Buffer | undefined> {
    return keys.map((k) => this.data.get(k))
  }

  async write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void> {
    for (const [k, v] of ops) {
      if (v === null) this.data.delete(k)
      else this.data.set(k, v)
    }
  }

  async writeBytes(ops: ReadonlyArray<readonly [Buffer, Buffer | null]>): Promise<void> {
    return this.write(ops.map(([k, v]) => [k.toString('utf8'), v] as const))
  }

  async *scan(prefix: string): AsyncIterable<[string, Buffer]> {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort()
    for (const k of keys) {
      const v = this.data.get(k)
      if (v) yield [k, v]
    }
  }

  keysSync(prefix: string): string[] {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort()
  }

  rangeSync(prefix: string, from: string, limit: number): Array<[string, Buffer]> {
    const lo = Buffer.from(from, 'utf8')
    const p = Buffer.from(prefix, 'utf8')
    // Compared as UTF-8 bytes, as RocksDB does.
    const keys = [...this.data.keys()]
      .map((k) => [k, Buffer.from(k, 'utf8')] as const)
      .filter(([, b]) => b.subarray(0, p.length).equals(p) && Buffer.compare(b, lo) >= 0)
      .sort((a, b) => Buffer.compare(a[1], b[1]))
      .slice(0, limit)
    return keys.map(([k]) => [k, this.data.get(k) as Buffer])
  }

  approximateSize(): number {
    return 0
  }

  /** The underlying map (shared, not copied): a new MemoryBackend over it sees the same data. */
  raw(): Map<string, Buffer> {
    return this.data
  }

  async close(): Promise<void> {}
}

/** The binding's chained batch, through its synchronous internals (see {@link RocksDbBackend.write}). */
interface RocksDbBatch {
  _put(key: Buffer, value: Buffer, options: object): void
  _del(key: Buffer, options: object): void
  _writeSync(options: object): void
  _clear(): void
}

interface RocksDbHandle {
  readonly status: 'opening' | 'open' | 'closing' | 'closed'
  open(): Promise<void>
  close(): Promise<void>
  _chainedBatch(): RocksDbBatch
  iterator(options: { gte: Buffer; lt: Buffer }): AsyncIterable<[Buffer, Buffer]>
  getProperty(name: string): string
  _getManySync(keys: Buffer[], options: object): Array<Buffer | undefined>
  querySync(options: { gte?: Buffer; gt?: Buffer; lt: Buffer; keys: boolean; values: boolean; limit: number; keyEncoding: 'utf8' | 'buffer'; valueEncoding: 'utf8' | 'buffer' }): {
    rows: Array<Buffer | undefined>
    finished: boolean
  }
}

/**
 * Memory bounds of each task's RocksDB instance. Without them RocksDB's defaults apply per
 * instance (64 MiB write buffers, two of them, and a block cache), and a process holds one
 * instance per task (20 for the two decision-flow topologies on 4 partitions): native memory grew
 * with the data written, 376 MiB at 20k users (docs/performance.md, "Decision-flow state").
 * Level compaction with a 64 MiB memtable budget gives 16 MiB write buffers (the binding sets a
 * quarter of the budget); the block cache stays at the binding's 8 MiB, filled only by the keys
 * the write-back cache let go of. A 16 MiB budget (4 MiB buffers) cost measurably more CPU in
 * the decision-flow benchmark: reads and sweeps left the memtable for SST files sooner.
 */
const ROCKSDB_MEMORY = { compaction: 'level', memtableMemoryBudget: 64 * 1024 * 1024, cacheSize: 8 * 1024 * 1024 } as const

/**
 * The binding compresses the write-ahead log with ZSTD by default, on the thread that writes: the
 * main thread, since its batch write is synchronous. Uncompressed, a batch write took about 0.7x
 * the time (a 10,000-record batch of decision-flow-sized values, alternating runs); the WAL is
 * deleted once its memtable is flushed, so what it costs is at most a memtable's size of disk.
 */
const ROCKSDB_WAL = { walCompression: false } as const

/** Options of batch operations: none (default column family, asynchronous WAL as before). */
const NO_OPTIONS = Object.freeze({})

/** Page size of synchronous key scans. */
const SCAN_PAGE = 4096

/** RocksDB (via @nxtedition/rocksdb), one instance per task directory. */
export class RocksDbBackend implements KeyValueBackend {
  readonly kind = 'rocksdb' as const
  private readonly db: RocksDbHandle
  /** One native write batch, cleared and reused by every write (see {@link write}). */
  private batch: RocksDbBatch | undefined

  private constructor(db: RocksDbHandle) {
    this.db = db
  }

  /** Opens (creating if needed) the database in `dir`. */
  static async open(dir: string): Promise<RocksDbBackend> {
    mkdirSync(dir, { recursive: true })
    const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', ...ROCKSDB_MEMORY, ...ROCKSDB_WAL } as never) as unknown as RocksDbHandle
    try {
      await db.open()
    } catch (err) {
      throw new HermesError('STATE_ERROR', `cannot open RocksDB state in ${dir}: ${(err as Error).message} (is another Hermes process using this state dir?)`, { cause: err })
    }
    return new RocksDbBackend(db)
  }

  /** Deletes a task's state directory (used when a task moves away or state is reset). */
  static destroy(dir: string): void {
    rmSync(dir, { recursive: true, force: true })
  }

  getManySync(keys: readonly string[]): Array<Buffer | undefined> {
    return this.db._getManySync(keys.map((k) => Buffer.from(k, 'utf8')), {})
  }

  /**
   * One atomic write, on the calling thread (the binding's batch write is synchronous whichever
   * way it is called). It fills and reuses one native batch instead of the binding's `batch(ops)`,
   * which builds a new `rocksdb::WriteBatch` per call and frees it only when V8 collects the small
   * JS object holding it: V8 does not see the native bytes (about the size of the batch's keys and
   * values), so a restore or a build left hundreds of MiB of written batches waiting for a
   * collection (bench/state-scale.bench.ts: +130 MiB of RSS per million records written, kept
   * after close). A cleared batch keeps its buffer, so the memory held is that of the largest
   * batch, once per instance.
   */
  async write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void> {
    if (ops.length === 0) return
    const batch = this.openBatch()
    try {
      for (const [k, v] of ops) {
        if (v === null) batch._del(Buffer.from(k, 'utf8'), NO_OPTIONS)
        else batch._put(Buffer.from(k, 'utf8'), v, NO_OPTIONS)
      }
      batch._writeSync(NO_OPTIONS)
    } finally {
      batch._clear()
    }
  }

  /** {@link write} with the keys as bytes (a changelog restore's), through the same reused batch. */
  async writeBytes(ops: ReadonlyArray<readonly [Buffer, Buffer | null]>): Promise<void> {
    if (ops.length === 0) return
    const batch = this.openBatch()
    try {
      for (const [k, v] of ops) {
        if (v === null) batch._del(k, NO_OPTIONS)
        else batch._put(k, v, NO_OPTIONS)
      }
      batch._writeSync(NO_OPTIONS)
    } finally {
      batch._clear()
    }
  }

  private openBatch(): RocksDbBatch {
    // The binding's own batch() checks this; its internals used here do not.
    if (this.db.status !== 'open') throw new HermesError('STATE_ERROR', `cannot write state: the RocksDB instance is ${this.db.status}`)
    return (this.batch ??= this.db._chainedBatch())
  }

  async *scan(prefix: string): AsyncIterable<[string, Buffer]> {
    const gte = Buffer.from(prefix, 'utf8')
    const lt = Buffer.concat([gte, Buffer.from([0xff])])
    for await (const [k, v] of this.db.iterator({ gte, lt })) yield [k.toString('utf8'), v]
  }

  keysSync(prefix: string): string[] {
    // Bounds in bytes, as RocksDB compares keys: the prefix's UTF-8 bytes, then 0xFF, a byte no
    // UTF-8 text contains. A string bound such as prefix + U+FFFF (EF BF BF) would stop before
    // every key whose next character lies above the BMP (F0..F4: emoji, rare CJK), and page
    // boundaries are taken from the raw key bytes for the same reason.
    const gte = Buffer.from(prefix, 'utf8')
    const lt = Buffer.concat([gte, Buffer.from([0xff])])
    const keys: string[] = []
    let gt: Buffer | undefined
    for (;;) {
      const page = this.db.querySync({ ...(gt === undefined ? { gte } : { gt }), lt, keys: true, values: false, limit: SCAN_PAGE, keyEncoding: 'buffer', valueEncoding: 'buffer' })
      // Rows come as key, value pairs (the value undefined when not asked for).
      for (let i = 0; i < page.rows.length; i += 2) keys.push((page.rows[i] as Buffer).toString('utf8'))
      if (page.rows.length < 2 * SCAN_PAGE) return keys
      gt = page.rows[page.rows.length - 2] as Buffer
    }
  }

  rangeSync(prefix: string, from: string, limit: number): Array<[string, Buffer]> {
    const gte = Buffer.from(from, 'utf8')
    const lt = Buffer.concat([Buffer.from(prefix, 'utf8'), Buffer.from([0xff])])
    const page = this.db.querySync({ gte, lt, keys: true, values: true, limit, keyEncoding: 'buffer', valueEncoding: 'buffer' })
    const out: Array<[string, Buffer]> = []
    for (let i = 0; i < page.rows.length; i += 2) out.push([(page.rows[i] as Buffer).toString('utf8'), page.rows[i + 1] as Buffer])
    return out
  }

  approximateSize(): number {
    return this.numberProperty('rocksdb.estimate-live-data-size')
  }

  /**
   * Native memory RocksDB reports for this instance, in bytes: memtables (active, unflushed and
   * pinned), table readers (index and filter blocks held outside the block cache) and the block
   * cache's usage. For benchmarks and diagnostics; RocksDB's own estimates.
   */
  memoryUsage(): { memtables: number; tableReaders: number; blockCache: number } {
    return {
      memtables: this.numberProperty('rocksdb.size-all-mem-tables'),
      tableReaders: this.numberProperty('rocksdb.estimate-table-readers-mem'),
      blockCache: this.numberProperty('rocksdb.block-cache-usage'),
    }
  }

  /** A numeric RocksDB property, 0 when the binding gives none. */
  private numberProperty(name: string): number {
    const n = Number(this.db.getProperty(name))
    return Number.isFinite(n) ? n : 0
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
