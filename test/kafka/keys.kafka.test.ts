/**
 * Keys and partitions on a real broker (issue 11, defects 1 and 2): producers that key records
 * by something else than the userId, or place them with another partitioner than Kafka's
 * default (librdkafka's crc32, round robin), must not change who gets a push.
 *
 * Records are produced with kafkajs to explicit partitions, as such producers would place
 * them; the profiles go where the Java client puts them (murmur2 of the userId).
 */
import { describe, expect, it } from 'vitest'
import type { Topology } from '../../pipeline/api/index.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { repartitionTopic } from '../../pipeline/runtime/plan.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import type { OutRecord } from './helpers.ts'
import { FAST, createTopics, flowTopics, kafkaClient, logContents, perKey, readTopics, runId, silent, testConfig } from './helpers.ts'

const PARTITIONS = 4
const MIN = 60_000
const T0 = Date.UTC(2026, 10, 2, 10, 0)

/** A record as a producer sends it: its own key and partition. */
interface Produced {
  topic: string
  key: string | null
  partition: number
  value: object
  timestamp: number
}

const home = (userId: string): number => partitionFor(userId, PARTITIONS)
const elsewhere = (userId: string, shift = 1): number => (home(userId) + shift) % PARTITIONS

describe('keys and partitions chosen by producers (real broker)', () => {
  it.each(['at_least_once', 'exactly_once', 'exactly_once_v2'])('decides for the userId under its cap and opt-out, whatever key and partition the producer chose, as embedded mode does (%s)', async (guarantee) => {
    const id = runId()
    const topics = flowTopics(id)
    const app = `push-decisions-${id}`
    const settings = {
      topics,
      applications: { decisions: app, stats: `material-stats-${id}` },
      fatigue: { userMax: 1, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 },
    }
    const topologies = (): Topology[] => [pushDecisions({ settings })]
    const config = testConfig({ runtime: { guarantee }, kafka: { maxAheadMs: 0 }, topics: { defaultPartitions: PARTITIONS } })

    const material = { materialId: 'm1', title: 'Title', body: 'Body {{event.itemId}}', deeplink: 'app://item/{{event.itemId}}', segments: [], prior: { alpha: 1, beta: 20 }, status: 'active' }
    const task = { taskId: 't1', status: 'active', priority: 10, channel: 'push', trigger: { type: 'event', events: ['price_drop'] }, materials: ['m1'], ts: T0 - 60 * MIN } // a plausible time: time.minTimestampMs refuses ts: 1
    const event = (userId: string, ts: number): object => ({ eventId: `${userId}-${ts}`, userId, type: 'price_drop', ts, itemId: 'i1' })
    const optedOut = Array.from({ length: 20 }, (_, i) => `opted-out-${i}`)
    const optedIn = Array.from({ length: 10 }, (_, i) => `opted-in-${i}`)
    const records: Produced[] = [
      { topic: topics.materials, key: 'm1', partition: 0, value: material, timestamp: 0 },
      { topic: topics.tasks, key: 't1', partition: 0, value: task, timestamp: 1 },
      // Profiles where the Java client puts them: murmur2 of the userId.
      ...[...optedOut, ...optedIn].map((u) => ({ topic: topics.users, key: u, partition: home(u), value: { userId: u, timezone: 'UTC', pushEnabled: !u.startsWith('opted-out') }, timestamp: 10 })),
      // The three events of bad-key, keyed by others, on partitions bad-key does not hash to.
      ...['someone-else', 'another-one', 'third-key'].map((key, i) => ({ topic: topics.events, key, partition: elsewhere('bad-key', 1 + (i % 3)), value: event('bad-key', T0 + i * MIN), timestamp: T0 + i * MIN })),
      // An empty key, on its own partition.
      { topic: topics.events, key: '', partition: partitionFor('', PARTITIONS), value: event('empty-key-user', T0 + 3 * MIN), timestamp: T0 + 3 * MIN },
      // Events on another partition than the user's profile, keyed by the userId.
      ...[...optedOut, ...optedIn].map((u, i) => ({ topic: topics.events, key: u, partition: elsewhere(u, 1 + (i % 3)), value: event(u, T0 + (4 + i) * MIN), timestamp: T0 + (4 + i) * MIN })),
    ]
    const misplaced = records.filter((r) => r.topic === topics.events && partitionFor((r.value as { userId: string }).userId, PARTITIONS) !== r.partition).length
    expect(misplaced).toBeGreaterThanOrEqual(33)

    // Embedded reference: the same records in the same partitions.
    const log = EmbeddedLog.inMemory()
    for (const t of [topics.materials, topics.tasks]) log.createTopic(t, 1)
    for (const t of [topics.users, topics.events, topics.audiences]) log.createTopic(t, PARTITIONS)
    for (const r of records) log.append(r.topic, r.partition, r.key, Buffer.from(JSON.stringify(r.value)), r.timestamp)
    const embedded = await EmbeddedRunner.open({ topologies: topologies(), config, log, state: { kind: 'memory', maps: new Map() }, logger: silent })
    await embedded.run()
    await embedded.close()
    const reference = logContents(log)

    await createTopics([
      { topic: topics.materials, partitions: 1 },
      { topic: topics.tasks, partitions: 1 },
      { topic: topics.events, partitions: PARTITIONS },
      // As the runner creates (and requires) them: profiles compacted, memberships kept forever.
      { topic: topics.users, partitions: PARTITIONS, cleanup: 'compact' },
      { topic: topics.audiences, partitions: PARTITIONS, cleanup: 'forever' },
    ])
    const producer = kafkaClient().producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (const r of records) await producer.send({ topic: r.topic, messages: [{ key: r.key, value: JSON.stringify(r.value), partition: r.partition, timestamp: String(r.timestamp) }] })
    await producer.disconnect()

    const runner = await KafkaRunner.open({ topologies: topologies(), config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    try {
      await runner.run({ stopWhenIdleMs: 500 })
    } finally {
      await runner.close()
    }
    const moved = repartitionTopic(app, 'behavior-events')
    const got = await readTopics([topics.decisions, topics.suppressions, `${app}.dlq`, moved])
    const values = (rs: readonly OutRecord[] | undefined): Array<{ userId: string; reason?: string }> => (rs ?? []).map((r) => JSON.parse(r.value) as { userId: string; reason?: string })

    const decided = values(got.get(topics.decisions))
    // bad-key: one push (cap 1), never one addressed to the keys it was produced with.
    expect(decided.filter((x) => x.userId === 'bad-key')).toHaveLength(1)
    expect(decided.map((x) => x.userId).filter((u) => ['someone-else', 'another-one', 'third-key', ''].includes(u))).toEqual([])
    expect(decided.some((x) => x.userId === 'empty-key-user')).toBe(true)
    // Opted-out users get nothing; opted-in ones their push: their events were processed, not lost.
    expect(decided.filter((x) => x.userId.startsWith('opted-out'))).toEqual([])
    expect(decided.filter((x) => x.userId.startsWith('opted-in')).map((x) => x.userId).sort()).toEqual([...optedIn].sort())
    const suppressed = values(got.get(topics.suppressions))
    expect(suppressed.filter((x) => x.userId.startsWith('opted-out')).map((x) => x.reason)).toEqual(optedOut.map(() => 'opted_out'))
    expect(suppressed.filter((x) => x.userId === 'bad-key').map((x) => x.reason)).toEqual(['fatigue.user', 'fatigue.user'])
    // Every decision is keyed by its userId.
    for (const r of got.get(topics.decisions) ?? []) expect(r.key).toBe((JSON.parse(r.value) as { userId: string }).userId)
    // The misplaced events went through the source's repartition topic, to their key's partition.
    const movedRecords = got.get(moved) ?? []
    expect(movedRecords).toHaveLength(misplaced)
    for (const r of movedRecords) expect(r.partition).toBe(partitionFor(r.key as string, PARTITIONS))
    expect(got.get(`${app}.dlq`) ?? []).toEqual([])
    // The same outputs as embedded mode, key by key.
    expect(perKey(got.get(topics.decisions) ?? [])).toEqual(perKey(reference.get(topics.decisions) ?? []))
    expect(perKey(got.get(topics.suppressions) ?? [])).toEqual(perKey(reference.get(topics.suppressions) ?? []))
  })
})
