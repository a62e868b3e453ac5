import type { Admin, ConfigResourceTypes, Kafka } from 'kafkajs'
import { AssignerProtocol } from 'kafkajs'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { HermesConfig } from '../config/schema.ts'
import { describeKafkaError, offsetsByTopic } from './client.ts'
import { isUnstableOffsetCommit, requiringStableOffsets } from './stable-offsets.ts'

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
  /**
   * How the topic must keep its records (`topics.overrides.<t>.cleanup`): created so, and an
   * existing topic set otherwise is refused at start-up (see {@link cleanupProblem}).
   */
  cleanup?: 'compact' | 'forever'
  /**
   * `cleanup` was inferred from the topology (a broadcast source), not configured: the topic is
   * created so, but an existing one set otherwise is only warned about (it may be a test's or an
   * older deployment's topic that Hermes did not create).
   */
  cleanupInferred?: boolean
}

/** What Hermes learns of a topic's settings (describeConfigs) when it ensures the topic. */
export interface TopicSettings {
  /** `max.message.bytes`: the largest record batch the broker accepts for the topic. */
  maxMessageBytes: number
  cleanupPolicy: string
  retentionMs: number
  retentionBytes: number
}

/** The broker's default `message.max.bytes` (1 MiB plus the batch overhead), when a topic reports none. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/**
 * kafkajs' `ConfigResourceTypes.TOPIC`. Node's ESM loader does not see that named export of the
 * CommonJS kafkajs (only vitest's interop does), so importing it fails outside tests.
 */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes

/** Topic settings read at start-up. */
const DESCRIBED = ['max.message.bytes', 'cleanup.policy', 'retention.ms', 'retention.bytes']

/**
 * The topic specs with `topics.overrides.<topic>.cleanup` of the config applied, so that every
 * path that creates topics (the runner, `hermes produce`) creates configuration topics compacted
 * or kept forever, and checks existing ones.
 */
export function withConfiguredCleanup(config: HermesConfig, specs: readonly TopicSpec[]): TopicSpec[] {
  return specs.map((s) => {
    const cleanup = config.topics.overrides[s.topic]?.cleanup
    if (!cleanup) return s
    const { cleanupInferred: _inferred, ...rest } = s
    return { ...rest, cleanup }
  })
}

/**
 * The topic specs with broadcast topics marked compacted (inferred, see
 * {@link TopicSpec.cleanupInferred}): broadcast state is configuration read whole by every
 * instance, whatever the topic is called (`hermes.topics` renames them without a
 * `topics.overrides` entry). A spec with a `cleanup` already keeps it.
 */
export function withBroadcastCleanup(specs: readonly TopicSpec[], broadcastTopics: ReadonlySet<string>): TopicSpec[] {
  return specs.map((s) => (s.cleanup || !broadcastTopics.has(s.topic) ? s : { ...s, cleanup: 'compact', cleanupInferred: true }))
}

/**
 * Why an existing topic's settings break its required cleanup, or null when they do not.
 * `compact`: `cleanup.policy` must include compact, and with delete too, nothing may expire by
 * time or size. `forever`: no compaction (it would keep one record per key), nothing expires.
 */
