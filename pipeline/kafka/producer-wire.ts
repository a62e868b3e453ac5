import type { Message, TopicMessages } from 'kafkajs'
import type { Headers } from '../api/record.ts'
import { toKafkaHeaders } from './client.ts'
import { sendableTime } from './producer-port.ts'
import type { OutRecord } from './sink.ts'

/**
 * What crosses between the sink's thread and the producer thread (producer-thread.ts,
 * producer-worker.ts): records packed into a few typed arrays whose buffers are transferred, not
 * cloned, and errors as plain data that keeps what the runner classifies failures on.
 *
 * A send is one message whatever its size: posting each record's Buffer would clone, for a
 * Buffer from Node's pool, the whole 8 KiB slab it sits in, and cost a structured clone per
 * object. Packed, the records cost one copy of their bytes (which kafkajs' encoding would
 * have made anyway) and no object per record on the way.
 */

/** Records of one send, packed. `ints` holds four per record: topic index, partition, key length, value length (-1: null). */
export interface PackedRecords {
  count: number
  topics: string[]
  ints: Int32Array
  /** Each record's time, already one kafkajs can send ({@link sendableTime}). */
  timestamps: Float64Array
  /** Keys (UTF-8) and values, record after record. */
  bytes: Uint8Array
  /** The records with headers (rare), by index. */
  headers?: Array<[number, Headers]>
}

/** Packs records for {@link unpackRecords}; `transfer` lists the buffers to hand over with the message. */
export function packRecords(records: readonly OutRecord[]): { packed: PackedRecords; transfer: ArrayBuffer[] } {
  const n = records.length
  const ints = new Int32Array(n * 4)
  const timestamps = new Float64Array(n)
  const topicIndex = new Map<string, number>()
  const topics: string[] = []
  let size = 0
  for (let i = 0; i < n; i++) {
    const r = records[i] as OutRecord
    let t = topicIndex.get(r.topic)
    if (t === undefined) {
      topicIndex.set(r.topic, (t = topics.length))
      topics.push(r.topic)
    }
    const keyLength = r.key === null ? -1 : Buffer.byteLength(r.key, 'utf8')
    const valueLength = r.value === null ? -1 : r.value.length
    ints[i * 4] = t
    ints[i * 4 + 1] = r.partition
    ints[i * 4 + 2] = keyLength
    ints[i * 4 + 3] = valueLength
    timestamps[i] = sendableTime(r.timestamp)
    size += Math.max(keyLength, 0) + Math.max(valueLength, 0)
  }
  // Its own ArrayBuffer (never a slice of Node's pool), so that it can be transferred.
  const bytes = Buffer.allocUnsafeSlow(size)
  let off = 0
  let headers: Array<[number, Headers]> | undefined
  for (let i = 0; i < n; i++) {
    const r = records[i] as OutRecord
    if (r.key !== null) off += bytes.write(r.key, off, 'utf8')
    if (r.value !== null) {
      bytes.set(r.value, off)
      off += r.value.length
    }
    if (r.headers && Object.keys(r.headers).length > 0) (headers ??= []).push([i, r.headers])
  }
  const packed: PackedRecords = { count: n, topics, ints, timestamps, bytes }
  if (headers) packed.headers = headers
  return { packed, transfer: [ints.buffer as ArrayBuffer, timestamps.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer] }
}

/**
 * The packed records as kafkajs' send takes them, grouped by topic (first appearance first) as
 * the sink's own thread groups them (producer-port.ts, toTopicMessages). Keys and values are
 * views of the one received buffer.
 */
export function unpackRecords(p: PackedRecords): TopicMessages[] {
  const bytes = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength)
  const lists: Message[][] = p.topics.map(() => [])
  const headers = new Map(p.headers ?? [])
  let off = 0
  for (let i = 0; i < p.count; i++) {
    const keyLength = p.ints[i * 4 + 2] as number
    const valueLength = p.ints[i * 4 + 3] as number
    let key: Buffer | null = null
    if (keyLength >= 0) {
      key = bytes.subarray(off, off + keyLength)
      off += keyLength
    }
    let value: Buffer | null = null
    if (valueLength >= 0) {
      value = bytes.subarray(off, off + valueLength)
      off += valueLength
    }
    const m: Message = { key, value, partition: p.ints[i * 4 + 1] as number, timestamp: String(p.timestamps[i]) }
    const h = toKafkaHeaders(headers.get(i))
    if (h) m.headers = h
    ;(lists[p.ints[i * 4] as number] as Message[]).push(m)
  }
  return p.topics.map((topic, t) => ({ topic, messages: lists[t] as Message[] }))
}

/**
 * An error as plain data: its name, message and stack, every field of a primitive value (kafkajs'
 * `type`, `code`, `retriable`, `broker`, ...), and the errors it wraps (`cause`, kafkajs'
 * `originalError`, an aggregate's `errors`), as far as {@link MAX_DEPTH}.
 */
export interface WireError {
  name: string
  message: string
  stack?: string
  fields: { [k: string]: string | number | boolean | null }
  cause?: WireError
  originalError?: WireError
  errors?: WireError[]
}

const MAX_DEPTH = 8

/** `err` as {@link WireError}, for {@link fromWire} on the other thread. */
export function toWire(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error) && (typeof err !== 'object' || err === null)) return { name: 'Error', message: String(err), fields: {} }
  const e = err as Error & { [k: string]: unknown }
  const out: WireError = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(err), fields: {} }
  if (typeof e.stack === 'string') out.stack = e.stack
  for (const [k, v] of Object.entries(e)) {
    if (k === 'name' || k === 'message' || k === 'stack') continue
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.fields[k] = v
  }
  if (depth < MAX_DEPTH) {
    if (e.cause !== undefined && e.cause !== err) out.cause = toWire(e.cause, depth + 1)
    if (e.originalError !== undefined && e.originalError !== err) out.originalError = toWire(e.originalError, depth + 1)
    if (Array.isArray(e.errors)) out.errors = e.errors.map((x: unknown) => toWire(x, depth + 1))
  }
  return out
}

/**
 * The error {@link toWire} described: an Error with the same name, message, fields and wrapped
 * errors, which failures.ts, client.ts (`isRecoverable`, `isFenced`, `describeKafkaError`) and
 * the runner read as they read kafkajs' own. Its stack is the producer thread's, where it failed.
 */
export function fromWire(w: WireError): Error {
  const e = new Error(w.message) as Error & { [k: string]: unknown }
  Object.assign(e, w.fields)
  // Own, as kafkajs sets it, so that a log of the error shows it.
  Object.defineProperty(e, 'name', { value: w.name, writable: true, enumerable: false, configurable: true })
  if (w.stack !== undefined) e.stack = w.stack
  if (w.cause) e.cause = fromWire(w.cause)
  if (w.originalError) e.originalError = fromWire(w.originalError)
  if (w.errors) e.errors = w.errors.map(fromWire)
  return e
}
