import type { Admin, Kafka } from 'kafkajs'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import { describeKafkaError, offsetsByTopic } from './client.ts'

/** A topic Hermes needs, with the partition count to create it with when it does not exist. */
export interface TopicSpec {
  topic: string
  partitions: number
  /** Compacted (changelogs): `cleanup.policy=compact`. */
  compacted?: boolean
  /**
   * Kept regardless of record timestamps (`retention.ms=-1`): repartition topics carry event
   * times, which may be older than any retention when a backlog is replayed; the runner deletes
   * what its consumers committed instead.
   */
  keepForever?: boolean
  /**
   * Broker time instead of the record's (`message.timestamp.type=LogAppendTime`): for the
   * dead-letter topic, whose records keep the timestamp of the input they came from (0 for an
   * input without time), so time-based retention would delete them at once.
   */
  appendTime?: boolean
  /** Whether an existing topic must have exactly `partitions` (internal and changelog topics). */
  strict?: boolean
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Retries an admin call on retriable errors (leaders moving, metadata not yet propagated after a
 * topic was created or a broker restarted) for up to `timeoutMs`.
 */
async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await fn()
    } catch (err) {
      const e = err as { retriable?: boolean; name?: string }
      const retriable = e.retriable === true || /Connection|NumberOfRetriesExceeded|BrokerNotFound|Metadata/.test(e.name ?? '')
      if (!retriable || Date.now() + delay > deadline) throw new HermesError('IO_ERROR', `${what}: ${describeKafkaError(err)}`, { cause: err, retriable })
      await sleep(delay)
    }
  }
}

/**
 * Topic administration: creating what is missing, partition counts, end offsets and committed
 * group offsets. One kafkajs admin client, connected once.
 */
export class KafkaAdmin {
  private readonly admin: Admin
  private readonly counts = new Map<string, number>()
  private connected = false

  constructor(
    kafka: Kafka,
    private readonly logger: Logger,
    private readonly replicationFactor: number,
  ) {
    this.admin = kafka.admin()
  }

  async connect(): Promise<void> {
    if (this.connected) return
    await this.admin.connect()
    this.connected = true
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return
    this.connected = false
    await this.admin.disconnect()
  }

  /**
   * Creates the missing topics and waits until every partition has a leader, then records the
   * partition count of every topic (see {@link KafkaAdmin.partitions}).
   *
   * kafkajs 2.2.4 only retries LEADER_NOT_AVAILABLE in `createTopics({ waitForLeaders: true })`,
   * while a broker that has not yet seen the new topic answers UNKNOWN_TOPIC_OR_PARTITION
   * (kafkajs#1563); so topics are created without waiting and metadata is polled here.
   * @throws HermesError CONFIG_INVALID when an internal topic exists with another partition count.
   */
  async ensureTopics(specs: readonly TopicSpec[], timeoutMs = 30_000): Promise<void> {
    const wanted = new Map<string, TopicSpec>()
    for (const s of specs) if (!wanted.has(s.topic)) wanted.set(s.topic, s)
    const existing = new Set(await retrying('list topics', () => this.admin.listTopics()))
    const missing = [...wanted.values()].filter((s) => !existing.has(s.topic))
    if (missing.length) {
      try {
        await this.admin.createTopics({
          waitForLeaders: false,
          topics: missing.map((s) => ({
            topic: s.topic,
            numPartitions: s.partitions,
            replicationFactor: this.replicationFactor,
            configEntries: [
              ...(s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
              ...(s.keepForever ? [{ name: 'retention.ms', value: '-1' }] : []),
              ...(s.appendTime ? [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] : []),
            ],
          })),
        })
      } catch (err) {
        // Another instance may have created some of them at the same time.
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS' && !/already exists/i.test(describeKafkaError(err))) throw err
      }
      this.logger.info({ topics: missing.map((s) => `${s.topic} (${s.partitions})`) }, 'created topics')
    }
    const deadline = Date.now() + timeoutMs
    for (;;) {
      let problem: string
      try {
        const md = await this.admin.fetchTopicMetadata({ topics: [...wanted.keys()] })
        const notReady = md.topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0))
        if (notReady.length === 0) {
          for (const t of md.topics) this.counts.set(t.name, t.partitions.length)
          break
        }
        problem = `no leader yet for ${notReady.map((t) => t.name).join(', ')}`
      } catch (err) {
        const type = (err as { type?: string }).type ?? ''
        if (!['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'].includes(type)) throw err
        problem = describeKafkaError(err)
      }
      if (Date.now() > deadline) throw new HermesError('IO_ERROR', `topics not ready after ${timeoutMs} ms: ${problem}`, { retriable: true })
      await sleep(100)
    }
    for (const s of wanted.values()) {
      const n = this.counts.get(s.topic)
      if (n !== undefined && n !== s.partitions && s.strict) {
        throw new HermesError(
          'CONFIG_INVALID',
          `topic ${s.topic} exists with ${n} partitions but ${s.partitions} are needed (it must match its sub-topology); delete it or use another application name`,
        )
      }
      if (n !== undefined && n !== s.partitions && !s.strict) this.logger.info({ topic: s.topic, partitions: n, configured: s.partitions }, 'topic exists with another partition count than configured; using it as it is')
    }
  }

  /**
   * Partition count of a topic seen by {@link KafkaAdmin.ensureTopics}.
   * @throws HermesError USAGE for a topic that was not ensured first.
   */
  partitions(topic: string): number {
    const n = this.counts.get(topic)
    if (n === undefined) throw new HermesError('USAGE', `topic ${topic} is not known to this runner (not created or looked up at start-up)`)
    return n
  }

  /** Whether {@link KafkaAdmin.ensureTopics} has seen the topic. */
  knows(topic: string): boolean {
    return this.counts.has(topic)
  }

  /** End offsets per partition, read_committed (the last stable offset) and the log start. */
  async offsets(topic: string): Promise<Map<number, { low: number; high: number }>> {
    const rows = await retrying(`end offsets of ${topic}`, () => this.admin.fetchTopicOffsets(topic))
    return new Map(rows.map((r) => [r.partition, { low: Number(r.low), high: Number(r.high) }]))
  }

  /** Committed offsets of a group per `topic:partition` (absent when none). */
  async committed(groupId: string, topics: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    if (topics.length === 0) return out
    const rows = await retrying(`committed offsets of group ${groupId}`, () => this.admin.fetchOffsets({ groupId, topics: [...topics] }))
    for (const t of rows) for (const p of t.partitions) if (Number(p.offset) >= 0) out.set(`${t.topic}:${p.partition}`, Number(p.offset))
    return out
  }

  /** Deletes records below the given offsets (consumed repartition records); best effort. */
  async deleteRecordsBelow(offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): Promise<void> {
    for (const { topic, partitions } of offsetsByTopic(offsets)) {
      try {
        await this.admin.deleteTopicRecords({ topic, partitions })
      } catch (err) {
        this.logger.debug({ topic, err: describeKafkaError(err) }, 'could not delete consumed repartition records')
      }
    }
  }

  /** Deletes consumer groups (best effort: used for the throwaway restore and broadcast groups). */
  async deleteGroups(groupIds: string[]): Promise<void> {
    if (groupIds.length === 0) return
    try {
      await this.admin.deleteGroups(groupIds)
    } catch (err) {
      this.logger.debug({ groups: groupIds, err: describeKafkaError(err) }, 'could not delete consumer groups')
    }
  }
}
