import type { Headers } from '../api/record.ts'
import type { Topology } from '../api/topology.ts'
import { validateConfig } from '../config/load.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import { endOffsets, formatEntry } from '../embedded/files.ts'
import { EmbeddedRunner } from '../embedded/runner.ts'
import type { RunStats } from '../embedded/runner.ts'
import { createLogger } from '../observability/logger.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { ErrorPolicy, KeyRoutingStats } from '../runtime/task.ts'
import { partitionFor } from '../runtime/partitioner.ts'

/** An output record as tests see it. */
export interface OutputRecord<V = unknown> {
  key: string | null
  value: V
  timestamp: number
  headers: Headers
  partition: number
}

/** A value for {@link TopologyTestDriver.append} that writes a record with a null value (a Kafka tombstone). */
export const TOMBSTONE: unique symbol = Symbol('tombstone')

/** How {@link TopologyTestDriver.append} writes records: what a producer would choose. */
export interface AppendOptions {
  key?: string | null
  timestamp?: number
  headers?: Headers
  /** An explicit partition, as a producer with its own partitioner may choose. */
  partition?: number
}

export interface TestDriverOptions {
  /** Config overrides (merged over the defaults; here `time.maxOutOfOrdernessMs` defaults to 0, `time.maxFutureMs` and `time.minTimestampMs` to null: off). */
  config?: { [section: string]: unknown }
  /** Initial wall-clock time of the fake clock. */
  wallClock?: number
  errorPolicy?: Partial<ErrorPolicy>
  /** A metrics registry to record into (none by default). */
  metrics?: HermesMetrics
}

/**
 * Runs topologies with no broker and no disk: an in-memory topic log, in-memory state, and a
 * wall clock that only moves when the test says so. Pipe records in, read records out, look into
 * stores, and restart to check that state survives.
 */
export class TopologyTestDriver {
  readonly log = EmbeddedLog.inMemory()
  readonly config: HermesConfig
  private readonly states = new Map<string, Map<string, Buffer>>()
  private readonly read = new Map<string, number[]>()
  private runner!: EmbeddedRunner
  private now: number

  private constructor(
    private readonly topologies: Topology[],
    private readonly options: TestDriverOptions,
  ) {
    const overrides = options.config ?? {}
    // Tests use small times (ts: 1) and a fake wall clock that starts at 0: the plausibility
    // rules of event times are off unless a test sets them.
    const time = { maxOutOfOrdernessMs: 0, maxFutureMs: null, minTimestampMs: null, ...((overrides.time as object) ?? {}) }
    this.config = validateConfig({ ...overrides, time, observability: { http: { enabled: false } } })
    this.now = options.wallClock ?? 0
  }

  /** Creates a driver and opens the topologies. */
  static async create(topologies: Topology | Topology[], options: TestDriverOptions = {}): Promise<TopologyTestDriver> {
    const driver = new TopologyTestDriver(Array.isArray(topologies) ? topologies : [topologies], options)
    await driver.open()
    return driver
  }

  private async open(): Promise<void> {
    this.runner = await EmbeddedRunner.open({
      topologies: this.topologies,
      config: this.config,
      log: this.log,
      state: { kind: 'memory', maps: this.states },
      logger: createLogger({ level: 'silent' }),
      clock: () => this.now,
      errorPolicy: this.options.errorPolicy,
      ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
    })
  }

  /**
   * Appends values to a topic and processes until idle. Keys come from `options.key`, else from
   * the key field of the topology source reading the topic; timestamps from `options.timestamp`,
   * else the source's timestamp field, else 0; the partition from `options.partition`, else the
   * key's partition by Kafka's default partitioner (0 without a key).
   */
  async pipe(topic: string, values: unknown[], options: AppendOptions = {}): Promise<RunStats> {
    this.append(topic, values, options)
    return this.runner.run()
  }

