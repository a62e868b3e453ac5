/**
 * Vitest global setup for the Kafka integration tests (`*.kafka.test.ts`): starts a local broker
 * with scripts/kafka/start.sh when nothing answers on 127.0.0.1:9092, and stops it at the end
 * only if it started it. HERMES_SKIP_KAFKA=1 leaves the broker alone.
 *
 * Every run of the suite also gets a tag (`HERMES_TEST_RUN_TAG`, inherited by the test processes),
 * which {@link runId} puts in the names of the topics, groups and applications the tests create.
 * At the end the topics carrying this run's tag are deleted: a suite leaves about 2,000
 * partitions behind, and a broker that runs suite after suite (a developer's, not CI's, which
 * starts a fresh one) otherwise dies of "Too many open files" after about nine runs. Topics of
 * other runs, and of anyone else using the broker, are left alone. HERMES_KEEP_TEST_TOPICS=1
 * keeps them for a post-mortem.
 */
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { localService } from '../local-service.ts'

const service = localService({ dir: 'kafka', port: 9092, reports: 'KAFKA_BROKERS', skipEnv: 'HERMES_SKIP_KAFKA', startTimeoutMs: 120_000 })

/** Tags are `t` + 6 hex characters + `t`: never a prefix of another run's names by accident. */
export const RUN_TAG_PATTERN = /^t[0-9a-f]{6}t$/

export async function setup(): Promise<void> {
  process.env.HERMES_TEST_RUN_TAG ??= `t${randomBytes(3).toString('hex')}t`
  await service.setup()
}

export async function teardown(): Promise<void> {
  const tag = process.env.HERMES_TEST_RUN_TAG
  if (tag && RUN_TAG_PATTERN.test(tag) && process.env.HERMES_KEEP_TEST_TOPICS !== '1' && process.env.HERMES_SKIP_KAFKA !== '1') {
    try {
      const deleted = await deleteTaggedTopics(['127.0.0.1:9092'], tag)
      if (deleted > 0) console.log(`[kafka] deleted the ${deleted} topics of this test run (tag ${tag}; HERMES_KEEP_TEST_TOPICS=1 keeps them)`)
    } catch (e) {
      console.warn(`[kafka] could not delete this test run's topics (tag ${tag}): ${(e as Error).message}`)
    }
  }
  await service.teardown()
}

/** Deletes the topics whose names contain `tag`, in chunks; returns how many. */
export async function deleteTaggedTopics(brokers: string[], tag: string): Promise<number> {
  const admin = new Kafka({ clientId: 'hermes-test-teardown', brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    const topics = (await admin.listTopics()).filter((t) => t.includes(tag))
    for (let i = 0; i < topics.length; i += 100) await admin.deleteTopics({ topics: topics.slice(i, i + 100), timeout: 60_000 })
    return topics.length
  } finally {
    await admin.disconnect()
  }
}
