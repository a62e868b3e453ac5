import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { HermesError } from '../api/errors.ts'
import type { Headers } from '../api/record.ts'

/** One record stored in an embedded topic partition. */
export interface LogEntry {
  readonly offset: number
  /** Global append order across all topics of the log; breaks timestamp ties. */
  readonly seq: number
  readonly timestamp: number
  readonly key: string | null
  readonly value: Buffer | null
  readonly headers: Headers | undefined
}

interface Partition {
  /** Entries from offset `released` on; older ones are only in the file (file-backed logs). */
  entries: LogEntry[]
  /** Offset of `entries[0]`: the entries before it were flushed and let go of. */
  released: number
  /** Offsets [flushed, end) are not on disk yet. */
  flushed: number
  /** Records from this offset on stay in memory after a flush: a reader has not read them yet. */
  retainFrom: number
  /** Byte position in the file of each flushed frame, by offset, and the file's length after them. */
  positions: number[]
  fileBytes: number
  file: string | null
  /**
   * The last chunks of frames read back from the file, newest last: a sequential reader reads
   * each chunk once, and several readers of one partition (two topologies read the same input)
   * each keep theirs.
   */
  chunks: Chunk[]
}

/** Frames read back from a partition file: the records from offset `from` on. */
interface Chunk {
  from: number
  entries: LogEntry[]
}

/** Chunks kept per partition. */
const CHUNKS_PER_PARTITION = 4

/**
 * Flushed records a file-backed log keeps in memory per partition, besides those not flushed yet.
 * Readers work near the end of a partition (a run's cursors, lagging by at most what a commit
 * interval produces); older records are read back from the file, a chunk at a time. Before this
 * bound, every record of a run stayed in memory (docs/performance.md, "The embedded log").
 */
export const DEFAULT_MEMORY_TAIL = 8192
/** Bytes read from a partition file at once when a reader asks for a released record. */
const READ_CHUNK_BYTES = 256 * 1024

interface FrameHeader {
  s: number
  t: number
  k: string | null
  h?: Headers
  n?: 1
}

/**
 * An in-process topic log: topics with partitions, records with offsets, kept in memory and, when
 * given a directory, appended to one file per partition at {@link EmbeddedLog.flush}. It stands in
 * for Kafka in embedded mode and in tests; a log reopened on the same directory has every flushed
 * record back. A file-backed log lets go of flushed records past the last `memoryTail` of each
 * partition (reading them back from the file when asked), so a long run does not grow the heap
 * by every record it ever produced; an in-memory log keeps everything (it has nowhere else).
 *
 * Frame format: `u32 frameLength | u32 headerLength | header JSON | value bytes`.
 */
export class EmbeddedLog {
  private readonly topics = new Map<string, Partition[]>()
  private readonly listeners: Array<(topic: string, partition: number) => void> = []
  private nextSeq = 0

  private constructor(
    private readonly dir: string | null,
    private readonly memoryTail: number = DEFAULT_MEMORY_TAIL,
  ) {}

  /** An in-memory log (tests, the test driver). */
  static inMemory(): EmbeddedLog {
    return new EmbeddedLog(null)
  }

  /**
   * Opens (or creates) a file-backed log under `dir`. It holds in memory the records not flushed
   * yet and the last `memoryTail` flushed ones of each partition; older ones are read back from
   * the files when asked for.
   */
  static open(dir: string, options: { memoryTail?: number } = {}): EmbeddedLog {
    mkdirSync(join(dir, 'topics'), { recursive: true })
    const log = new EmbeddedLog(dir, options.memoryTail ?? DEFAULT_MEMORY_TAIL)
    const meta = join(dir, 'topics.json')
    if (existsSync(meta)) {
      const topics = JSON.parse(readFileSync(meta, 'utf8')) as { [topic: string]: number }
      for (const [topic, partitions] of Object.entries(topics)) log.load(topic, partitions)
    }
    return log
  }

  /** Creates a topic; a no-op when it exists with the same partition count. */
  createTopic(topic: string, partitions: number): void {
    if (!Number.isInteger(partitions) || partitions < 1) throw new HermesError('USAGE', `topic ${topic}: partitions must be a positive integer, got ${partitions}`)
    const existing = this.topics.get(topic)
    if (existing) {
      if (existing.length !== partitions) {
        throw new HermesError('USAGE', `topic ${topic} exists with ${existing.length} partitions, not ${partitions}; use the same count or a new state dir`)
      }
      return
    }
    const parts: Partition[] = []
    for (let p = 0; p < partitions; p++) parts.push(newPartition([], [], 0, this.dir ? this.partitionFile(topic, p) : null))
    this.topics.set(topic, parts)
    this.saveMeta()
  }

