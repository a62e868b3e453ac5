import { randomUUID } from 'node:crypto'
import type { Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../api/processor.ts'
import type { StoreSpec } from '../api/stores.ts'
import type { KeyValueBackend } from '../state/backend.ts'
import { TASK_TIME_META } from '../runtime/task-time.ts'
import { PREFIX, fullKey } from '../state/task-state.ts'
import type { KafkaAdmin } from './admin.ts'
import { fixedAssigner } from './assigner.ts'
import type { TopicPartitions } from './assigner.ts'
import type { ChangelogOffsets } from './checkpoint.ts'
import type { ConsumerTimings } from './client.ts'
import { subscribeWhenKnown } from './client.ts'
import type { KafkaMetrics } from './metrics.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

const SEP = '\u0000'
/** Backend key of the task's saved watermark input; it travels with the timers. */
export const MAX_TS_KEY = `${PREFIX.meta}maxTs`
/**
 * Backend key of the task's saved time (per-partition watermarks, pipeline/runtime/task-time.ts),
 * which replaced {@link MAX_TS_KEY}: it travels with the timers too, so that a task restored on
 * another instance starts from its own time.
 */
export const TASK_TIME_KEY = `${PREFIX.meta}${TASK_TIME_META}`

/** Changelog topic of a keyed store (`<node>.<store>`) of an application. */
export function changelogTopic(app: string, store: string): string {
  return `${app}.${store}.changelog`
}

/** Changelog topic of the timers (and saved watermark) of one sub-topology of an application. */
export function timersChangelogTopic(app: string, subId: number): string {
  return `${app}.timers-${subId}.changelog`
}

/** The changelog topics of one task: one per keyed store that keeps a changelog, plus timers. */
export interface ChangelogTopics {
  /** Store full name to topic. */
  stores: Map<string, string>
  timers: string
}

/** Changelog topics for a sub-topology's keyed stores; stores declared `changelog: false` have none. */
export function changelogTopics(app: string, subId: number, stores: ReadonlyMap<string, StoreSpec>): ChangelogTopics {
  const map = new Map<string, string>()
  for (const [name, spec] of stores) if (spec.changelog !== false) map.set(name, changelogTopic(app, name))
  return { stores: map, timers: timersChangelogTopic(app, subId) }
}

/** One changelog write: the partition is the task's partition. */
export interface ChangelogRecord {
  topic: string
  key: string
  value: Buffer | null
}

/**
 * Where a task's commit goes before its local state is written: makes the task's outputs and
 * changelog records durable (at-least-once) or commits them in a transaction with the input
 * offsets (exactly-once). Resolves with the next changelog offset per topic written.
 */
export type CommitSink = (taskId: string, records: ChangelogRecord[]) => Promise<ChangelogOffsets>

/**
 * A task backend that sends every committed change of a keyed store, timer or saved watermark to
 * its compacted changelog topic before writing it locally, then moves the task's checkpoint.
 * Reads go straight to the local backend.
 */
export class ChangelogBackend implements KeyValueBackend {
  readonly kind: KeyValueBackend['kind']
  /** Whether a checkpoint was saved since this backend opened. */
  private saved = false
  /** Changelog records in the local state and not yet in the saved checkpoint. */
  private unsaved = 0

  constructor(
    private readonly raw: KeyValueBackend,
    private readonly taskId: string,
    private readonly topics: ChangelogTopics,
    private readonly sink: CommitSink,
    /** Changelog offsets the local state holds; moved forward at every commit. */
    private readonly checkpoint: ChangelogOffsets,
    private readonly saveCheckpoint: (offsets: ChangelogOffsets) => void,
  ) {
    this.kind = raw.kind
  }

  getManySync(keys: readonly string[]): Array<Buffer | undefined> {
    return this.raw.getManySync(keys)
  }

  async write(ops: ReadonlyArray<readonly [string, Buffer | null]>): Promise<void> {
    const records: ChangelogRecord[] = []
    for (const [k, v] of ops) {
      if (k.startsWith(PREFIX.keyed)) {
        const i = k.indexOf(SEP, PREFIX.keyed.length)
        const topic = this.topics.stores.get(k.slice(PREFIX.keyed.length, i))
        if (topic) records.push({ topic, key: k.slice(i + 1), value: v })
      } else if (k.startsWith(PREFIX.timer) || k === MAX_TS_KEY || k === TASK_TIME_KEY) {
        records.push({ topic: this.topics.timers, key: k, value: v })
      }
    }
    const written = await this.sink(this.taskId, records)
    await this.raw.write(ops)
    let moved = 0
    for (const [topic, offset] of Object.entries(written)) {
      if (topic !== this.topics.timers && ![...this.topics.stores.values()].includes(topic)) continue
      moved += offset - (this.checkpoint[topic] ?? 0)
      this.checkpoint[topic] = offset
    }
    this.unsaved += Math.max(0, moved)
    // A checkpoint behind the state is safe (restore replays from it, idempotently), one ahead of
    // it never is; so it need not follow every commit. As Kafka Streams does, it is rewritten
    // once CHECKPOINT_EVERY_RECORDS changelog records are not in it (the file rewritten at every
    // commit cost 5-10% of the main thread with exactly-once's 100 ms commits, issue 9), and at close.
    if (!this.saved || this.unsaved >= CHECKPOINT_EVERY_RECORDS) this.flushCheckpoint()
  }

  private flushCheckpoint(): void {
    this.saveCheckpoint(this.checkpoint)
    this.saved = true
    this.unsaved = 0
  }

  scan(prefix: string): AsyncIterable<[string, Buffer]> {
    return this.raw.scan(prefix)
  }

  keysSync(prefix: string): string[] {
    return this.raw.keysSync(prefix)
  }

  // Timers beyond the in-memory window are paged in with this (pipeline/runtime/timers.ts).
  rangeSync(prefix: string, from: string, limit: number): Array<[string, Buffer]> {
    return this.raw.rangeSync(prefix, from, limit)
  }

  approximateSize(): number {
    return this.raw.approximateSize()
  }

  close(): Promise<void> {
    // Every offset in the checkpoint has its records in the local state (written above first).
    if (this.unsaved > 0) this.flushCheckpoint()
    return this.raw.close()
  }
}

/**
 * Changelog records written since the last saved checkpoint before it is saved again (Kafka
 * Streams' `OFFSET_DELTA_THRESHOLD_FOR_CHECKPOINT` is 10,000 too): at most that many records are
 * read again by a restore after a crash.
 */
export const CHECKPOINT_EVERY_RECORDS = 10_000

/** A task whose local state is to be brought up to date from its changelogs. */
export interface RestoreTarget {
  app: string
  taskId: string
  partition: number
  backend: KeyValueBackend
  topics: ChangelogTopics
  /** Checkpointed offsets; without them every changelog is read from its start. */
  from: ChangelogOffsets | undefined
}

interface Progress {
  target: RestoreTarget
  topic: string
  /** Store full name, or undefined for the timers topic (keys are backend keys there). */
  store: string | undefined
  position: number
  end: number
  filter: CommittedFilter
  /** Backend key bytes before a record's key: the store's keyed prefix (empty for the timers topic, whose keys are backend keys). */
  prefix: Buffer
}

const NO_PREFIX = Buffer.alloc(0)

/**
 * Writes a partition's committed records below its end into the target's backend; returns how
 * many. The keys go as bytes when the backend takes them so: a restore is millions of records,
 * and a key decoded to a string and encoded again cost a string and a buffer per record (CPU
 * profile of bench/restore-kafka.bench.ts).
 */
async function writeRecords(w: Progress, records: readonly KafkaMessage[]): Promise<number> {
  const backend = w.target.backend
  if (backend.writeBytes) {
    const { prefix } = w
    const ops: Array<[Buffer, Buffer | null]> = []
    for (const m of records) {
      if (m.key === null || Number(m.offset) >= w.end) continue
      ops.push([prefix.length === 0 ? m.key : Buffer.concat([prefix, m.key], prefix.length + m.key.length), m.value])
    }
    await backend.writeBytes(ops)
    return ops.length
  }
  const ops: Array<[string, Buffer | null]> = []
  for (const m of records) {
    if (m.key === null || Number(m.offset) >= w.end) continue
    const key = m.key.toString('utf8')
    ops.push([w.store === undefined ? key : fullKey(w.store, key), m.value])
  }
  await backend.write(ops)
  return ops.length
}

/**
 * Reads each target's changelog partitions from its checkpoint (or the start) up to the last
 * stable offset into its local backend, all targets with one throwaway consumer group. Logs
 * progress every few seconds and reports it as metrics. Resolves with the changelog offsets each
 * task's state now holds (its new checkpoint), by task id.
 */
export async function restoreChangelogs(options: {
  kafka: Kafka
  admin: KafkaAdmin
  targets: readonly RestoreTarget[]
  logger: Logger
  metrics?: KafkaMetrics
  timings: ConsumerTimings
}): Promise<Map<string, ChangelogOffsets>> {
  const { kafka, admin, targets, logger, metrics, timings } = options
  const result = new Map<string, ChangelogOffsets>()
  const work = new Map<string, Progress>()
  const topicsOf = (target: RestoreTarget): Array<[string, string | undefined]> => [...[...target.topics.stores].map(([store, topic]) => [topic, store] as [string, string]), [target.topics.timers, undefined]]
  // Every topic's offsets at once: asked one after the other, a task of 15 stores waited for 16
  // round trips before its restore started.
  const ends = new Map<string, Map<number, { low: number; high: number }>>()
  const topicNames = [...new Set(targets.flatMap((t) => topicsOf(t).map(([topic]) => topic)))]
  await Promise.all(topicNames.map(async (topic) => ends.set(topic, await admin.offsets(topic))))
  for (const target of targets) {
    const offsets: ChangelogOffsets = {}
    for (const [topic, store] of topicsOf(target)) {
      const range = ends.get(topic)?.get(target.partition) ?? { low: 0, high: 0 }
      const start = Math.max(target.from?.[topic] ?? range.low, range.low)
      offsets[topic] = Math.max(start, range.high)
      if (start < range.high) work.set(`${topic}:${target.partition}`, { target, topic, store, position: start, end: range.high, filter: new CommittedFilter(), prefix: store === undefined ? NO_PREFIX : Buffer.from(fullKey(store, ''), 'utf8') })
    }
    result.set(target.taskId, offsets)
  }
  if (work.size === 0) return result
  const app = targets[0]?.app as string
  const total = [...work.values()].reduce((n, w) => n + w.end - w.position, 0)
  const started = Date.now()
  logger.info({ app, tasks: targets.map((t) => t.taskId), partitions: work.size, records: total }, 'restoring state from changelogs')
  const partitions: TopicPartitions = {}
  for (const w of work.values()) (partitions[w.topic] ??= []).push(w.target.partition)
  const groupId = `${app}-restore-${randomUUID()}`
  // Fetches of up to 10 MiB (kafkajs' default maxBytes, 4 MiB a partition): about 75,000
  // decision-flow records each. Smaller ones (2 MiB, 1 MiB a partition) took 1.18x the CPU per
  // record, larger ones (32 MiB, 8 MiB) no less CPU and 1.3x the peak RSS (bench/restore-kafka.bench.ts,
  // alternating runs, docs/performance.md "Restore from the broker").
  const consumer = kafka.consumer({ groupId, partitionAssigners: [fixedAssigner(partitions)], ...timings, maxBytesPerPartition: 4 << 20, maxBytes: 10 << 20, retry: { retries: 10 } })
  let restored = 0
  let done: () => void = () => {}
  let fail: (err: unknown) => void = () => {}
  const finished = new Promise<void>((resolve, reject) => ((done = resolve), (fail = reject)))
  finished.catch(() => {}) // Awaited below; a crash may come before that.
  const remaining = (): number => [...work.values()].reduce((n, w) => n + Math.max(0, w.end - w.position), 0)
  const advance = (topic: string, partition: number, next: number): void => {
    const w = work.get(`${topic}:${partition}`)
    if (w && next > w.position) w.position = next
    if (remaining() === 0) done()
  }
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.topic, e.payload.partition, Number(e.payload.lastOffset) + 1))
  // A crash kafkajs does not restart (after a broker restart: "Failed to find group coordinator",
  // a coordinator still loading) leaves the consumer stopped, and the restore would wait forever
  // for records that never come. It fails instead: a Kafka failure, after which the runner puts
  // the tasks back and opens them again (a new restore). A crash kafkajs restarts goes on by
  // itself (the consumer joins again and reads from the changelogs' start, skipping what is done).
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) fail(e.payload.error)
  })
  const ticker = setInterval(() => {
    const left = remaining()
    logger.info({ app, restored, remaining: left, elapsedMs: Date.now() - started }, 'restoring state from changelogs')
  }, 3000)
  try {
    await consumer.connect()
    await subscribeWhenKnown(consumer, Object.keys(partitions))
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const w = work.get(`${batch.topic}:${batch.partition}`)
        if (!w) return
        // Records before the position were read already (a fetch again after a rejoin); the filter
        // takes no repeats. Offsets ascend, so they can only be at the start.
        const raw = rawMessages(batch)
        let from = 0
        while (from < raw.length && Number((raw[from] as KafkaMessage).offset) < w.position) from++
        const n = await writeRecords(w, w.filter.push(from === 0 ? raw : raw.slice(from)))
        restored += n
        metrics?.restoredRecords.inc({ app }, n)
        metrics?.restoreRemaining.set({ app }, remaining())
      },
    })
    for (const w of work.values()) consumer.seek({ topic: w.topic, partition: w.target.partition, offset: String(w.position) })
    await finished
  } finally {
    clearInterval(ticker)
    await consumer.disconnect().catch(() => {})
    metrics?.restoreRemaining.set({ app }, 0)
  }
  const ms = Date.now() - started
  metrics?.restoreSeconds.observe({ app }, ms / 1000)
  logger.info({ app, tasks: targets.map((t) => t.taskId), records: restored, ms, perSecond: Math.round((restored / Math.max(ms, 1)) * 1000) }, 'state restored')
  void admin.deleteGroups([groupId])
  return result
}
