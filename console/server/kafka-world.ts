/**
 * The Kafka world: configuration published to the configuration topics (tasks and materials
 * keyed by id, memberships by user; a deletion is a tombstone, or `member: false`), versions and
 * the audit log in the compacted `console.auditTopic` (one record per version, keyed
 * `<kind>/<id>/<version>`, so compaction keeps every version), and everything read back by one
 * consumer of a throwaway group that never commits: configuration, behavior events, decisions,
 * suppressions, exposures and item events from the beginning of their topics.
 *
 * Interactive queries go to the observability server (`/query/users/:id`) of the instance that
 * owns the user's partition, found in the decision topology's consumer group, where each member
 * advertises its address (pipeline/kafka/assigner.ts), as Kafka Streams finds a key's host.
 * Values are JSON or, on topics the configuration makes Avro, Avro through the schema registry
 * (topic-values.ts); the audit topic is the console's own and always JSON.
 */
import { randomBytes } from 'node:crypto'
import type { Admin, Consumer, Producer } from 'kafkajs'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { topicPartitions } from '../../pipeline/config/topic-partitions.ts'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { queryOwner } from '../../pipeline/kafka/assigner.ts'
import type { TopicSpec } from '../../pipeline/kafka/admin.ts'
import { createKafkaClient, subscribeWhenKnown } from '../../pipeline/kafka/client.ts'
import type { KeyQueryResult } from '../../pipeline/observability/key-query.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { parseSettings } from '../../operators/settings.ts'
import type { Settings } from '../../operators/settings.ts'
import type { Exposure } from '../../operators/exposures.ts'
import type { ItemEvent } from '../../operators/item-event.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import type { AuditEntry, AuditSink } from './store.ts'
import { ConfigStore } from './store.ts'
import { TopicValues } from './topic-values.ts'
import type { LiveRates, SimulationResult, TopicKind, UserProfile, World } from './world.ts'
import { ConfigView, RateMeter, splitAudienceId } from './world.ts'

/** Options of {@link KafkaWorld.open}. */
export interface KafkaWorldOptions {
  config: HermesConfig
  logger: HermesLogger
  /** How long start-up waits to read the topics to their end (default 30 s). */
  catchUpMs?: number
  /** How long a simulated event waits for its decisions (default 5 s). */
  simulateWaitMs?: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The console's view of a Kafka deployment. */
export class KafkaWorld implements World {
  readonly mode = 'kafka' as const
  readonly store: ConfigStore
  private readonly view = new ConfigView()
  private readonly eventList: BehaviorEvent[] = []
  private eventsSorted = true
  private readonly decisionList: Decision[] = []
  private readonly suppressionList: Suppression[] = []
  private readonly exposureList: Exposure[] = []
  private readonly itemList: ItemEvent[] = []
  private readonly meter = new RateMeter()
  /** Next offset to read per `topic:partition`. */
  private readonly positions = new Map<string, number>()
  private readonly topics: Settings['topics']
  private readonly kindOfTopic: Map<string, TopicKind | 'users' | 'events' | 'decisions' | 'suppressions' | 'exposures' | 'items' | 'audit'>
  private maxEventTs = 0

  private constructor(
    readonly config: HermesConfig,
    private readonly logger: HermesLogger,
    private readonly admin: KafkaAdmin,
    private readonly producer: Producer,
    private readonly consumer: Consumer,
    private readonly simulateWaitMs: number,
    /** Describes the decision topology's consumer group: who owns which partition, at which address. */
    private readonly groups: Admin,
    private readonly values: TopicValues,
  ) {
    this.topics = parseSettings(config.hermes).topics
    const t = this.topics
    this.kindOfTopic = new Map([
      [t.tasks, 'tasks'],
      [t.materials, 'materials'],
      [t.audiences, 'audiences'],
      [t.users, 'users'],
      [t.events, 'events'],
      [t.decisions, 'decisions'],
      [t.suppressions, 'suppressions'],
      [t.exposures, 'exposures'],
      [t.items, 'items'],
      [config.console.auditTopic, 'audit'],
    ])
    const sink: AuditSink = {
      append: async (e: AuditEntry) => {
        await this.send(config.console.auditTopic, `${e.kind}/${e.id}/${e.version}`, e)
      },
    }
    this.store = new ConfigStore(sink)
  }