export function cleanupProblem(cleanup: 'compact' | 'forever', s: Pick<TopicSettings, 'cleanupPolicy' | 'retentionMs' | 'retentionBytes'>): { setting: string; current: string; wanted: string } | null {
  const policies = s.cleanupPolicy.split(',').map((p) => p.trim())
  if (cleanup === 'compact') {
    if (!policies.includes('compact')) return { setting: 'cleanup.policy', current: s.cleanupPolicy, wanted: 'compact' }
    if (policies.includes('delete') && s.retentionMs !== -1) return { setting: 'cleanup.policy', current: s.cleanupPolicy, wanted: 'compact' }
    if (policies.includes('delete') && s.retentionBytes !== -1) return { setting: 'cleanup.policy', current: s.cleanupPolicy, wanted: 'compact' }
    return null
  }
  if (policies.includes('compact')) return { setting: 'cleanup.policy', current: s.cleanupPolicy, wanted: 'delete' }
  if (s.retentionMs !== -1) return { setting: 'retention.ms', current: String(s.retentionMs), wanted: '-1' }
  if (s.retentionBytes !== -1) return { setting: 'retention.bytes', current: String(s.retentionBytes), wanted: '-1' }
  return null
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
  private readonly settings = new Map<string, TopicSettings>()
  private connected = false

  /** `brokers` only name a bootstrap server in the commands that error messages suggest. */
  constructor(
    kafka: Kafka,
    private readonly logger: Logger,
    private readonly replicationFactor: number,
    private readonly brokers: readonly string[] = ['<broker>'],
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
   * Then each topic's settings are read (see {@link KafkaAdmin.maxMessageBytes}).
   * @throws HermesError CONFIG_INVALID when an internal topic exists with another partition count,
   * or a topic with a required `cleanup` is set otherwise (the message names the command to fix it).
   */
  async ensureTopics(specs: readonly TopicSpec[], timeoutMs = 30_000): Promise<void> {
    const wanted = new Map<string, TopicSpec>()
    for (const s of specs) {
      const seen = wanted.get(s.topic)
      // The same topic may be one app's plain output and another's configuration input.
      if (!seen || (s.cleanup && (!seen.cleanup || seen.cleanupInferred))) wanted.set(s.topic, s)
    }
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
              ...(s.compacted || s.cleanup === 'compact' ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
              ...(s.cleanup === 'forever' ? [{ name: 'cleanup.policy', value: 'delete' }, { name: 'retention.bytes', value: '-1' }] : []),
              ...(s.keepForever || s.cleanup === 'forever' ? [{ name: 'retention.ms', value: '-1' }] : []),
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
    await this.describe([...wanted.keys()])
    const wrong: string[] = []
    for (const s of wanted.values()) {
      const found = this.settings.get(s.topic)
      const problem = s.cleanup && found ? cleanupProblem(s.cleanup, found) : null
      if (!s.cleanup || !problem) continue
      const bootstrap = this.brokers[0] ?? '<broker>'
      const fix = `kafka-configs.sh --bootstrap-server ${bootstrap} --alter --entity-type topics --entity-name ${s.topic} --add-config ${s.cleanup === 'compact' ? 'cleanup.policy=compact' : 'cleanup.policy=delete,retention.ms=-1,retention.bytes=-1'}`
      if (s.cleanupInferred) {
        this.logger.warn({ topic: s.topic, [problem.setting]: problem.current, fix }, 'broadcast topic is not compacted: records deleted from it are lost to every restart with new state; compact it, or set topics.overrides.<topic>.cleanup: compact to have Hermes refuse to start without it')
        continue
      }
      wrong.push(
        `topic ${s.topic} has ${problem.setting}=${problem.current}, but it must be kept ${s.cleanup === 'compact' ? 'compacted (its latest record per key forever)' : 'forever (every record; compaction would lose records)'}: ${fix}` +
          ` (or set topics.overrides.${s.topic}.cleanup to what the topic should be)`,
      )
    }
    if (wrong.length) throw new HermesError('CONFIG_INVALID', `${wrong.join('; ')}. Records deleted from a configuration topic are lost to every restart with new state.`)
  }

  /** Reads and remembers the settings Hermes checks of each topic. */
  private async describe(topics: readonly string[]): Promise<void> {
    if (topics.length === 0) return
    const res = await retrying('describe topic configs', () =>
      this.admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: DESCRIBED })) }),
    )
    for (const r of res.resources) {
      const get = (name: string): string | undefined => r.configEntries.find((e) => e.configName === name)?.configValue
      const num = (name: string, fallback: number): number => {
        const v = Number(get(name))
        return get(name) === undefined || !Number.isFinite(v) ? fallback : v
      }
      this.settings.set(r.resourceName, {
        maxMessageBytes: num('max.message.bytes', DEFAULT_MAX_MESSAGE_BYTES),
        cleanupPolicy: get('cleanup.policy') ?? 'delete',
        retentionMs: num('retention.ms', 604_800_000),
        retentionBytes: num('retention.bytes', -1),
      })
    }
  }

  /**
   * The largest record batch the broker accepts for a topic (`max.message.bytes`, read when the
   * topic was ensured; else the broker's default). Outputs over it can never be written.
   */
  maxMessageBytes(topic: string): number {
    return this.settings.get(topic)?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  }

  /** Whether a topic seen by {@link KafkaAdmin.ensureTopics} is compacted (it refuses records without a key). */
  compacted(topic: string): boolean {
    return this.settings.get(topic)?.cleanupPolicy.includes('compact') ?? false
  }

  /** Settings of a topic seen by {@link KafkaAdmin.ensureTopics}. */
  topicSettings(topic: string): TopicSettings | undefined {
    return this.settings.get(topic)
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

  /**
   * Committed offsets of a group per `topic:partition` (absent when none), stable: while a
   * transaction's offset commit is still pending at the group coordinator (it applies them after
   * the transaction's marker, asynchronously), the broker is asked again rather than answering
   * the offsets from before that transaction, which a task restored with that transaction's
   * state would process twice (see pipeline/kafka/stable-offsets.ts).
   */
  async committed(groupId: string, topics: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    if (topics.length === 0) return out
    let unstable = 0
    const rows = await retrying(`committed offsets of group ${groupId}`, () =>
      requiringStableOffsets(() => this.admin.fetchOffsets({ groupId, topics: [...topics] })).catch((err: unknown) => {
        if (isUnstableOffsetCommit(err)) unstable++
        throw err
      }),
    )
    if (unstable) this.logger.info({ group: groupId, topics, unstable }, 'committed offsets were not stable yet (a transaction\'s offset commit was completing): read again')
    for (const t of rows) for (const p of t.partitions) if (Number(p.offset) >= 0) out.set(`${t.topic}:${p.partition}`, Number(p.offset))
    return out
  }

  /**
   * The partitions the group coordinator gives `memberId` in a stable group, per topic; null while
   * the group rebalances, or when the member is not in it (it was dropped, or has not joined yet).
   */
  async memberAssignment(groupId: string, memberId: string): Promise<Record<string, number[]> | null> {
    const { groups } = await this.admin.describeGroups([groupId])
    const g = groups.find((x) => x.groupId === groupId)
    if (!g || g.state !== 'Stable') return null
    const m = g.members.find((x) => x.memberId === memberId)
    if (!m) return null
    return AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {}
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
