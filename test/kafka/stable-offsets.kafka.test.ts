/**
 * Committed offsets read right after a task's previous owner is fenced. The previous owner's last
 * transaction committed input offsets with its changelog records; the group coordinator applies
 * such offsets after the transaction's marker, asynchronously. Before `KafkaAdmin.committed` set
 * KIP-447's `require_stable`, it could answer the offsets from before that transaction while the
 * changelogs (restored read_committed) already held its work: the chaos run's restored tasks
 * processed those records again (events counted twice in window state, extra pushes).
 */
import { describe, expect, it } from 'vitest'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { kafkaClient, runId, silent } from './helpers.ts'

/**
 * Transactions, each committing the group's offset one further. Without `require_stable`, about
 * one read in ten right after a commit returned the offset before it on the shared broker, so a
 * hundred rounds show it (the chance that none does is well under one in a thousand).
 */
const ROUNDS = 100

describe('committed offsets after a transactional offset commit', () => {
  it('include the last committed transaction, never the offsets from before it', async () => {
    const topic = `stable-offsets-${runId()}`
    const groupId = `stable-offsets-group-${runId()}`
    const kafka = kafkaClient()
    const admin = new KafkaAdmin(kafka, silent, 1)
    await admin.connect()
    const raw = kafka.admin()
    await raw.connect()
    const producer = kafka.producer({ transactionalId: `${topic}-task`, idempotent: true, maxInFlightRequests: 1 })
    try {
      await raw.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
      await admin.ensureTopics([{ topic, partitions: 1 }])
      await producer.connect()
      const seen: number[] = []
      for (let i = 1; i <= ROUNDS; i++) {
        const txn = await producer.transaction()
        await txn.send({ topic, messages: [{ key: 'k', value: String(i) }] })
        await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: String(i) }] }] })
        await txn.commit()
        // The commit has returned once the coordinator logged it; its markers, and the group
        // coordinator's applying of its offsets, follow. A task's next owner is fenced in after
        // the markers (its InitProducerId waits for them), and can still read before the offsets
        // are applied; reading at once here makes that window wide enough to test.
        seen.push((await admin.committed(groupId, [topic])).get(`${topic}:0`) ?? -1)
      }
      const stale = seen.flatMap((offset, i) => (offset === i + 1 ? [] : [`round ${i + 1}: ${offset}`]))
      expect(stale, 'committed offsets from before the last committed transaction').toEqual([])
    } finally {
      await producer.disconnect().catch(() => {})
      await raw.deleteTopics({ topics: [topic] }).catch(() => {})
      await raw.deleteGroups([groupId]).catch(() => {})
      await raw.disconnect()
      await admin.disconnect()
    }
  }, 120_000)
})