  hasTopic(topic: string): boolean {
    return this.topics.has(topic)
  }

  topicNames(): string[] {
    return [...this.topics.keys()]
  }

  partitions(topic: string): number {
    return this.partitionsOf(topic).length
  }

  /** Appends a record; returns its offset. Listeners hear about it at once. */
  append(topic: string, partition: number, key: string | null, value: Buffer | null, timestamp: number, headers?: Headers): number {
    const part = this.partitionsOf(topic)[partition]
    if (!part) throw new HermesError('USAGE', `topic ${topic} has no partition ${partition}`)
    const offset = part.released + part.entries.length
    part.entries.push({ offset, seq: this.nextSeq++, timestamp, key, value, headers: headers && Object.keys(headers).length ? headers : undefined })
    for (const l of this.listeners) l(topic, partition)
    return offset
  }

  /** The entry at `offset`, or undefined past the end. */
  read(topic: string, partition: number, offset: number): LogEntry | undefined {
    const part = this.partitionsOf(topic)[partition]
    if (!part) return undefined
    if (offset >= part.released) return part.entries[offset - part.released]
    if (offset < 0) return undefined
    return this.readReleased(part, offset)
  }

  /** Offset one past the last record. */
  endOffset(topic: string, partition: number): number {
    const part = this.partitionsOf(topic)[partition]
    return part ? part.released + part.entries.length : 0
  }

  /**
   * Keeps the records of a partition from `offset` on in memory after flushes (a reader's
   * position: what it has still to read is not read back from the file); `Infinity` lifts it.
   * Only file-backed logs release records at all.
   */
  retainFrom(topic: string, partition: number, offset: number): void {
    const part = this.partitionsOf(topic)[partition]
    if (part) part.retainFrom = offset
  }

  /** Records held in memory, over all partitions (the rest are in the files). */
  entriesInMemory(): number {
    let n = 0
    for (const parts of this.topics.values()) for (const part of parts) for (const c of [part.entries, ...part.chunks.map((k) => k.entries)]) n += c.length
    return n
  }

