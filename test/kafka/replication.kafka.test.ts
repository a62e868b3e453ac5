/**
 * Replication on a three-broker cluster of its own (ports 9292-9294, controllers 19292-19294, a
 * temporary data dir), so killing a broker disturbs no other test: with `kafka.replicationFactor: 3`
 * an exactly-once run keeps committing while one broker is down (SIGKILL) and, once it is back,
 * its read_committed output equals embedded mode's.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Admin, Message, Producer } from 'kafkajs'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { sleep } from './children.ts'
import { FAST, kafkaClient, keyAndTime, readTopics, runEmbeddedReference, runId, silent, sortedPerKey, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const exec = promisify(execFile)
const PORT = 9292
const brokers = [0, 1, 2].map((i) => `127.0.0.1:${PORT + i}`)
const dataDir = mkdtempSync(join(tmpdir(), 'hermes-kafka-replication-'))
const script = async (name: string, ...args: string[]): Promise<string> => (await exec(join('scripts', 'kafka', name), ['--data-dir', dataDir, ...args], { timeout: 120_000 })).stdout
const RF = 3
const PARTITIONS = 4

beforeAll(async () => {
  await script('start.sh', '--brokers', '3', '--port', String(PORT))
}, 150_000)

afterAll(async () => {
  // The data is thrown away, so no controlled shutdown is needed.
  await script('stop.sh', '--kill', '--clean').catch((err: unknown) => console.error(`stopping the test cluster failed: ${String(err)}`))
  rmSync(dataDir, { recursive: true, force: true })
}, 60_000)

/**
 * Polls `check` every 250 ms until it returns true; false after `ms`. Its errors count as "not
 * yet" (brokers come and go); a `failed()` error ends the wait at once.
 */
async function until(ms: number, check: () => Promise<boolean>, failed: () => unknown = () => undefined): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    const failure = failed()
    if (failure) throw failure
    if (await check().catch(() => false)) return true
    if (Date.now() > deadline) return false
    await sleep(250)
  }
}

/** Creates a topic with `RF` replicas without kafkajs's `waitForLeaders` (kafkajs#1563), then waits for its leaders. */
async function createTopic(admin: Admin, topic: string, partitions: number): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: partitions, replicationFactor: RF }] })
  const ready = await until(30_000, async () => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    return md.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0))
  })
  expect(ready, `leaders of ${topic}`).toBe(true)
}

/**
 * Produces lines to an existing topic as helpers' `produceLines` does (partitioned and timestamped
 * as embedded mode loads them), with retries that outlast a leader election. One partition per
 * send: kafkajs 2.2.4 can write a send that spans several brokers twice when it retries (see
 * `sendPerPartition` in pipeline/kafka/sink.ts).
 */
async function produce(topic: string, lines: readonly string[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'hermes-test-replication', brokers, logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 } })
  const byPartition = new Map<number, Message[]>()
  for (const line of lines) {
    const { key, ts } = keyAndTime(line, 'userId')
    const partition = key === null ? 0 : partitionFor(key, PARTITIONS)
    let list = byPartition.get(partition)
    if (!list) byPartition.set(partition, (list = []))
    list.push({ key, value: line, timestamp: String(ts), partition })
  }
  const producer = await connectIdempotent(kafka)
  try {
    for (const messages of byPartition.values()) for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, messages: messages.slice(i, i + 500) })
  } finally {
    await producer.disconnect()
  }
}

/**
 * An idempotent producer, connected. kafkajs 2.2.4 asks the broker that metadata names as the
 * controller for a producer id and gives up at once when it cannot reach it (`initProducerId`
 * bails on a connection error); right after a broker is killed or restarted, KRaft metadata can
 * still name that one. Nothing has been sent yet, so connecting again is safe.
 */
async function connectIdempotent(kafka: Kafka): Promise<Producer> {
  for (let attempt = 1; ; attempt++) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    try {
      await producer.connect()
      return producer
    } catch (err) {
      await producer.disconnect().catch(() => {})
      if ((err as { name?: string }).name !== 'KafkaJSConnectionError' || attempt >= 30) throw new Error(`the test's producer could not connect: ${String(err)}`, { cause: err })
      await sleep(500)
    }
  }
}

/** Whether the group has committed every partition of the topic up to its end. */
async function caughtUp(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const ends = await admin.fetchTopicOffsets(topic)
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
  const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  return ends.every((e) => Number(e.high) === 0 || at.get(e.partition) === Number(e.high))
}