  /** Appends without processing (then call {@link run}). */
  append(topic: string, values: unknown[], options: AppendOptions = {}): void {
    const src = this.sourceFor(topic)
    if (!this.log.hasTopic(topic)) this.log.createTopic(topic, topicPartitions(this.config, topic))
    for (const value of values) {
      const obj = value !== null && typeof value === 'object' ? (value as { [k: string]: unknown }) : {}
      const key = options.key !== undefined ? options.key : src?.keyField !== undefined && obj[src.keyField] !== undefined ? String(obj[src.keyField]) : null
      const tsField = obj[src?.timestampField ?? 'ts']
      const ts = options.timestamp ?? (typeof tsField === 'number' ? tsField : 0)
      const bytes = value === TOMBSTONE ? null : Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8')
      const partition = options.partition ?? (key === null ? 0 : partitionFor(key, this.log.partitions(topic)))
      this.log.append(topic, partition, key, bytes, ts, options.headers)
    }
  }

  /** Processes everything pending. */
  run(): Promise<RunStats> {
    return this.runner.run()
  }

  /** Moves the fake wall clock and fires the processing-time timers that became due. */
  async advanceWallClock(ms: number): Promise<RunStats> {
    this.now += ms
    return this.runner.run()
  }

  /** Records written to `topic` since the last call for it, parsed as JSON (dead letters as envelopes). */
  readOutput<V = unknown>(topic: string): Array<OutputRecord<V>> {
    if (!this.log.hasTopic(topic)) return []
    const from = this.read.get(topic) ?? []
    const out: Array<OutputRecord<V> & { seq: number }> = []
    for (let p = 0; p < this.log.partitions(topic); p++) {
      const end = this.log.endOffset(topic, p)
      for (let o = from[p] ?? 0; o < end; o++) {
        const e = this.log.read(topic, p, o)
        if (!e) continue
        out.push({ key: e.key, value: JSON.parse(formatEntry(e)) as V, timestamp: e.timestamp, headers: e.headers ?? {}, partition: p, seq: e.seq })
      }
    }
    this.read.set(topic, endOffsets(this.log, topic))
    out.sort((a, b) => a.seq - b.seq)
    return out.map(({ seq: _seq, ...r }) => r)
  }

  /** Values of {@link readOutput}. */
  readValues<V = unknown>(topic: string): V[] {
    return this.readOutput<V>(topic).map((r) => r.value)
  }

  /**
   * The committed value of a keyed store for `key` (`node.store` as declared), with TTL wrappers
   * removed. Reads the task owning the key's partition.
   */
  storeValue(node: string, store: string, key: string): unknown {
    for (const app of this.runner.apps) {
      for (const task of app.tasks) {
        const name = `${node}.${store}`
        const spec = task.state.keyedStores.get(name)
        if (!spec) continue
        const topic = task.sub.sources.find((s) => !s.broadcast)?.topic as string
        if (partitionFor(key, this.log.partitions(topic)) !== task.partition) continue
        const raw = task.state.get(name, key)
        return spec.ttlMs !== undefined && raw !== undefined ? (raw as { v: unknown }).v : raw
      }
    }
    throw new Error(`no task holds store ${node}.${store}`)
  }

  /**
   * Records of a topology's keyed source node that were re-keyed, repartitioned or rejected
   * because their Kafka key or partition was not their key field's (summed over tasks).
   */
  keyRouting(topology: string, node: string): KeyRoutingStats {
    const app = this.runner.apps.find((a) => a.name === topology)
    if (!app) throw new Error(`no topology ${topology}`)
    const sum: KeyRoutingStats = { rekeyed: 0, repartitioned: 0, rejected: 0 }
    for (const t of app.tasks) {
      const r = t.keyRouting.get(node)
      if (!r) continue
      sum.rekeyed += r.rekeyed
      sum.repartitioned += r.repartitioned
      sum.rejected += r.rejected
    }
    return sum
  }

  /** Current watermark of a topology. */
  watermark(topology: string): number {
    const app = this.runner.apps.find((a) => a.name === topology)
    if (!app) throw new Error(`no topology ${topology}`)
    return app.watermark()
  }

  /** Closes and reopens the topologies on the same log and state, as a process restart would. */
  async restart(): Promise<void> {
    await this.runner.close()
    await this.open()
  }

  async close(): Promise<void> {
    await this.runner.close()
  }

  private sourceFor(topic: string): { keyField?: string; timestampField?: string } | undefined {
    for (const t of this.topologies) for (const n of t.nodes) if (n.kind === 'source' && n.topic === topic) return n
    return undefined
  }
}
