import type { Batch, KafkaMessage } from 'kafkajs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { CommittedFilter, rawMessages } from '../../pipeline/kafka/transactions.ts'

// read_committed done by Hermes from the commit and abort markers, with fake kafkajs records.

let nextOffset = 0

/** A data record: non-transactional, or inside a transaction of `producer`. */
function data(name: string, producer?: string): KafkaMessage {
  const m = { offset: String(nextOffset++), key: Buffer.from('k'), value: Buffer.from(name), timestamp: '0', attributes: 0, headers: {} }
  return Object.assign(m, { batchContext: { producerId: producer ?? '-1', inTransaction: producer !== undefined } }) as unknown as KafkaMessage
}

/** A control record (transaction marker): key = int16 version, int16 type (0 abort, 1 commit). */
function marker(producer: string, kind: 'commit' | 'abort'): KafkaMessage {
  const key = Buffer.alloc(4)
  key.writeInt16BE(0, 0)
  key.writeInt16BE(kind === 'commit' ? 1 : 0, 2)
  const m = { offset: String(nextOffset++), key, value: Buffer.alloc(6), timestamp: '0', attributes: 0, headers: {} }
  return Object.assign(m, { isControlRecord: true, batchContext: { producerId: producer, inTransaction: true } }) as unknown as KafkaMessage
}

const names = (ms: KafkaMessage[]): string[] => ms.map((m) => String(m.value))

describe('CommittedFilter', () => {
  it('hands non-transactional records on at once, in order', () => {
    const f = new CommittedFilter()
    expect(names(f.push([data('a'), data('b')]))).toEqual(['a', 'b'])
    expect(f.held()).toBe(0)
  })

  it('holds a transaction until its commit marker, then hands it on', () => {
    const f = new CommittedFilter()
    expect(names(f.push([data('t1', 'P'), data('t2', 'P')]))).toEqual([])
    expect(f.held()).toBe(2)
    expect(names(f.push([marker('P', 'commit')]))).toEqual(['t1', 't2'])
    expect(f.held()).toBe(0)
  })

  it('drops a transaction whose marker says abort', () => {
    const f = new CommittedFilter()
    f.push([data('x1', 'P'), data('x2', 'P')])
    expect(names(f.push([marker('P', 'abort'), data('after')]))).toEqual(['after'])
    expect(f.held()).toBe(0)
  })

  it('keeps offset order: a non-transactional record behind an open transaction waits for it', () => {
    const f = new CommittedFilter()
    expect(names(f.push([data('t1', 'P'), data('plain')]))).toEqual([])
    expect(f.held()).toBe(2)
    expect(names(f.push([marker('P', 'commit')]))).toEqual(['t1', 'plain'])
  })

  it('sorts out interleaved transactions of several producers, also when reading starts inside them', () => {
    // After a crash every task's open transaction is aborted at once: A and B interleave, A aborts, B commits.
    const f = new CommittedFilter()
    const got: string[] = []
    got.push(...names(f.push([data('a0', 'A'), data('b1', 'B'), data('a2', 'A'), data('b3', 'B')])))
    expect(got).toEqual([])
    got.push(...names(f.push([marker('B', 'commit')])))
    // b1 is committed but a0 before it is still open: nothing yet.
    expect(got).toEqual([])
    got.push(...names(f.push([marker('A', 'abort'), data('c', 'C'), marker('C', 'commit')])))
    expect(got).toEqual(['b1', 'b3', 'c'])
    expect(f.held()).toBe(0)
  })

  it('a marker closes only the transaction before it: the same producer\'s next one waits for its own marker', () => {
    const f = new CommittedFilter()
    f.push([data('first', 'P'), marker('P', 'commit')])
    expect(names(f.push([data('second', 'P')]))).toEqual([])
    expect(names(f.push([marker('P', 'abort')]))).toEqual([])
    expect(f.held()).toBe(0)
  })

  it('a later marker of a producer does not change the outcome of its earlier transaction still queued behind another', () => {
    const f = new CommittedFilter()
    // B's open transaction keeps A's committed record queued; A's next transaction aborts.
    expect(names(f.push([data('b0', 'B'), data('a1', 'A'), marker('A', 'commit'), data('a2', 'A'), marker('A', 'abort')]))).toEqual([])
    expect(names(f.push([marker('B', 'commit')]))).toEqual(['b0', 'a1'])
  })

  it('a marker of another producer, or with nothing pending, changes nothing', () => {
    const f = new CommittedFilter()
    f.push([data('p', 'P')])
    expect(names(f.push([marker('Q', 'commit'), marker('Q', 'abort')]))).toEqual([])
    expect(f.held()).toBe(1)
    expect(names(f.push([marker('P', 'commit')]))).toEqual(['p'])
  })

  it('works across batches and over long runs without losing or repeating records', () => {
    const f = new CommittedFilter()
    const out: string[] = []
    const expected: string[] = []
    for (let i = 0; i < 3000; i++) {
      const producer = `P${i % 3}`
      out.push(...names(f.push([data(`r${i}`, producer)])))
      if (i % 3 === 2) {
        // Close all three open transactions: P0 and P2 commit, P1 aborts.
        out.push(...names(f.push([marker('P0', 'commit'), marker('P1', 'abort'), marker('P2', 'commit')])))
        expected.push(`r${i - 2}`, `r${i}`)
      }
    }
    expect(out).toEqual(expected)
    expect(f.held()).toBe(0)
  })
})

describe('the kafkajs Batch patch', () => {
  const require = createRequire(import.meta.url)
  const BatchClass = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, partitionData: object) => Batch & { isEmpty(): boolean; isEmptyDueToFiltering(): boolean }

  it('lets a batch holding only markers reach eachBatch (not empty), and rawMessages returns its records from the fetch offset', () => {
    const m1 = marker('P', 'commit')
    const batch = new BatchClass('t', m1.offset, { partition: 0, highWatermark: '10', abortedTransactions: [], messages: [m1] })
    expect(batch.isEmpty()).toBe(false)
    expect(rawMessages(batch)).toEqual([m1])
  })

  it('still treats a batch of only records below the fetch offset (compaction) as empty due to filtering', () => {
    const old = data('old')
    const batch = new BatchClass('t', String(Number(old.offset) + 5), { partition: 0, highWatermark: '10', abortedTransactions: [], messages: [old] })
    expect(batch.isEmpty()).toBe(true)
    expect(batch.isEmptyDueToFiltering()).toBe(true)
    expect(rawMessages(batch)).toEqual([])
  })
})
