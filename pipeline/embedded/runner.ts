import { performance } from 'node:perf_hooks'
import type { Logger } from '../api/processor.ts'
import type { Headers } from '../api/record.ts'
import type { Topology } from '../api/topology.ts'
import { commitIntervalMs } from '../config/commit-interval.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { ErrorPolicy, RawRecord } from '../runtime/task.ts'
import type { Task } from '../runtime/task.ts'
import type { StateLocation } from '../runtime/app.ts'
import { AppRuntime } from '../runtime/app.ts'
import { MinHeap } from '../runtime/heap.ts'
import type { PlanSource } from '../runtime/plan.ts'
import type { InputView } from '../runtime/task-time.ts'
import { outputPartition } from '../runtime/partitioner.ts'
import type { EmbeddedLog, LogEntry } from './log.ts'

/** A reader of one topic partition on behalf of one task. */
interface Cursor {
  index: number
  app: AppRuntime
  task: Task
  source: PlanSource
  topic: string
  partition: number
  position: number
  inHeap: boolean
  headTs: number
  headSeq: number
  /** `topic:partition`, the task's position key. */
  tp: string
}

/** Progress of a run, as reported to `onProgress` and returned at the end. */
export interface RunStats {
  records: number
  timersFired: number
  commits: number
  deadLetters: number
  elapsedMs: number
  /** Sampled per-record processing latencies in microseconds (for percentiles). */
  latencySamplesUs: number[]
}

export interface EmbeddedRunnerOptions {
  topologies: Topology[]
  config: HermesConfig
  log: EmbeddedLog
  state: StateLocation
  logger: Logger
  metrics?: HermesMetrics
  clock?: () => number
  errorPolicy?: Partial<ErrorPolicy>
}

/** Every how many records the loop looks at the wall clock (commits, processing-time timers). */
const CLOCK_EVERY = 256
/** Every how many records one processing latency is sampled. */
const SAMPLE_EVERY = 64

function cursorBefore(a: Cursor, b: Cursor): boolean {
  if (a.headTs !== b.headTs) return a.headTs < b.headTs
  if (a.headSeq !== b.headSeq) return a.headSeq < b.headSeq
  return a.index < b.index
}

/**
 * Runs one or more topologies over one embedded log, in a single thread and a deterministic
 * order: the next record is always the one with the lowest (timestamp, append sequence) among
 * all partitions that some task reads, including records the run itself has just produced.
 * The same input therefore gives the same output, whatever the batch or commit boundaries.
 */
export class EmbeddedRunner {
  readonly apps: AppRuntime[] = []
  private readonly opts: EmbeddedRunnerOptions
  private readonly clock: () => number
  private readonly cursors: Cursor[] = []
  private readonly byTopicPartition = new Map<string, Cursor[][]>()
  /** Cursors with a record to read, by their head's (timestamp, append sequence). */
  private readonly heap = new MinHeap<Cursor>(cursorBefore)
  private readonly roundRobin = new Map<string, number>()
  /** Each task's keyed cursors by `topic:partition`, for {@link EmbeddedRunner.inputs}. */
  private readonly keyedCursors = new Map<Task, Map<string, Cursor>>()
  /**
   * What the tasks' time knows of their inputs: the log hands every record over at once, so a
   * partition is never behind, and its next record is its cursor's head.
   */
  private readonly inputs: InputView<Task> = {
    pending: (task, tp) => {
      // Asked for each input of a task in turn, for every task whose time may move, after every
      // record: the task's cursors are looked up once per run of questions about it.
      if (task !== this.pendingTask) {
        const mine = this.keyedCursors.get(task)
        if (mine === undefined) return Infinity
        this.pendingTask = task
        this.pendingCursors = mine
      }
      const c = (this.pendingCursors as Map<string, Cursor>).get(tp)
      return c?.inHeap ? c.headTs : Infinity
    },
    behind: () => false,
  }
  /** The task {@link inputs} last answered for, and its keyed cursors (fixed once the runner is open). */
  private pendingTask: Task | undefined
  private pendingCursors: Map<string, Cursor> | undefined
  private stopRequested = false
  private unsubscribe: () => void = () => {}
  private lastCommit = 0
  private sinceCommit = 0
  private lastSweep = 0

  private constructor(opts: EmbeddedRunnerOptions) {
    this.opts = opts
    this.clock = opts.clock ?? Date.now
  }

