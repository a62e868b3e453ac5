/**
 * Record batches the log cleaner emptied (aborted transactions in compacted topics) or cut short:
 * a fetch answered with only such a batch must still move the position past it, or kafkajs
 * fetches the same offset forever (a restore or broadcast read that never ends).
 */
import { createRequire } from 'node:module'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { CommittedFilter, isGap } from '../../pipeline/kafka/transactions.ts'

const require = createRequire(import.meta.url)
type Enc = { buffer: Buffer; writeInt32(n: number): Enc; writeBuffer(b: Buffer): Enc }
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => Enc
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: number | string): unknown }
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (o: object) => Promise<Enc> }
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (o: object) => unknown
// What the fetch responses (v4 to v11) decode their records with; Hermes' decoder replaces it.
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (d: unknown) => Promise<Array<KafkaMessage & { isControlRecord?: boolean }>>

/** A fetch response's records section holding these batches. */
async function section(batches: Array<{ first: number; lastDelta: number; records: Array<{ delta: number; value: string }>; transactional?: boolean }>): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const b of batches) {
    const records = b.records.map((r) => Record({ offsetDelta: r.delta, key: Buffer.from('k'), value: Buffer.from(r.value) }))
    const enc = await RecordBatch({ firstOffset: Long.fromValue(b.first), lastOffsetDelta: b.lastDelta, records, transactional: b.transactional ?? false, producerId: Long.fromValue(7) })
    parts.push(enc.buffer)
  }
  const all = Buffer.concat(parts)
  return new Encoder().writeInt32(all.length).writeBuffer(all).buffer
}

describe('fetched batches the log cleaner left empty or cut short', () => {
  it('an emptied batch (an aborted transaction cleaned away) gives a gap marker at its last offset', async () => {
    const messages = await decodeMessages(new Decoder(await section([{ first: 40, lastDelta: 2, records: [], transactional: true }])))
    expect(messages.map((m) => [m.offset, isGap(m), m.isControlRecord])).toEqual([['42', true, true]])
  })

  it('a batch whose last records were compacted away ends with a gap marker; a whole batch has none', async () => {
    const messages = await decodeMessages(
      new Decoder(
        await section([
          { first: 10, lastDelta: 1, records: [{ delta: 0, value: 'a' }, { delta: 1, value: 'b' }] },
          { first: 12, lastDelta: 5, records: [{ delta: 1, value: 'c' }] },
        ]),
      ),
    )
    expect(messages.map((m) => [m.offset, isGap(m) ? 'gap' : m.value?.toString()])).toEqual([
      ['10', 'a'],
      ['11', 'b'],
      ['13', 'c'],
      ['17', 'gap'],
    ])
  })

  it('the committed filter steps over gap markers: they neither commit nor abort anything', () => {
    const filter = new CommittedFilter()
    const data = { key: Buffer.from('k'), value: Buffer.from('v'), offset: '1', batchContext: { producerId: '7', inTransaction: true } } as unknown as KafkaMessage
    const gap = { key: null, value: null, offset: '2', isControlRecord: true, __hermesGap: true, batchContext: { producerId: '7', inTransaction: true } } as unknown as KafkaMessage
    // Taken for a commit marker (a control record without an abort key), the gap would let an uncommitted record through.
    expect(filter.push([data, gap])).toEqual([])
    expect(filter.held()).toBe(1)
  })
})
