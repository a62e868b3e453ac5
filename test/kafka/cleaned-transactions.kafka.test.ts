/**
 * A compacted topic written transactionally, after the broker's log cleaner removed an aborted
 * transaction: the cleaner keeps the emptied record batch (for the producer's state), and the
 * fetch at its offset answers that batch alone (segments roll at the abort marker, whose
 * wall-clock time is far from the record's). kafkajs decodes no record from it; before Hermes
 * stepped over such batches, every read that started below it (a broadcast read at start-up, a
 * state restore from a changelog) fetched the same offset forever: after a few SIGKILLs in the
 * chaos run, no instance got through its start-up any more.
 */
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { BroadcastReader } from '../../pipeline/kafka/broadcast.ts'
import { readTopicFromKafka } from '../../pipeline/kafka/topic-io.ts'
import { isGap, rawMessages } from '../../pipeline/kafka/transactions.ts'
import { FAST, kafkaClient, runId, silent, testConfig } from './helpers.ts'

/** The first record (or gap marker) at offset 0, read raw; null when a fetch there gives nothing. */
async function firstAtZero(topic: string): Promise<KafkaMessage | null> {
  const consumer = kafkaClient().consumer({ groupId: `peek-${runId()}`, ...FAST })
  let first: KafkaMessage | null = null
  let seen!: () => void
  const got = new Promise<void>((r) => (seen = r))
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        first ??= rawMessages(batch).find((m) => m.offset === '0') ?? null
        seen()
      },
    })
    // No batch at all within a few seconds: the fetch at offset 0 gives nothing (an emptied batch, unfixed).
    await Promise.race([got, new Promise((r) => setTimeout(r, 5000))])
  } finally {
    await consumer.disconnect()
  }
  return first
}

describe('a compacted transactional topic after the cleaner emptied an aborted batch', () => {
  it('is read to its end by a broadcast read and by a topic read', async () => {
    const topic = `cleaned-txn-${runId()}`
    const kafka = kafkaClient()
    const admin = new KafkaAdmin(kafka, silent, 1)
    await admin.connect()
    const raw = kafka.admin()
    await raw.connect()
    try {
      // Compacted, and cleaned as soon as the cleaner looks (it runs every 15 s at most).
      const configEntries = [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'min.cleanable.dirty.ratio', value: '0.001' },
        { name: 'min.compaction.lag.ms', value: '0' },
      ]
      await raw.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries }] })
      await admin.ensureTopics([{ topic, partitions: 1, cleanup: 'compact' }])
      const producer = (id: string) => kafka.producer({ transactionalId: `${topic}-${id}`, idempotent: true, maxInFlightRequests: 1 })
      // A killed instance's transaction, aborted when its successor fenced it. Its record carries an
      // old time (as Hermes' changelog records do), so the abort marker starts a new segment.
      const zombie = producer('zombie')
      await zombie.connect()
      const aborted = await zombie.transaction()
      await aborted.send({ topic, messages: [{ key: 'a', value: 'aborted', timestamp: '0' }] })
      await aborted.abort()
      await zombie.disconnect()
      const writer = producer('writer')
      await writer.connect()
      const txn = await writer.transaction()
      await txn.send({ topic, messages: [{ key: 'b', value: 'kept', timestamp: '0' }] })
      await txn.commit()
      await writer.disconnect()

      // Wait for the cleaner: the record at offset 0 goes away, its batch stays, empty.
      const deadline = Date.now() + 120_000
      for (;;) {
        const first = await firstAtZero(topic)
        if (first === null || isGap(first)) break
        if (Date.now() > deadline) throw new Error('the broker did not clean the aborted record within 120 s (log.cleaner.enable?)')
        await new Promise((r) => setTimeout(r, 2000))
      }

      const reader = new BroadcastReader(kafka, [topic], admin, silent, FAST, `cleaned-${runId()}`, () => {})
      try {
        let timer: NodeJS.Timeout | undefined
        const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the broadcast read never reached the end of the topic: stuck at the emptied batch')), 30_000)))
        await Promise.race([reader.start(), stuck]).finally(() => clearTimeout(timer))
        const log = reader.logs.get(`${topic}:0`)
        expect([...(log?.read(undefined) ?? [])].map((r) => [r.key, r.value?.toString()])).toEqual([['b', 'kept']])
      } finally {
        await reader.stop()
      }
      const records = await readTopicFromKafka({ config: testConfig(), logger: silent, topic, timeoutMs: 30_000 })
      expect(records.map((r) => r.value?.toString())).toEqual(['kept'])
    } finally {
      await raw.deleteTopics({ topics: [topic] }).catch(() => {})
      await raw.disconnect()
      await admin.disconnect()
    }
  })
})
