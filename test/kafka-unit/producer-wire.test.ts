/**
 * What crosses to and from the producer thread (pipeline/kafka/producer-wire.ts): packed records
 * become the same kafkajs messages the sink's own thread builds, their bytes travel in buffers
 * that are transferred, and errors come back as the runner reads kafkajs' own. No broker.
 */
import { createRequire } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs'
import type { TopicMessages } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { describeKafkaError, isFenced, isRecoverable } from '../../pipeline/kafka/client.ts'
import { isKafkaUnreachable, nonRetriableType } from '../../pipeline/kafka/failures.ts'
import { toTopicMessages } from '../../pipeline/kafka/producer-port.ts'
import type { PackedRecords } from '../../pipeline/kafka/producer-wire.ts'
import { fromWire, packRecords, toWire, unpackRecords } from '../../pipeline/kafka/producer-wire.ts'
import type { OutRecord } from '../../pipeline/kafka/sink.ts'

const require = createRequire(import.meta.url)
const { createErrorFromCode, errorCodes } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error; errorCodes: Array<{ type: string; code: number }> }
const protocolError = (type: string): Error => createErrorFromCode((errorCodes.find((e) => e.type === type) as { code: number }).code)

const rec = (r: Partial<OutRecord> & Pick<OutRecord, 'topic' | 'partition'>): OutRecord => ({ owner: 'app/0_0', key: 'k', value: Buffer.from('v'), timestamp: 1_700_000_000_000, ...r })

/** Keys as bytes: the thread sends keys as Buffers, kafkajs encodes a string key as its UTF-8 bytes. */
function normalized(topics: TopicMessages[]): unknown {
  return topics.map((t) => ({ topic: t.topic, messages: t.messages.map((m) => ({ ...m, key: m.key === null || m.key === undefined ? null : Buffer.from(m.key).toString('hex'), value: m.value === null ? null : Buffer.from(m.value as Buffer).toString('hex') })) }))
}

/** Posts the packed records through a real message port, transferring the buffers, and resolves with what arrives. */
async function across(records: readonly OutRecord[]): Promise<{ received: PackedRecords; sent: PackedRecords }> {
  const { port1, port2 } = new MessageChannel()
  try {
    const { packed, transfer } = packRecords(records)
    const arrived = new Promise<PackedRecords>((resolve) => port2.once('message', resolve))
    port1.postMessage(packed, transfer)
    return { received: await arrived, sent: packed }
  } finally {
    port1.close()
    port2.close()
  }
}

describe('packed records', () => {
  const records: OutRecord[] = [
    rec({ topic: 'out', partition: 3, key: 'user-1', value: Buffer.from('{"a":1}') }),
    rec({ topic: 'repartition', partition: 0, key: null, value: Buffer.from([0, 255, 7]) }),
    rec({ topic: 'out', partition: 1, key: 'ключ-日本', value: null }),
    rec({ topic: 'changelog', partition: 2, key: '', value: Buffer.alloc(0), timestamp: 0 }),
    rec({ topic: 'out', partition: 0, key: 'h', value: Buffer.from('x'), headers: { trace: 'abc', 'x-dlq-reason': 'too large' } }),
    // Times kafkajs' BigInt cannot read become the current time on both paths; a fraction is floored.
    rec({ topic: 'repartition', partition: 1, key: 'f', timestamp: 120_000.5 }),
  ]

  it('become the kafkajs messages the sink thread builds, grouped by topic in first-appearance order', async () => {
    const { received } = await across(records)
    expect(normalized(unpackRecords(received))).toEqual(normalized(toTopicMessages(records)))
    expect(unpackRecords(received).map((t) => t.topic)).toEqual(['out', 'repartition', 'changelog'])
  })

  it('carry headers only on the records that have them', async () => {
    const { received } = await across(records)
    const out = unpackRecords(received).find((t) => t.topic === 'out')
    expect(out?.messages.map((m) => m.headers ?? null)).toEqual([null, null, { trace: 'abc', 'x-dlq-reason': 'too large' }])
  })

  it('hand their buffers over: the sender keeps nothing, and pooled values cost their own bytes only', async () => {
    // Small Buffers share Node's 8 KiB pool: cloned one by one, each would copy the whole pool.
    const pooled = Array.from({ length: 100 }, (_, i) => rec({ topic: 'out', partition: i % 4, key: `u${i}`, value: Buffer.from(`value-${i}`) }))
    expect((pooled[0] as OutRecord).value?.buffer.byteLength).toBeGreaterThan(1000)
    const { received, sent } = await across(pooled)
    const bytes = pooled.reduce((n, r) => n + Buffer.byteLength(r.key ?? '') + (r.value?.length ?? 0), 0)
    expect(received.bytes.byteLength).toBe(bytes)
    expect(received.bytes.buffer.byteLength).toBe(bytes)
    expect(sent.bytes.byteLength).toBe(0)
    expect(sent.ints.length).toBe(0)
    const values = unpackRecords(received).flatMap((t) => t.messages.map((m) => String(m.value)))
    expect(values.sort()).toEqual(pooled.map((r) => String(r.value)).sort())
  })

  it('pack an empty send', async () => {
    const { received } = await across([])
    expect(unpackRecords(received)).toEqual([])
  })
})

