/**
 * Record sizes as the broker counts them (no broker: kafkajs' own encoder is the reference),
 * batches split under a topic's limit, and dead letters shrunk to fit.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { BATCH_OVERHEAD, DLQ_DROPPED_HEADER, fitDeadLetter, recordBytes, singleRecordBatchBytes, splitBySize } from '../../pipeline/kafka/record-size.ts'

const require = createRequire(import.meta.url)
type Encoded = { buffer: Buffer }
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: { records: Encoded[]; firstTimestamp: number; maxTimestamp: number }) => Promise<Encoded> }
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: { offsetDelta: number; timestampDelta: number; key: Buffer | null; value: Buffer | null; headers?: { [k: string]: string } }) => Encoded

/** Bytes of the batch kafkajs writes for these records (timestamps `ts`, first one the base). */
async function encodedBatch(records: Array<{ key: string | null; value: Buffer | null; headers?: { [k: string]: string }; ts: number }>): Promise<number> {
  const first = records[0]?.ts ?? 0
  const encoded = records.map((r, i) => Record({ offsetDelta: i, timestampDelta: r.ts - first, key: r.key === null ? null : Buffer.from(r.key), value: r.value, ...(r.headers ? { headers: r.headers } : {}) }))
  return (await RecordBatch({ records: encoded, firstTimestamp: first, maxTimestamp: first })).buffer.length
}

describe('record sizes', () => {
  it.each([
    ['small', { key: 'u1', value: Buffer.from('{"a":1}'), ts: 1_700_000_000_000 }],
    ['no key, no value', { key: null, value: null, ts: 0 }],
    ['utf-8 key and headers', { key: 'ü'.repeat(300), value: Buffer.alloc(5000, 1), headers: { 'hermes.dlq.reason': 'zu groß: ä'.repeat(50), x: '' }, ts: 5 }],
    ['1.8 MB value', { key: 'u2', value: Buffer.alloc(1_800_000, 7), ts: 1 }],
  ])('counts a record (%s) as at least what kafkajs writes, and at most 15 bytes more', async (_name, r) => {
    const actual = await encodedBatch([r])
    const estimate = singleRecordBatchBytes(r)
    expect(estimate).toBeGreaterThanOrEqual(actual)
    expect(estimate - actual).toBeLessThanOrEqual(15)
  })

  it('bounds a batch of many records from above (timestamps far apart)', async () => {
    const records = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(i * 10, 1), ts: i * 86_400_000 * 365 }))
    const actual = await encodedBatch(records)
    const estimate = BATCH_OVERHEAD + records.reduce((n, r) => n + recordBytes(r), 0)
    expect(estimate).toBeGreaterThanOrEqual(actual)
  })
})

describe('splitBySize', () => {
  const rec = (topic: string, partition: number, i: number, bytes: number) => ({ topic, partition, key: `k${i}`, value: Buffer.alloc(bytes), i })

  it('keeps every partition batch of a round under its topic limit, and each partition in order', () => {
    const records = [...Array.from({ length: 50 }, (_, i) => rec('a', i % 3, i, 900)), ...Array.from({ length: 20 }, (_, i) => rec('b', 0, 100 + i, 100))]
    const limits: { [t: string]: number } = { a: 10_000, b: 1000 }
    const rounds = splitBySize(records, (t) => limits[t] as number)
    expect(rounds.length).toBeGreaterThan(1)
    for (const round of rounds) {
      const per = new Map<string, number>()
      for (const r of round) per.set(`${r.topic}:${r.partition}`, (per.get(`${r.topic}:${r.partition}`) ?? BATCH_OVERHEAD) + recordBytes(r))
      for (const [tp, bytes] of per) expect(bytes, tp).toBeLessThanOrEqual(limits[tp.split(':')[0] as string] as number)
    }
    const flat = rounds.flat()
    expect(flat).toHaveLength(records.length)
    for (const tp of ['a:0', 'a:1', 'a:2', 'b:0']) {
      const order = flat.filter((r) => `${r.topic}:${r.partition}` === tp).map((r) => r.i)
      expect(order).toEqual([...order].sort((x, y) => x - y))
    }
  })

  it('sends everything in one round when it fits', () => {
    expect(splitBySize([rec('a', 0, 1, 10), rec('a', 1, 2, 10)], () => 1_000_000)).toHaveLength(1)
    // Over the limit in all, but each partition under it: still one round.
    expect(splitBySize([rec('a', 0, 1, 600), rec('a', 1, 2, 600)], () => 1000)).toHaveLength(1)
    // The smallest limit of the topics decides the shortcut: b's batch alone is over its own.
    expect(splitBySize([rec('a', 0, 1, 10), rec('b', 0, 2, 600), rec('b', 0, 3, 600)], (t) => (t === 'a' ? 1_000_000 : 1000))).toHaveLength(2)
  })

  it('takes the size a record carries, as measured when it carries one (the runner measures every output)', () => {
    const measured = [rec('a', 0, 1, 10), rec('a', 0, 2, 10)].map((r) => ({ ...r, size: 600 }))
    expect(splitBySize(measured, () => 1000)).toHaveLength(2)
  })
})

describe('fitDeadLetter', () => {
  const dlqHeaders = { 'hermes.dlq.reason': 'output record to out is 1800123 bytes, over the 1048588 bytes', 'hermes.dlq.offset': '7', 'trace-id': 'x'.repeat(2000) }

  it('drops the value first and says so in a header', () => {
    const r = { key: 'u1', value: Buffer.alloc(2_000_000), headers: dlqHeaders }
    const fitted = fitDeadLetter(r, singleRecordBatchBytes(r), 10_000, 'app.dlq')
    expect(fitted).not.toBeNull()
    expect(fitted?.value).toBeNull()
    expect(fitted?.key).toBe('u1')
    expect(fitted?.headers?.['trace-id']).toBe(dlqHeaders['trace-id'])
    expect(fitted?.headers?.[DLQ_DROPPED_HEADER]).toMatch(/value \(2000000 bytes\).*over the 10000 bytes app\.dlq accepts/)
    expect(singleRecordBatchBytes(fitted as NonNullable<typeof fitted>)).toBeLessThanOrEqual(10_000)
  })

  it('then the input headers and the key, keeping the hermes.dlq headers', () => {
    const r = { key: 'k'.repeat(3000), value: Buffer.alloc(100), headers: dlqHeaders }
    const fitted = fitDeadLetter(r, singleRecordBatchBytes(r), 1000, 'app.dlq')
    expect(fitted?.key).toBeNull()
    expect(fitted?.headers?.['trace-id']).toBeUndefined()
    expect(fitted?.headers?.['hermes.dlq.reason']).toBe(dlqHeaders['hermes.dlq.reason'])
    expect(fitted?.headers?.[DLQ_DROPPED_HEADER]).toMatch(/input headers \(trace-id\).*key \(3000 bytes\)/)
    expect(singleRecordBatchBytes(fitted as NonNullable<typeof fitted>)).toBeLessThanOrEqual(1000)
  })

  it('gives up (null) when nothing fits', () => {
    const r = { key: 'u1', value: Buffer.alloc(100), headers: dlqHeaders }
    expect(fitDeadLetter(r, singleRecordBatchBytes(r), 100, 'app.dlq')).toBeNull()
  })
})
