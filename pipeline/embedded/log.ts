import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
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
  entries: LogEntry[]
  /** Entries [flushed, entries.length) are not on disk yet. */
  flushed: number
  file: string | null
}

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
 * record back.
 *
 * Frame format: `u32 frameLength | u32 headerLength | header JSON | value bytes`.
 */
export class EmbeddedLog {
  private readonly topics = new Map<string, Partition[]>()
  private readonly listeners: Array<(topic: string, partition: number) => void> = []
  private nextSeq = 0

  private constructor(private readonly dir: string | null) {}

  /** An in-memory log (tests, the test driver). */
  static inMemory(): EmbeddedLog {
    return new EmbeddedLog(null)
  }

  /** Opens (or creates) a file-backed log under `dir`. */
  static open(dir: string): EmbeddedLog {
    mkdirSync(join(dir, 'topics'), { recursive: true })
    const log = new EmbeddedLog(dir)
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
    for (let p = 0; p < partitions; p++) parts.push({ entries: [], flushed: 0, file: this.dir ? this.partitionFile(topic, p) : null })
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
    const offset = part.entries.length
    part.entries.push({ offset, seq: this.nextSeq++, timestamp, key, value, headers: headers && Object.keys(headers).length ? headers : undefined })
    for (const l of this.listeners) l(topic, partition)
    return offset
  }

  /** The entry at `offset`, or undefined past the end. */
  read(topic: string, partition: number, offset: number): LogEntry | undefined {
    return this.partitionsOf(topic)[partition]?.entries[offset]
  }

  /** Offset one past the last record. */
  endOffset(topic: string, partition: number): number {
    return this.partitionsOf(topic)[partition]?.entries.length ?? 0
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
        if (part.flushed === part.entries.length || !part.file) continue
        const chunks: Buffer[] = []
        for (let i = part.flushed; i < part.entries.length; i++) chunks.push(encodeFrame(part.entries[i] as LogEntry))
        const fd = openSync(part.file, 'a')
        try {
          writeSync(fd, Buffer.concat(chunks))
          if (options.fsync) fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        part.flushed = part.entries.length
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
      if (existsSync(file)) {
        const buf = readFileSync(file)
        const decoded = decodeFrames(buf, file)
        entries = decoded.entries
        // A torn frame at the tail (crash mid-write) is cut off so later appends stay readable.
        if (decoded.validBytes < buf.length) truncateSync(file, decoded.validBytes)
      }
      for (const e of entries) if (e.seq >= this.nextSeq) this.nextSeq = e.seq + 1
      parts.push({ entries, flushed: entries.length, file })
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

function decodeFrames(buf: Buffer, file: string): { entries: LogEntry[]; validBytes: number } {
  const entries: LogEntry[] = []
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
    entries.push({ offset: entries.length, seq: header.s, timestamp: header.t, key: header.k, value, headers: header.h })
    pos += 4 + len
  }
  return { entries, validBytes: pos }
}