describe('replication (three real brokers, one killed)', () => {
  it('exactly-once with replication factor 3 keeps committing while a broker is down (SIGKILL) and, after it is back, outputs exactly what embedded mode does', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `replication-${id}`
    const lines = testEvents({ events: 8000, users: 40, late: 8, malformed: 4, spacingMs: 1000 })
    // The input arrives in three parts; a watermark bound wider than a part keeps lateness
    // independent of which partition is fetched first.
    const config = testConfig({
      kafka: { brokers, replicationFactor: RF },
      runtime: { guarantee: 'exactly_once', commitIntervalMs: 100 },
      time: { maxOutOfOrdernessMs: 1_800_000 },
    })
    const topology = () => testTopology(app, t, { running: false })
    const expected = await runEmbeddedReference([topology()], config, { topic: t.input, lines, keyField: 'userId', partitions: PARTITIONS })
    const outputs = [t.hourly, t.late, t.types, `${app}.dlq`]
    const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
    expect(windows).toBeGreaterThan(50)
    expect(expected.get(t.late)?.length ?? 0).toBeGreaterThan(0)
    expect(expected.get(`${app}.dlq`)?.length ?? 0).toBeGreaterThan(0)

    const admin = kafkaClient('hermes-test-replication', brokers).admin()
    await admin.connect()
    try {
      await createTopic(admin, t.input, PARTITIONS)
      const parts = [lines.slice(0, 3000), lines.slice(3000, 6000), lines.slice(6000)]
      await produce(t.input, parts[0] ?? [])

      let processed = 0
      const controller = new AbortController()
      const running = runKafka({
        topologies: [topology()],
        config,
        logger: silent,
        signal: controller.signal,
        state: { kind: 'memory', maps: new Map() },
        timings: FAST,
        maxAheadMs: 1_800_000,
        onProgress: (s) => (processed = s.records),
      })
      // A failed run ends the waits below at once.
      let failure: unknown
      running.catch((err: unknown) => (failure = new Error(`the Hermes run failed: ${String(err)}`, { cause: err })))
      const failed = (): unknown => failure
      const t0 = Date.now()
      try {
        // Mid-run: the first part is being processed, with transactions open.
        expect(await until(60_000, async () => processed >= 1000, failed), 'records processed before the kill').toBe(true)

        // The victim: the broker leading the most partitions of the input and the changelogs.
        const mine = (await admin.listTopics()).filter((n) => n.includes(id))
        const changelogs = mine.filter((n) => n.endsWith('.changelog'))
        expect(changelogs.length).toBeGreaterThan(0)
        const leaders = new Map<number, number>()
        for (const topic of (await admin.fetchTopicMetadata({ topics: [t.input, ...changelogs] })).topics) {
          for (const p of topic.partitions) leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1)
        }
        const [victim, led] = [...leaders].sort((a, b) => b[1] - a[1])[0] ?? [2, 0]
        expect(led).toBeGreaterThan(0)
        const atKill = processed
        await script('stop.sh', '--node', String(victim), '--kill')
        const killedAt = Date.now()
        // Once the cluster has fenced it, its partitions have new leaders among the other two.
        const moved = await until(60_000, async () => {
          const md = await admin.fetchTopicMetadata({ topics: [t.input, ...changelogs] })
          return md.topics.every((topic) => topic.partitions.every((p) => p.leader >= 0 && p.leader !== victim))
        }, failed)
        expect(moved, `leaders moved away from broker ${victim}`).toBe(true)

        // With one broker of three gone, the second part is produced, processed and its input
        // offsets committed (in the transactions that also hold the outputs).
        await produce(t.input, parts[1] ?? [])
        const committedWhileDown = await until(60_000, () => caughtUp(admin, app, t.input), failed)
        expect(committedWhileDown, `all input up to part 2 committed while broker ${victim} was down`).toBe(true)
        const down = Date.now() - killedAt

        await script('start.sh', '--brokers', '3', '--port', String(PORT), '--keep-data')
        await produce(t.input, parts[2] ?? [])
        const complete = await until(
          60_000,
          async () => {
            if (!(await caughtUp(admin, app, t.input))) return false
            const got = await readTopics([t.hourly, t.types], { brokers })
            return (got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0) >= windows
          },
          failed,
        )
        console.log(`replication: killed broker ${victim} (leader of ${led} input/changelog partitions) after ${atKill} records; down ${down} ms; run ${Date.now() - t0} ms, outputs complete: ${complete}`)
      } finally {
        controller.abort()
        await running.catch(() => {})
      }
      if (failure) throw failure

      const got = await readTopics(outputs, { brokers })
      for (const topic of outputs) expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))

      // Every topic Hermes created (outputs, dead letters, repartition, changelogs) and the input
      // have three replicas per partition.
      const created = (await admin.listTopics()).filter((n) => n.includes(id))
      expect(created).toEqual(expect.arrayContaining([...outputs, t.input]))
      expect(created.some((n) => n.endsWith('-repartition'))).toBe(true)
      expect(created.some((n) => n.endsWith('.changelog'))).toBe(true)
      const metadata = await admin.fetchTopicMetadata({ topics: created })
      const replicas = metadata.topics.flatMap((topic) => topic.partitions.map((p) => [`${topic.name}:${p.partitionId}`, p.replicas.length] as const))
      expect(replicas.filter(([, n]) => n !== RF)).toEqual([])
      expect(replicas.length).toBeGreaterThanOrEqual(created.length)
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }, 170_000)
})