describe('errors from the producer thread', () => {
  // What postMessage does to it: a structured clone of plain data.
  const roundTrip = (err: unknown): Error => fromWire(structuredClone(toWire(err)))

  it('keep the name, message, type, code and retriable of a kafkajs protocol error', () => {
    const original = protocolError('MESSAGE_TOO_LARGE') as Error & { type: string; code: number; retriable: boolean }
    const back = roundTrip(original) as Error & { type: string; code: number; retriable: boolean }
    expect(back).toBeInstanceOf(Error)
    expect([back.name, back.message, back.type, back.code, back.retriable]).toEqual([original.name, original.message, 'MESSAGE_TOO_LARGE', original.code, false])
    expect(describeKafkaError(back)).toBe(describeKafkaError(original))
    expect(nonRetriableType(back)).toBe('MESSAGE_TOO_LARGE')
    expect(isRecoverable(back)).toBe(true)
  })

  it('keep what the runner classifies on, through the cause chain, as for the error itself', () => {
    const fenced = new KafkaJSNumberOfRetriesExceeded(protocolError('INVALID_PRODUCER_EPOCH'), { retryCount: 5, retryTime: 100 })
    // kafkajs' types omit the options its constructor takes.
    const refused = new (KafkaJSNonRetriableError as unknown as new (m: string, o: { cause: unknown }) => Error)('Connection failed', { cause: new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092', code: 'ECONNREFUSED' }) })
    const wrappedRefused = Object.assign(new KafkaJSNonRetriableError('Connection failed'), { originalError: new KafkaJSConnectionError('socket hang up', { broker: 'b:1', code: 'ECONNRESET' }) })
    const tooLarge = new HermesError('PRODUCE_ERROR', 'sending 3 records to out[0] failed', { cause: new KafkaJSNumberOfRetriesExceeded(protocolError('RECORD_LIST_TOO_LARGE'), { retryCount: 0, retryTime: 0 }) })
    const generation = protocolError('ILLEGAL_GENERATION')
    for (const err of [fenced, refused, wrappedRefused, tooLarge.cause, generation, new Error('plain')]) {
      const back = roundTrip(err)
      expect({ fenced: isFenced(back), unreachable: isKafkaUnreachable(back), refused: nonRetriableType(back), recoverable: isRecoverable(back), text: describeKafkaError(back) }).toEqual({
        fenced: isFenced(err),
        unreachable: isKafkaUnreachable(err),
        refused: nonRetriableType(err),
        recoverable: isRecoverable(err),
        text: describeKafkaError(err),
      })
    }
    expect(isFenced(roundTrip(fenced))).toBe(true)
    expect(isKafkaUnreachable(roundTrip(wrappedRefused))).toBe(true)
    expect(isKafkaUnreachable(roundTrip(refused))).toBe(true)
    expect(isRecoverable(roundTrip(tooLarge.cause))).toBe(true)
    expect(nonRetriableType(roundTrip(tooLarge.cause))).toBe('RECORD_LIST_TOO_LARGE')
    expect((roundTrip(generation) as Error & { type: string }).type).toBe('ILLEGAL_GENERATION')
  })

  it('keep an aggregate error\'s errors, and stop at a cause that refers back to itself', () => {
    const loop = new Error('outer') as Error & { cause: unknown }
    const inner = new Error('inner', { cause: loop })
    loop.cause = inner
    const back = roundTrip(loop) as Error & { cause: Error & { cause?: unknown } }
    expect(back.cause.message).toBe('inner')
    const aggregate = Object.assign(new Error('2 errors'), { name: 'KafkaJSAggregateError', errors: [protocolError('NOT_LEADER_FOR_PARTITION'), new Error('x')] })
    const agg = roundTrip(aggregate) as Error & { errors: Array<Error & { type?: string }> }
    expect(agg.name).toBe('KafkaJSAggregateError')
    expect(agg.errors.map((e) => e.type ?? e.message)).toEqual(['NOT_LEADER_FOR_PARTITION', 'x'])
  })

  it('turn a thrown non-error into a message', () => {
    expect(roundTrip('boom').message).toBe('boom')
    expect(roundTrip(undefined).message).toBe('undefined')
  })
})