  /** Creates the topics, opens every app (state restored from the state location) and its cursors. */
  static async open(opts: EmbeddedRunnerOptions): Promise<EmbeddedRunner> {
    const runner = new EmbeddedRunner(opts)
    const { log, config } = opts
    const ensure = (topic: string, partitions = topicPartitions(config, topic)): void => {
      if (!log.hasTopic(topic)) log.createTopic(topic, partitions)
    }
    for (const topology of opts.topologies) {
      for (const n of topology.nodes) if (n.kind === 'source' || n.kind === 'sink') ensure(n.topic)
    }
    for (const topology of opts.topologies) {
      const app = await AppRuntime.open({
        topology,
        config,
        topics: {
          partitions: (topic) => {
            // Internal topics take the partition count of what feeds them.
            ensure(topic)
            return log.partitions(topic)
          },
        },
        state: opts.state,
        collector: { send: (topic, key, value, ts, headers) => runner.send(topic, key, value, ts, headers) },
        logger: opts.logger,
        metrics: opts.metrics,
        clock: runner.clock,
        errorPolicy: opts.errorPolicy,
      })
      ensure(app.dlqTopic, 1)
      // Where records read from a partition their key does not hash to go: as many partitions as
      // the topic they came from (records placed by the key field, as files are, never go there).
      for (const { topic, sourceTopic } of app.plan.sourceRepartitionTopics.values()) ensure(topic, log.partitions(sourceTopic))
      runner.apps.push(app)
    }
    runner.unsubscribe = log.onAppend((topic, partition) => runner.wake(topic, partition))
    for (const app of runner.apps) {
      for (const task of app.tasks) {
        for (const source of task.sub.sources) {
          const partitions = source.broadcast ? [...Array(log.partitions(source.topic)).keys()] : [task.partition]
          for (const p of partitions) {
            const cursor: Cursor = {
              index: runner.cursors.length,
              app,
              task,
              source,
              topic: source.topic,
              partition: p,
              position: task.positions.get(`${source.topic}:${p}`) ?? 0,
              inHeap: false,
              headTs: 0,
              headSeq: 0,
              tp: `${source.topic}:${p}`,
            }
            runner.cursors.push(cursor)
            if (!source.broadcast) {
              let mine = runner.keyedCursors.get(task)
              if (!mine) runner.keyedCursors.set(task, (mine = new Map()))
              mine.set(cursor.tp, cursor)
            }
            let perTopic = runner.byTopicPartition.get(source.topic)
            if (!perTopic) {
              perTopic = []
              runner.byTopicPartition.set(source.topic, perTopic)
            }
            ;(perTopic[p] ??= []).push(cursor)
            runner.wake(source.topic, p)
          }
        }
      }
    }
    runner.lastCommit = runner.clock()
    runner.lastSweep = runner.lastCommit
    return runner
  }

  /**
   * Moves event time to `eventTime` as if a record of that time had been read (none is): every
   * task's time follows, and the event-time timers that become due fire. For tools that drive a
   * world standing still after its run (the console's simulated events); replays never need it.
   * Returns the number of timers fired; run {@link run} afterwards to process what they produced.
   */
  advanceEventTime(eventTime: number): number {
    let fired = 0
    for (const app of this.apps) {
      app.observe(eventTime)
      app.advanceTime(this.inputs)
      if (app.hasDueEventTimers()) fired += app.fireEventTimers()
    }
    return fired
  }

  /** Asks a running {@link run} to stop after the current record (it still commits). */
  stop(): void {
    this.stopRequested = true
  }

