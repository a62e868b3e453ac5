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