  /** A record let go of after its flush, read back from the partition file with the frames after it. */
  private readReleased(part: Partition, offset: number): LogEntry {
    for (const c of part.chunks) {
      const i = offset - c.from
      if (i >= 0 && i < c.entries.length) return c.entries[i] as LogEntry
    }
    const from = part.positions[offset] as number
    let to = from
    let last = offset
    // Whole frames only, at least one, up to about READ_CHUNK_BYTES.
    while (last < part.flushed && ((part.positions[last + 1] ?? part.fileBytes) - from <= READ_CHUNK_BYTES || last === offset)) {
      to = part.positions[last + 1] ?? part.fileBytes
      last++
    }
    const buf = Buffer.allocUnsafe(to - from)
    const fd = openSync(part.file as string, 'r')
    try {
      let got = 0
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, from + got)
        if (n === 0) throw new HermesError('IO_ERROR', `embedded log ${part.file} ends at byte ${from + got}, before the record at offset ${offset} (its frames end at ${to}): the file was changed outside Hermes`)
        got += n
      }
    } finally {
      closeSync(fd)
    }
    const entries = decodeFrames(buf, part.file as string, offset).entries
    part.chunks.push({ from: offset, entries })
    if (part.chunks.length > CHUNKS_PER_PARTITION) part.chunks.shift()
    return entries[0] as LogEntry
  }

  /** Calls `fn` after each append; returns a function that unsubscribes. */
  onAppend(fn: (topic: string, partition: number) => void): () => void {
    this.listeners.push(fn)
    return () => {
      const i = this.listeners.indexOf(fn)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  /** Writes every unflushed record to its partition file (and fsyncs when asked). */
  flush(options: { fsync?: boolean } = {}): void {
    if (!this.dir) return
    for (const parts of this.topics.values()) {
      for (const part of parts) {
        const end = part.released + part.entries.length
        if (part.flushed === end || !part.file) continue
        const chunks: Buffer[] = []
        for (let o = part.flushed; o < end; o++) {
          const frame = encodeFrame(part.entries[o - part.released] as LogEntry)
          part.positions.push(part.fileBytes)
          part.fileBytes += frame.length
          chunks.push(frame)
        }
        const fd = openSync(part.file, 'a')
        try {
          writeSync(fd, Buffer.concat(chunks))
          if (options.fsync) fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        part.flushed = end
        // On disk now: all but the last `memoryTail`, and what a reader has still to read, may go.
        const keepFrom = Math.max(part.released, Math.min(end - this.memoryTail, part.retainFrom))
        if (keepFrom > part.released) {
          part.entries = part.entries.slice(keepFrom - part.released)
          part.released = keepFrom
        }
      }
    }
  }

  private partitionsOf(topic: string): Partition[] {
    const parts = this.topics.get(topic)
    if (!parts) throw new HermesError('USAGE', `unknown topic "${topic}" in the embedded log (known: ${[...this.topics.keys()].join(', ') || 'none'})`)
    return parts
  }

  private partitionFile(topic: string, partition: number): string {
    return join(this.dir as string, 'topics', `${topic}-${partition}.log`)
  }

  private load(topic: string, partitions: number): void {
    const parts: Partition[] = []
    for (let p = 0; p < partitions; p++) {
      const file = this.partitionFile(topic, p)
      let entries: LogEntry[] = []
      let positions: number[] = []
      let bytes = 0
      if (existsSync(file)) {
        const buf = readFileSync(file)
        const decoded = decodeFrames(buf, file, 0)
        entries = decoded.entries
        positions = decoded.positions
        bytes = decoded.validBytes
        // A torn frame at the tail (crash mid-write) is cut off so later appends stay readable.
        if (decoded.validBytes < buf.length) truncateSync(file, decoded.validBytes)
      }
      for (const e of entries) if (e.seq >= this.nextSeq) this.nextSeq = e.seq + 1
      const part = newPartition(entries.length > this.memoryTail ? entries.slice(entries.length - this.memoryTail) : entries, positions, bytes, file)
      part.released = entries.length - part.entries.length
      part.flushed = entries.length
      parts.push(part)
    }
    this.topics.set(topic, parts)
  }

  private saveMeta(): void {
    if (!this.dir) return
    const meta = Object.fromEntries([...this.topics].map(([t, parts]) => [t, parts.length]))
    const tmp = join(this.dir, 'topics.json.tmp')
    writeFileSync(tmp, JSON.stringify(meta, null, 2))
    renameSync(tmp, join(this.dir, 'topics.json'))
  }
}

function encodeFrame(e: LogEntry): Buffer {
  const header: FrameHeader = { s: e.seq, t: e.timestamp, k: e.key }
  if (e.headers) header.h = e.headers
  if (e.value === null) header.n = 1
  const h = Buffer.from(JSON.stringify(header), 'utf8')
  const v = e.value ?? Buffer.alloc(0)
  const frame = Buffer.allocUnsafe(8 + h.length + v.length)
  frame.writeUInt32BE(4 + h.length + v.length, 0)
  frame.writeUInt32BE(h.length, 4)
  h.copy(frame, 8)
  v.copy(frame, 8 + h.length)
  return frame
}

function newPartition(entries: LogEntry[], positions: number[], fileBytes: number, file: string | null): Partition {
  return { entries, released: 0, flushed: entries.length, retainFrom: Number.POSITIVE_INFINITY, positions, fileBytes, file, chunks: [] }
}

/** Decodes the whole frames of `buf`, the first one being the record at offset `firstOffset`. */
function decodeFrames(buf: Buffer, file: string, firstOffset: number): { entries: LogEntry[]; positions: number[]; validBytes: number } {
  const entries: LogEntry[] = []
  const positions: number[] = []
  let pos = 0
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos)
    if (pos + 4 + len > buf.length) break // torn write at the tail after a crash: ignore it
    const hlen = buf.readUInt32BE(pos + 4)
    let header: FrameHeader
    try {
      header = JSON.parse(buf.toString('utf8', pos + 8, pos + 8 + hlen)) as FrameHeader
    } catch (err) {
      throw new HermesError('IO_ERROR', `embedded log ${file} is corrupt at byte ${pos}: ${(err as Error).message}`, { cause: err })
    }
    const value = header.n ? null : Buffer.from(buf.subarray(pos + 8 + hlen, pos + 4 + len))
    entries.push({ offset: firstOffset + entries.length, seq: header.s, timestamp: header.t, key: header.k, value, headers: header.h })
    positions.push(pos)
    pos += 4 + len
  }
  return { entries, positions, validBytes: pos }
}