  /**
   * Processes until every cursor is at the end of its partition and every event-time timer up to
   * the watermark has fired, committing along the way and at the end.
   */
  async run(options: { onProgress?: (stats: RunStats) => void; progressEvery?: number } = {}): Promise<RunStats> {
    const rt = this.opts.config.runtime
    const commitInterval = commitIntervalMs(rt, 'embedded')
    const stats: RunStats = { records: 0, timersFired: 0, commits: 0, deadLetters: 0, elapsedMs: 0, latencySamplesUs: [] }
    const started = performance.now()
    const progressEvery = options.progressEvery ?? 10_000
    const dlqBefore = this.deadLetters()
    this.stopRequested = false
    while (!this.stopRequested) {
      const cursor = this.heap.pop()
      if (!cursor) {
        // Inputs drained: processing-time timers that are due may still produce records.
        const now = this.clock()
        let fired = 0
        for (const app of this.apps) fired += app.fireProcessingTimers(now)
        stats.timersFired += fired
        if (this.heap.size === 0) break
        continue
      }
      // The cursor stays marked in-heap while its record is processed, so appends it causes do not re-add it.
      const entry = this.opts.log.read(cursor.topic, cursor.partition, cursor.position) as LogEntry
      const task = cursor.task
      if (!cursor.source.broadcast && !task.state.isLoaded(entry.key ?? '')) this.prefetch(task)
      const raw: RawRecord = {
        topic: cursor.topic,
        partition: cursor.partition,
        offset: cursor.position,
        key: entry.key,
        value: entry.value,
        timestamp: entry.timestamp,
        headers: entry.headers,
      }
      cursor.position++
      const sample = stats.records % SAMPLE_EVERY === 0
      const t0 = sample ? performance.now() : 0
      const eventTime = task.processRecord(cursor.source, raw, cursor.tp)
      const app = cursor.app
      // The cursor's next record first: the tasks' time depends on what is left to read.
      const head = this.opts.log.read(cursor.topic, cursor.partition, cursor.position)
      if (head) {
        cursor.headTs = head.timestamp
        cursor.headSeq = head.seq
        this.heap.push(cursor)
      } else {
        cursor.inHeap = false
      }
      if (!cursor.source.broadcast) {
        const clockMoved = cursor.source.timed && app.observe(eventTime)
        app.advanceTime(this.inputs, -Infinity, clockMoved ? undefined : task)
        // Also when no time moved: the record may have registered a timer in the past.
        if (app.hasDueEventTimers()) stats.timersFired += app.fireEventTimers()
      }
      if (sample) {
        const us = (performance.now() - t0) * 1000
        stats.latencySamplesUs.push(us)
        this.opts.metrics?.processLatency.observe({ app: app.name }, us / 1e6)
      }
      stats.records++
      this.sinceCommit++
      if (options.onProgress && stats.records % progressEvery === 0) {
        stats.elapsedMs = performance.now() - started
        stats.deadLetters = this.deadLetters() - dlqBefore
        options.onProgress(stats)
      }
      if (stats.records % CLOCK_EVERY === 0) {
        const now = this.clock()
        for (const a of this.apps) stats.timersFired += a.fireProcessingTimers(now)
        if (this.sinceCommit >= rt.commitEveryRecords || now - this.lastCommit >= commitInterval) {
          await this.commit()
          stats.commits++
        }
        if (now - this.lastSweep >= rt.sweepIntervalMs) {
          this.lastSweep = now
          for (const a of this.apps) await a.sweep()
        }
      } else if (this.sinceCommit >= rt.commitEveryRecords) {
        await this.commit()
        stats.commits++
      }
    }
    await this.commit()
    stats.commits++
    stats.elapsedMs = performance.now() - started
    stats.deadLetters = this.deadLetters() - dlqBefore
    options.onProgress?.(stats)
    return stats
  }

  /**
   * The commit, in order:
   * 1. the log: every record produced so far (outputs, repartition, dead letters) reaches disk;
   * 2. each task: state, timers, input positions and watermark in one atomic batch;
   * 3. metrics are brought up to date.
   * Outputs are durable before the positions that produced them, so a crash can repeat outputs
   * (at-least-once) but never lose one.
   */
  async commit(): Promise<void> {
    const t0 = performance.now()
    this.retainUnread()
    this.opts.log.flush()
    for (const app of this.apps) await app.commit()
    this.sinceCommit = 0
    this.lastCommit = this.clock()
    this.updateMetrics((performance.now() - t0) / 1000)
  }

  /** Records sent to dead-letter topics so far, over all apps. */
  deadLetters(): number {
    let n = 0
    for (const app of this.apps) for (const t of app.tasks) n += t.deadLettered()
    return n
  }

  async close(): Promise<void> {
    this.unsubscribe()
    for (const app of this.apps) await app.close()
  }

