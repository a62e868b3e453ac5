import type { Headers } from '../api/record.ts'

/**
 * Sizes of records as the broker counts them (record batch format v2, no compression), so that a
 * record the broker would refuse (`max.message.bytes`, MESSAGE_TOO_LARGE) is caught before it is
 * sent, and batches are split below the limit.
 */

/** Bytes of a record batch header (base offset, length, epoch, magic, crc, ..., record count). */
export const BATCH_OVERHEAD = 61

/** Bytes of a zigzag varint (what record fields' lengths are written as). */
function varintBytes(n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  let bytes = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    bytes++
  }
  return bytes
}

/** A record as it is sent: key, value and headers. */
export interface SizedRecord {
  key: string | null
  value: Buffer | null
  headers?: Headers
  /** Its {@link recordBytes}, when already known (the runner's collect measures every output). */
  size?: number
}

/**
 * Upper bound of the bytes one record adds to a batch: attributes, timestamp and offset deltas
 * (counted at their largest), key, value and headers with their varint lengths, and the record's
 * own length prefix.
 */
export function recordBytes(r: SizedRecord): number {
  let body = 1 + 10 + 5
  if (r.key === null) body += 1
  else {
    const k = Buffer.byteLength(r.key)
    body += varintBytes(k) + k
  }
  if (r.value === null) body += 1
  else body += varintBytes(r.value.length) + r.value.length
  const names = r.headers ? Object.keys(r.headers) : []
  body += varintBytes(names.length)
  for (const name of names) {
    const k = Buffer.byteLength(name)
    const v = Buffer.byteLength((r.headers as Headers)[name] as string)
    body += varintBytes(k) + k + varintBytes(v) + v
  }
  return varintBytes(body) + body
}

/** Bytes of a batch holding only this record: what `max.message.bytes` is compared with. */
export function singleRecordBatchBytes(r: SizedRecord): number {
  return BATCH_OVERHEAD + recordBytes(r)
}

/**
 * Splits records bound for several partitions into rounds, to be sent one after the other, such
 * that each partition's records in a round fit one batch of at most `limitOf(topic)` bytes (the
 * producer writes one batch per partition and request, which the broker refuses whole when it is
 * over the limit). A partition's records keep their order across rounds; a record over the
 * limit on its own gets a batch to itself (the broker then refuses it, and says why).
 */
export function splitBySize<T extends SizedRecord & { topic: string; partition: number }>(records: readonly T[], limitOf: (topic: string) => number): T[][] {
  // Most sends fit in one round: all of them within the smallest limit of their topics.
  let total = BATCH_OVERHEAD
  let smallest = Number.POSITIVE_INFINITY
  let last = ''
  for (const r of records) {
    total += r.size ?? recordBytes(r)
    if (r.topic !== last) smallest = Math.min(smallest, limitOf((last = r.topic)))
  }
  if (total <= smallest) return records.length ? [records.slice()] : []
  const rounds: T[][] = []
  const at = new Map<string, { round: number; bytes: number }>()
  for (const r of records) {
    const tp = `${r.topic}:${r.partition}`
    const size = r.size ?? recordBytes(r)
    let cur = at.get(tp)
    if (!cur) at.set(tp, (cur = { round: 0, bytes: BATCH_OVERHEAD }))
    else if (cur.bytes + size > limitOf(r.topic)) {
      cur.round++
      cur.bytes = BATCH_OVERHEAD
    }
    cur.bytes += size
    while (rounds.length <= cur.round) rounds.push([])
    ;(rounds[cur.round] as T[]).push(r)
  }
  return rounds
}

/** Header of a dead letter that had to be shrunk to fit its topic: what was left out, and why. */
export const DLQ_DROPPED_HEADER = 'hermes.dlq.dropped'

/** Reasons longer than this are cut when a dead letter must shrink. */
const MAX_REASON_CHARS = 1000

/**
 * A dead letter made to fit its topic's limit, shrinking step by step and saying in the
 * {@link DLQ_DROPPED_HEADER} header what was dropped: first the value, then the input's own
 * headers (the `hermes.dlq.*` ones stay), then the key, then the reason is cut. Null when even
 * that does not fit (a limit of a few hundred bytes). The dead-letter topic must never refuse a
 * record: that would stall the partition it came from.
 */
export function fitDeadLetter(r: SizedRecord, size: number, limit: number, topic: string): SizedRecord | null {
  const dropped: string[] = []
  const note = (): string => `${dropped.join(', ')}: the dead letter was ${size} bytes, over the ${limit} bytes ${topic} accepts`
  let out: SizedRecord = { key: r.key, value: null, headers: { ...(r.headers ?? {}) } }
  if (r.value !== null) dropped.push(`value (${r.value.length} bytes)`)
  const fits = (): boolean => singleRecordBatchBytes({ ...out, headers: { ...out.headers, [DLQ_DROPPED_HEADER]: note() } }) <= limit
  if (!fits()) {
    const own = Object.keys(out.headers ?? {}).filter((h) => !h.startsWith('hermes.dlq.'))
    if (own.length) {
      const kept: { [k: string]: string } = {}
      for (const [k, v] of Object.entries(out.headers ?? {})) if (k.startsWith('hermes.dlq.')) kept[k] = v
      out = { ...out, headers: kept }
      dropped.push(`input headers (${own.join(', ')})`)
    }
  }
  if (!fits() && out.key !== null) {
    dropped.push(`key (${Buffer.byteLength(out.key)} bytes)`)
    out = { ...out, key: null }
  }
  if (!fits()) {
    const headers = { ...out.headers }
    for (const [k, v] of Object.entries(headers)) if (v.length > MAX_REASON_CHARS) headers[k] = `${v.slice(0, MAX_REASON_CHARS)}…`
    out = { ...out, headers }
    dropped.push(`text of long headers after ${MAX_REASON_CHARS} characters`)
  }
  if (!fits()) return null
  return { ...out, headers: { ...out.headers, [DLQ_DROPPED_HEADER]: note() } }
}
