import { createRequire } from 'node:module'
import type { Batch, KafkaMessage } from 'kafkajs'

/**
 * Reading transactional topics correctly with kafkajs 2.2.4.
 *
 * kafkajs drops records of aborted transactions using the fetch response's list of aborted
 * transactions, but activates at most one listed transaction per record it looks at. When a
 * fetch starts inside several interleaved transactions (after a crash, every task's open
 * transaction is aborted at once), records of the second one get through (a read_committed
 * consumer sees aborted records; exactly-once downstream counts them). So Hermes decides itself,
 * from the commit and abort markers: a record of a transaction is handed on once its producer's
 * next marker says commit, dropped when it says abort, and records keep their offset order.
 *
 * For that, batches holding only markers must reach `eachBatch` too, which kafkajs skips: the
 * patch below (of kafkajs' internal Batch class, applied once per process) makes a batch count as
 * empty only when it has no record at all at or after the fetch offset. `eachBatch` handlers must therefore read {@link rawMessages}, never
 * `batch.messages`.
 */

interface BatchInternals {
  rawMessages: KafkaMessage[]
  messagesWithinOffset: KafkaMessage[]
  messages: KafkaMessage[]
}

interface MessageInternals {
  isControlRecord?: boolean
  batchContext?: { producerId: string; inTransaction: boolean }
}

const require = createRequire(import.meta.url)
const BatchClass = require('kafkajs/src/consumer/batch.js') as { prototype: { isEmpty(): boolean; isEmptyDueToFiltering(): boolean; __hermesPatched?: boolean } }
if (!BatchClass.prototype.__hermesPatched) {
  BatchClass.prototype.__hermesPatched = true
  BatchClass.prototype.isEmpty = function (this: BatchInternals): boolean {
    return this.messagesWithinOffset.length === 0
  }
  // Still true for a batch of only records below the fetch offset (log compaction), which kafkajs
  // must step over.
  BatchClass.prototype.isEmptyDueToFiltering = function (this: BatchInternals): boolean {
    return this.messagesWithinOffset.length === 0 && this.rawMessages.length > 0
  }
}

/**
 * Record batches with nothing left to read in them: Kafka's log cleaner removes the records of
 * aborted transactions from compacted topics (changelogs, broadcast topics) but keeps the batch
 * itself, empty, for the producer's state; it also removes overwritten records, so a batch may
 * end past its last record. kafkajs only hands on the records it decodes, so a fetch whose answer
 * is such a batch (the broker answers from one segment at a time, and a partition's first
 * transaction marker starts a new segment when the records before it are dated more than
 * `segment.ms` earlier, as changelog records, dated 0, and replayed events are) gives no
 * record at all, and kafkajs fetches the same offset again forever: a restore or broadcast read
 * that never ends, spinning in kafkajs' fetch loop, after a few aborted transactions (SIGKILLs).
 * The Java client steps to the batch's end whatever it holds (`nextFetchOffset = batch.nextOffset()`,
 * as Kafka Streams' restore and global-store bootstrap rely on). The decoder below does the same:
 * it adds, after the records of such a batch, a marker at the batch's last offset, flagged
 * {@link GAP} and `isControlRecord`, which kafkajs' own `batch.messages` drop, and which moves
 * positions past the batch ({@link CommittedFilter} ignores it).
 */
export const GAP = '__hermesGap'

interface DecodedBatch {
  firstOffset: string
  lastOffsetDelta: number
  maxTimestamp: string
  producerId: string
  producerEpoch: number
  inTransaction: boolean
  isControlBatch: boolean
  records: Array<KafkaMessage & MessageInternals>
}

type KafkaDecoder = { readInt32(): number; canReadBytes(n: number): boolean; readBytes(n: number): Buffer }