  /** Pushes the current in-memory counters into the metrics registry. */
  updateMetrics(commitSeconds?: number): void {
    const m = this.opts.metrics
    if (!m) return
    for (const app of this.apps) {
      if (commitSeconds !== undefined) m.commitLatency.observe({ app: app.name }, commitSeconds)
      let hits = 0
      let lookups = 0
      let entries = 0
      let timers = 0
      let bytes = 0
      for (const t of app.tasks) {
        bytes += t.state.backend.approximateSize()
        hits += t.state.stats.hits
        lookups += t.state.stats.hits + t.state.stats.misses
        entries += t.state.cacheSize()
        timers += t.timers.size()
        for (const [node, s] of t.stats) {
          const reported = this.reported(app.name, t.id, node)
          if (s.in > reported.in) m.records.inc({ app: app.name, node, direction: 'in' }, s.in - reported.in)
          if (s.out > reported.out) m.records.inc({ app: app.name, node, direction: 'out' }, s.out - reported.out)
          if (s.errors > reported.errors) m.nodeErrors.inc({ app: app.name, node }, s.errors - reported.errors)
          reported.in = s.in
          reported.out = s.out
          reported.errors = s.errors
        }
      }
      m.cacheHitRatio.set({ app: app.name }, lookups ? hits / lookups : 1)
      m.stateEntries.set({ app: app.name }, entries)
      m.stateBytes.set({ app: app.name }, bytes)
      m.timersPending.set({ app: app.name }, timers)
      const wm = app.watermark()
      if (Number.isFinite(wm)) m.watermark.set({ app: app.name }, wm)
      for (const t of app.tasks) if (Number.isFinite(t.time.current)) m.taskTime.set({ app: app.name, task: t.id }, t.time.current)
    }
    for (const c of this.cursors) {
      m.lag.set({ app: c.app.name, topic: c.topic, partition: String(c.partition) }, this.opts.log.endOffset(c.topic, c.partition) - c.position)
    }
    const dlq = this.deadLetters()
    if (dlq > this.reportedDlq) {
      m.deadLetters.inc({ app: 'all' }, dlq - this.reportedDlq)
      this.reportedDlq = dlq
    }
  }

  private reportedDlq = 0
  private readonly taskCursors = new Map<Task, Cursor[]>()
  private readonly reportedStats = new Map<string, { in: number; out: number; errors: number }>()

  private reported(app: string, task: string, node: string): { in: number; out: number; errors: number } {
    const k = `${app}\u0000${task}\u0000${node}`
    let r = this.reportedStats.get(k)
    if (!r) {
      r = { in: 0, out: 0, errors: 0 }
      this.reportedStats.set(k, r)
    }
    return r
  }

  /**
   * Tells the log where this runner's readers stand, so a flush keeps what they have still to
   * read in memory (inputs loaded ahead of the run, a lagging topology) instead of letting it go
   * and reading it back from the file.
   */
  private retainUnread(): void {
    const lowest = new Map<string, { topic: string; partition: number; position: number }>()
    for (const c of this.cursors) {
      const at = lowest.get(c.tp)
      if (!at) lowest.set(c.tp, { topic: c.topic, partition: c.partition, position: c.position })
      else at.position = Math.min(at.position, c.position)
    }
    for (const { topic, partition, position } of lowest.values()) this.opts.log.retainFrom(topic, partition, position)
  }

  /** Collector: appends an output record to the log, partitioned by key as Kafka would. */
  private send(topic: string, key: string | null, value: Buffer | null, ts: number, headers?: Headers): void {
    const log = this.opts.log
    if (!log.hasTopic(topic)) log.createTopic(topic, topicPartitions(this.opts.config, topic))
    const partitions = log.partitions(topic)
    const partition = outputPartition(topic, key, partitions, this.roundRobin)
    log.append(topic, partition, key, value, ts, headers)
  }

  /** Loads the state of the next records of this task's keyed inputs with one multi-get. */
  private prefetch(task: Task): void {
    const limit = this.opts.config.runtime.prefetchRecords
    let mine = this.taskCursors.get(task)
    if (!mine) {
      mine = this.cursors.filter((c) => c.task === task && !c.source.broadcast)
      this.taskCursors.set(task, mine)
    }
    const per = Math.max(1, Math.floor(limit / Math.max(1, mine.length)))
    const keys: string[] = []
    for (const c of mine) {
      const end = Math.min(this.opts.log.endOffset(c.topic, c.partition), c.position + per)
      for (let o = c.position; o < end; o++) keys.push((this.opts.log.read(c.topic, c.partition, o) as LogEntry).key ?? '')
    }
    task.state.prefetch(keys)
  }

  /** Puts a cursor that has data into the heap (after an append or at start). */
  private wake(topic: string, partition: number): void {
    const list = this.byTopicPartition.get(topic)?.[partition]
    if (!list) return
    for (const c of list) {
      if (c.inHeap) continue
      const head = this.opts.log.read(c.topic, c.partition, c.position)
      if (!head) continue
      c.headTs = head.timestamp
      c.headSeq = head.seq
      c.inHeap = true
      this.heap.push(c)
    }
  }
}
