/**
 * exactly_once_v2's fencing on a real broker, at the sink: one transactional producer per process
 * and topology, so a zombie is refused by the group coordinator (KIP-447 group metadata in the
 * offset commit, pipeline/kafka/kip447.ts) and a restarted process fences its own previous
 * incarnation through the transactional id it keeps in its state directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Consumer } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { generationOf } from '../../pipeline/kafka/kip447.ts'
import { processId } from '../../pipeline/kafka/process-id.ts'
import { KafkaSink } from '../../pipeline/kafka/sink.ts'
import { FAST, PRODUCER_THREAD, committedOffsets, createTopics, kafkaClient, readTopics, runId, silent, testConfig, until } from './helpers.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-eos2-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const kafka = kafkaClient('hermes-test-eos2')

function v2Sink(): KafkaSink {
  return new KafkaSink(kafka, { exactlyOnce: true, perApp: true, logger: silent, maxInFlight: 1, ...(PRODUCER_THREAD ? { producerThread: testConfig().kafka } : {}) })
}

/** A group member that fetches nothing; resolves with its member id once it joined. */
async function member(groupId: string, topic: string): Promise<{ consumer: Consumer; memberId: () => string }> {
  const consumer = kafka.consumer({ groupId, ...FAST })
  let memberId = ''
  consumer.on(consumer.events.GROUP_JOIN, (e) => void (memberId = e.payload.memberId))
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ autoCommit: false, eachBatch: async () => {} })
  await until(() => memberId !== '', `${groupId} joined`)
  return { consumer, memberId: () => memberId }
}

const output = (app: string, topic: string, value: string) => ({ owner: `${app}/0_0`, topic, partition: 0, key: 'k', value: Buffer.from(value), timestamp: 1 })

describe('exactly_once_v2 fencing (real broker)', () => {
  it('refuses the transactional commit of a member the group has moved on from, whose outputs never become readable; the current generation commits', async () => {
    const id = runId()
    const input = `eos2-in-${id}`
    const out = `eos2-out-${id}`
    const groupId = `eos2-${id}`
    await createTopics([
      { topic: input, partitions: 2 },
      { topic: out, partitions: 1 },
    ])
    const a = await member(groupId, input)
    const oldGeneration = generationOf(a.memberId()) as number
    expect(oldGeneration).toBeGreaterThan(0)
    const sink = v2Sink()
    const b = await member(groupId, input)
    try {
      // B's join moved the group to a new generation; A, still a member, has not seen it yet.
      await until(() => (generationOf(a.memberId()) ?? 0) > oldGeneration, 'A rejoined')
      await sink.openApp('zombie', `zombie-${id}`)
      sink.push(output('zombie', out, 'from the old generation'))
      const stale = sink.commitApp('zombie', [{ partition: 0, records: [] }], { groupId, offsets: [{ topic: input, partition: 0, offset: 5 }], group: { generationId: oldGeneration, memberId: a.memberId() } })
      await expect(stale).rejects.toMatchObject({ type: 'ILLEGAL_GENERATION' })
      expect((await committedOffsets(groupId, input)).get(0)).toBe(-1)

      sink.push(output('zombie', out, 'from the current generation'))
      await sink.commitApp('zombie', [{ partition: 0, records: [] }], { groupId, offsets: [{ topic: input, partition: 0, offset: 7 }], group: { generationId: generationOf(a.memberId()) as number, memberId: a.memberId() } })
      expect((await committedOffsets(groupId, input)).get(0)).toBe(7)
      const got = await readTopics([out])
      expect(got.get(out)?.map((r) => r.value)).toEqual(['from the current generation'])
    } finally {
      await sink.close()
      await a.consumer.disconnect()
      await b.consumer.disconnect()
    }
  }, 60_000)

  it('a process restarted on the same state directory fences its previous incarnation: the open transaction is aborted and its outputs never become readable', async () => {
    const id = runId()
    const out = `eos2-restart-${id}`
    await createTopics([{ topic: out, partitions: 1 }])
    const dir = join(root, id)
    const app = `restart-${id}`
    // The previous incarnation: its producer wrote an output in a transaction it never finished
    // (killed mid-commit), leaving the partition's read_committed end behind it.
    const before = kafka.producer({ transactionalId: `${app}-${processId({ kind: 'rocksdb', dir })}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000 })
    await before.connect()
    const txn = await before.transaction()
    await txn.send({ topic: out, messages: [{ key: 'k', value: 'left open', partition: 0 }] })
    // The same process again: the same process id, read from the state directory.
    const sink = v2Sink()
    try {
      await sink.openApp(app, `${app}-${processId({ kind: 'rocksdb', dir })}`)
      await expect(txn.commit()).rejects.toThrow(/fenced|epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/i)
      // Aborted at once (not after the 60 s transaction timeout): a read_committed read reaches
      // the end of the partition, and finds nothing.
      const got = await readTopics([out], { timeoutMs: 10_000 })
      expect(got.get(out)).toEqual([])
    } finally {
      await sink.close()
      await before.disconnect().catch(() => {})
    }
  }, 60_000)
})