/** kafkajs' fetch v4+ message decoding (src/protocol/requests/fetch/v4/decodeMessages.js), with the gap markers. */
function gapMarkingDecoder(): (decoder: KafkaDecoder) => Promise<unknown[]> {
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => KafkaDecoder & { buffer: Buffer }
  const MessageSetDecoder = require('kafkajs/src/protocol/messageSet/decoder.js') as (d: KafkaDecoder, size: number) => Promise<unknown[]>
  const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: KafkaDecoder) => Promise<DecodedBatch>
  const { MAGIC_BYTE } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { MAGIC_BYTE: number }
  // As kafkajs: the magic byte sits at the same place in every message format; a record batch's fixed part.
  const MAGIC_OFFSET = 16
  const RECORD_BATCH_OVERHEAD = 49
  return async (decoder) => {
    const size = decoder.readInt32()
    if (size <= 0 || !decoder.canReadBytes(size)) return []
    const buffer = decoder.readBytes(size)
    const batches = new Decoder(buffer)
    if (buffer.subarray(MAGIC_OFFSET).readInt8(0) !== MAGIC_BYTE) return MessageSetDecoder(batches, size)
    const records: unknown[] = []
    while (batches.canReadBytes(RECORD_BATCH_OVERHEAD)) {
      let batch: DecodedBatch
      try {
        batch = await RecordBatchDecoder(batches)
      } catch (err) {
        // The tail of a response may hold a partial batch (maxBytes), as kafkajs allows.
        if ((err as Error).name === 'KafkaJSPartialMessageError') break
        throw err
      }
      for (const r of batch.records) records.push(r)
      const last = BigInt(batch.firstOffset) + BigInt(batch.lastOffsetDelta)
      const tail = batch.records[batch.records.length - 1]
      if (tail === undefined || BigInt(tail.offset) < last) records.push(gapMarker(batch, last))
    }
    return records
  }
}

function gapMarker(batch: DecodedBatch, last: bigint): KafkaMessage & MessageInternals & { [GAP]: true } {
  return {
    key: null,
    value: null,
    offset: last.toString(),
    timestamp: batch.maxTimestamp,
    attributes: 0,
    headers: {},
    size: 0,
    isControlRecord: true,
    batchContext: { producerId: batch.producerId, inTransaction: batch.inTransaction },
    [GAP]: true,
  } as unknown as KafkaMessage & MessageInternals & { [GAP]: true }
}

// Installed before kafkajs loads its fetch responses (lazily, at the first fetch of each version):
// each takes the decoder from the module cache then.
const DECODE_MESSAGES = require.resolve('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js')
const decodeModule = (require.cache[DECODE_MESSAGES] ?? (require(DECODE_MESSAGES), require.cache[DECODE_MESSAGES])) as { exports: { __hermesGaps?: boolean } }
if (!decodeModule.exports.__hermesGaps) {
  const loaded = Object.keys(require.cache).filter((k) => /kafkajs[\\/]src[\\/]protocol[\\/]requests[\\/]fetch[\\/]v\d+[\\/]response\.js$/.test(k))
  if (loaded.length) throw new Error(`kafkajs fetch responses were loaded before Hermes could patch their decoder (${loaded.join(', ')}): import pipeline/kafka/transactions.ts first`)
  decodeModule.exports = Object.assign(gapMarkingDecoder(), { __hermesGaps: true })
}

/** Whether a fetched message is a {@link GAP} marker (no record: the end of a batch with nothing left there). */
export function isGap(m: KafkaMessage): boolean {
  return (m as KafkaMessage & { [GAP]?: boolean })[GAP] === true
}

/** Every record of a batch at or after the fetch offset: data of any transaction, and markers. */
export function rawMessages(batch: Batch): KafkaMessage[] {
  return (batch as unknown as BatchInternals).messagesWithinOffset
}

const PENDING = 0
const COMMITTED = 1
const ABORTED = 2

/**
 * The committed records of one partition, in offset order, from its raw records fed batch after
 * batch. Transactional records wait until their transaction's marker has been read.
 */
export class CommittedFilter {
  private queue: Array<{ m: KafkaMessage; producer: string; state: number }> = []
  private head = 0

  /** Feeds raw records (offset order, no repeats); returns those now known to be committed. */
  push(messages: readonly KafkaMessage[]): KafkaMessage[] {
    for (const m of messages) {
      const meta = m as KafkaMessage & MessageInternals
      const producer = meta.batchContext?.producerId ?? ''
      // The end of a batch the cleaner emptied: no record and no marker, only a position.
      if (isGap(m)) continue
      if (meta.isControlRecord) {
        // Marker key: int16 version, int16 type (0 = abort, 1 = commit).
        const aborted = m.key !== null && m.key.length >= 4 && m.key.readInt16BE(2) === 0
        for (let i = this.head; i < this.queue.length; i++) {
          const e = this.queue[i] as { producer: string; state: number }
          if (e.state === PENDING && e.producer === producer) e.state = aborted ? ABORTED : COMMITTED
        }
        continue
      }
      this.queue.push({ m, producer, state: meta.batchContext?.inTransaction ? PENDING : COMMITTED })
    }
    const out: KafkaMessage[] = []
    while (this.head < this.queue.length) {
      const e = this.queue[this.head] as { m: KafkaMessage; state: number }
      if (e.state === PENDING) break
      if (e.state === COMMITTED) out.push(e.m)
      this.head++
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    return out
  }

  /** Records read but waiting for their transaction's marker. */
  held(): number {
    return this.queue.length - this.head
  }
}
