import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from '../api/processor.ts'
import type { KafkaAdmin } from './admin.ts'
import { CompactedLog } from './compacted-log.ts'
import type { ConsumerTimings } from './client.ts'
import { describeKafkaError } from './client.ts'
import type { Preparer } from './source.ts'
import { prepareValues, toRaw, valuesOf } from './source.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

/**
 * Broadcast topics (small, compacted: tasks, materials, stats), read in full by every instance
 * with a consumer of its own throwaway group that never commits. What a compacted topic keeps is
 * kept in memory (the latest record per key, see {@link CompactedLog}), so a task that arrives
 * later (rebalance) gets the current configuration, and memory does not grow with the topic's
 * history.
 */
export class BroadcastReader {
  /** Per `topic:partition`: its latest record per key, in offset order. */
  readonly logs = new Map<string, CompactedLog>()
  private readonly consumer: Consumer
  private readonly fetched = new Map<string, number>()
  private readonly filters = new Map<string, CommittedFilter>()
  private readonly groupId: string
  private ends = new Map<string, number>()
  private caughtUp: () => void = () => {}

  constructor(
    kafka: Kafka,
    private readonly topics: readonly string[],
    private readonly admin: KafkaAdmin,
    private readonly logger: Logger,
    timings: ConsumerTimings,
    app: string,
    private readonly onData: () => void,
    private readonly prepare?: Preparer,
  ) {
    this.groupId = `${app}-broadcast-${randomUUID()}`
    this.consumer = kafka.consumer({ groupId: this.groupId, ...timings, retry: { retries: 8 } })
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (e) => this.advance(`${e.payload.topic}:${e.payload.partition}`, Number(e.payload.lastOffset) + 1))
    this.consumer.on(this.consumer.events.CRASH, (e) => logger.warn({ group: this.groupId, err: describeKafkaError(e.payload.error) }, 'broadcast consumer crashed'))
  }

  /** Starts reading and resolves once every partition is read up to its end at start-up. */
  async start(): Promise<void> {
    for (const topic of this.topics) {
      for (const [p, o] of await this.admin.offsets(topic)) {
        const tp = `${topic}:${p}`
        this.logs.set(tp, new CompactedLog())
        if (o.high > o.low) this.ends.set(tp, o.high)
      }
    }
    const ready = new Promise<void>((resolve) => (this.caughtUp = resolve))
    if (this.ends.size === 0) this.caughtUp()
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [...this.topics], fromBeginning: true })
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        const tp = `${batch.topic}:${batch.partition}`
        let log = this.logs.get(tp)
        if (!log) this.logs.set(tp, (log = new CompactedLog()))
        const from = this.fetched.get(tp) ?? 0
        let filter = this.filters.get(tp)
        if (!filter) this.filters.set(tp, (filter = new CommittedFilter()))
        const fresh = rawMessages(batch).filter((x) => Number(x.offset) >= from)
        // Stopping while the registry is away: nothing more to read.
        if (this.prepare && !(await prepareValues(this.prepare, this.logger, batch.topic, valuesOf(fresh), isRunning, heartbeat))) return
        for (const m of filter.push(fresh)) log.append(toRaw(batch.topic, batch.partition, Number(m.offset), m))
        this.advance(tp, Number(batch.lastOffset()) + 1)
        this.onData()
      },
    })
    const started = Date.now()
    await ready
    this.logger.info({ topics: this.topics, records: [...this.logs.values()].reduce((n, l) => n + l.size, 0), ms: Date.now() - started }, 'broadcast topics read')
  }

  private advance(tp: string, next: number): void {
    if (next > (this.fetched.get(tp) ?? 0)) this.fetched.set(tp, next)
    const end = this.ends.get(tp)
    if (end !== undefined && next >= end) {
      this.ends.delete(tp)
      if (this.ends.size === 0) this.caughtUp()
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => {})
    await this.admin.deleteGroups([this.groupId])
  }
}