  /** Connects, creates missing topics, and reads every topic to its current end. */
  static async open(o: KafkaWorldOptions): Promise<KafkaWorld> {
    const { config, logger } = o
    const t = parseSettings(config.hermes).topics
    const all = [t.tasks, t.materials, t.audiences, t.users, t.events, t.decisions, t.suppressions, t.exposures, t.items]
    const values = new TopicValues(config, logger)
    const avro = values.avroTopics(all)
    if (avro.length) logger.info({ topics: avro, registry: config.schemaRegistry.url.replace(/\/\/[^@/]*@/, '//') }, 'console: Avro topics, read and written through the schema registry')
    const kafka = createKafkaClient(config.kafka, logger, `${config.kafka.clientId}-console`)
    const admin = new KafkaAdmin(kafka, logger, config.kafka.replicationFactor, config.kafka.brokers)
    await admin.connect()
    const cleanup = (topic: string): TopicSpec['cleanup'] => (config.topics.overrides[topic] as { cleanup?: 'compact' | 'forever' } | undefined)?.cleanup
    const specs: TopicSpec[] = [
      ...all.map((topic) => ({ topic, partitions: topicPartitions(config, topic), ...(cleanup(topic) ? { cleanup: cleanup(topic) } : {}) })),
      { topic: config.console.auditTopic, partitions: 1, cleanup: 'compact' as const },
    ]
    await admin.ensureTopics(specs)
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const consumer = kafka.consumer({ groupId: `hermes-console-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false })
    await consumer.connect()
    const groups = kafka.admin()
    await groups.connect()
    const world = new KafkaWorld(config, logger, admin, producer, consumer, o.simulateWaitMs ?? 5000, groups, values)
    const topics = [...all, config.console.auditTopic]
    await subscribeWhenKnown(consumer, topics)
    const ends = new Map<string, number>()
    for (const topic of topics) {
      for (const [p, { low, high }] of await admin.offsets(topic)) {
        ends.set(`${topic}:${p}`, high)
        world.positions.set(`${topic}:${p}`, low)
      }
    }
    await consumer.run({ autoCommit: false, eachMessage: async ({ topic, partition, message }) => world.receive(topic, partition, message) })
    // Read to the end offsets seen at start. A partition whose last records are transaction
    // markers never reaches its end offset by records: two seconds without progress ends the wait.
    const deadline = Date.now() + (o.catchUpMs ?? 30_000)
    const behind = (): string[] => [...ends].filter(([tp, end]) => (world.positions.get(tp) ?? 0) < end).map(([tp]) => tp)
    let last = -1
    let still = 0
    while (behind().length) {
      const progress = [...world.positions.values()].reduce((a, b) => a + b, 0)
      still = progress === last ? still + 1 : 0
      last = progress
      if (Date.now() > deadline || still >= 40) {
        logger.info({ behind: behind() }, 'console: topics read up to their last record (the rest are markers or still on their way)')
        break
      }
      await sleep(50)
    }
    return world
  }

  private async receive(topic: string, partition: number, message: { key: Buffer | null; value: Buffer | null; offset: string; timestamp: string }): Promise<void> {
    const kind = this.kindOfTopic.get(topic)
    let value: unknown = null
    if (kind && message.value !== null) {
      try {
        value = kind === 'audit' ? JSON.parse(message.value.toString('utf8')) : await this.values.decode(topic, message.value)
      } catch {
        value = undefined // unreadable (not JSON, not Avro of a known schema): the pipeline dead-letters it; the console has nothing to show
      }
    }
    this.positions.set(`${topic}:${partition}`, Number(message.offset) + 1)
    if (!kind || value === undefined) return
    const key = message.key?.toString('utf8') ?? null
    switch (kind) {
      case 'audit':
        if (value) this.store.receive(value as AuditEntry)
        return
      case 'events': {
        const e = value as BehaviorEvent | null
        if (!e || typeof e.ts !== 'number') return
        if (e.ts < this.maxEventTs) this.eventsSorted = false
        this.maxEventTs = Math.max(this.maxEventTs, e.ts)
        this.eventList.push(e)
        this.meter.add({ events: 1, decisions: 0, suppressions: 0 })
        return
      }
      case 'decisions':
        if (value) this.decisionList.push(value as Decision)
        this.meter.add({ events: 0, decisions: 1, suppressions: 0 })
        return
      case 'suppressions':
        if (value) this.suppressionList.push(value as Suppression)
        this.meter.add({ events: 0, decisions: 0, suppressions: 1 })
        return
      case 'exposures':
        if (value) this.exposureList.push(value as Exposure)
        return
      case 'items':
        if (value && typeof (value as ItemEvent).ts === 'number') this.itemList.push(value as ItemEvent)
        return
      default:
        this.view.apply(kind, key, value)
    }
  }

  private async send(topic: string, key: string, value: unknown, ts?: number): Promise<void> {
    const partitions = this.admin.partitions(topic)
    const bytes = topic === this.config.console.auditTopic ? Buffer.from(JSON.stringify(value)) : await this.values.encode(topic, value)
    await this.producer.send({
      topic,
      acks: -1,
      messages: [{ key, value: bytes, partition: partitionFor(key, partitions), ...(ts !== undefined ? { timestamp: String(ts) } : {}) }],
    })
  }

  current(kind: TopicKind): Map<string, unknown> {
    return this.view[kind]
  }

  async publish(kind: TopicKind, id: string, record: unknown): Promise<void> {
    if (kind === 'audiences') {
      const a = splitAudienceId(id)
      if (!a) throw new Error(`audience id "${id}" is not <segmentId>:<userId>`)
      const value = record ?? { userId: a.userId, segmentId: a.segmentId, member: false }
      await this.send(this.topics.audiences, a.userId, value)
      this.view.apply('audiences', a.userId, value)
      return
    }
    await this.send(kind === 'tasks' ? this.topics.tasks : this.topics.materials, id, record)
    // Read-your-writes: the consumer applies the same record again when it reads it back.
    this.view.apply(kind, id, record)
  }

  users(): Map<string, UserProfile> {
    return this.view.users()
  }

  events(): readonly BehaviorEvent[] {
    if (!this.eventsSorted) {
      this.eventList.sort((a, b) => a.ts - b.ts)
      this.eventsSorted = true
    }
    return this.eventList
  }

  decisions(): readonly Decision[] {
    return this.decisionList
  }

  suppressions(): readonly Suppression[] {
    return this.suppressionList
  }

  exposures(): readonly Exposure[] {
    return this.exposureList
  }

  itemEvents(): readonly ItemEvent[] {
    return [...this.itemList].sort((a, b) => a.ts - b.ts)
  }

  profiles(): unknown[] {
    return [...this.view.profiles.values()]
  }

  memberships(): unknown[] {
    return [...this.view.audiences.values()]
  }

  nextEventTime(): number {
    return Date.now()
  }

  /** Produces the event; waits (up to `simulateWaitMs`) for decisions or suppressions it triggered. */
  async simulate(event: BehaviorEvent): Promise<SimulationResult> {
    await this.send(this.topics.events, event.userId, event, event.ts)
    const deadline = Date.now() + this.simulateWaitMs
    // Dead letters are not read on Kafka (the instances' `<app>.dlq`): none are reported here.
    const mine = () => ({ decisions: this.decisionList.filter((d) => d.triggerEventId === event.eventId), suppressions: this.suppressionList.filter((s) => s.triggerEventId === event.eventId), deadLetters: [] })
    while (Date.now() < deadline) {
      const r = mine()
      if (r.decisions.length || r.suppressions.length) return r
      await sleep(100)
    }
    return mine()
  }

  /**
   * The instance that owns the user's partition, from the decision topology's consumer group:
   * each member advertises its query address in its metadata (pipeline/kafka/assigner.ts).
   */
  async ownerOf(userId: string): Promise<string | null> {
    const settings = parseSettings(this.config.hermes)
    const { groups } = await this.groups.describeGroups([settings.applications.decisions])
    const members = groups[0]?.members ?? []
    const partition = partitionFor(userId, this.admin.partitions(this.topics.events))
    return queryOwner(members, this.topics.events, partition)
  }

  /**
   * Interactive query: asks the owner of the user's partition (found in the group's metadata)
   * for the user's state; without one (no member advertises an address), asks every instance
   * of `console.instances` and merges what the owners hold. Null: nobody could be asked.
   */
  async userState(userId: string): Promise<KeyQueryResult | null> {
    let owner: string | null = null
    try {
      owner = await this.ownerOf(userId)
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'console: could not describe the consumer group to find the owner of a user')
    }
    const targets = owner ? [owner] : this.config.console.instances
    if (!targets.length) return null
    const answers = await Promise.all(
      targets.map(async (base) => {
        try {
          const res = await fetch(`${base.replace(/\/$/, '')}/query/users/${encodeURIComponent(userId)}`, { signal: AbortSignal.timeout(3000) })
          return res.ok ? ((await res.json()) as KeyQueryResult) : null
        } catch (err) {
          this.logger.warn({ instance: base, err: (err as Error).message }, 'console: interactive query failed')
          return null
        }
      }),
    )
    return { key: userId, owned: answers.flatMap((a) => a?.owned ?? []), ...(owner ? { owner } : {}) }
  }

  live(): LiveRates {
    return { ratePerSec: this.meter.rates(), ...(this.maxEventTs ? { watermark: this.maxEventTs } : {}) }
  }

  async close(): Promise<void> {
    await this.consumer.disconnect()
    await this.groups.disconnect()
    await this.producer.disconnect()
    await this.admin.disconnect()
  }
}
