import { join } from 'node:path'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { KeyValueBackend } from '../state/backend.ts'
import { MemoryBackend, RocksDbBackend } from '../state/backend.ts'
import { isExpired } from '../state/stores.ts'
import { TaskState } from '../state/task-state.ts'
import type { StoreSpec } from '../api/stores.ts'
import type { Plan, SubTopology } from './plan.ts'
import { compilePlan } from './plan.ts'
import type { Collector, ErrorPolicy } from './task.ts'
import { producePolicy } from './error-policy.ts'
import { Task } from './task.ts'
import { TimerQueue, timerBefore } from './timers.ts'
import type { Timer } from '../api/processor.ts'
import type { InputView } from './task-time.ts'

/** A task's own time, up to which its event-time timers are due (one function, not one per call). */
const ownTime = (t: Task): number => t.time.current

/** Where a runtime keeps task state: RocksDB under a directory, or shared in-memory maps. */
export type StateLocation = { kind: 'rocksdb'; dir: string } | { kind: 'memory'; maps: Map<string, Map<string, Buffer>> }

/** What an app needs to know about topics (partition counts), embedded or on Kafka. */
export interface TopicCatalog {
  partitions(topic: string): number
}

export interface AppOptions {
  topology: Topology
  config: HermesConfig
  topics: TopicCatalog
  state: StateLocation
  collector: Collector
  logger: Logger
  metrics?: HermesMetrics
  clock: () => number
  /** Overrides of the per-phase decisions from config (e.g. handler functions). */
  errorPolicy?: Partial<ErrorPolicy>
  /** Called before a task's state is opened (e.g. to wipe state left by an unclean stop). */
  beforeOpenTask?: (taskId: string) => void
  /**
   * Wraps each task's backend, e.g. to also write every committed change to changelog topics.
   * The wrapper's `write` is where a task's commit lands (one call per commit).
   */
  wrapBackend?: (task: { app: string; taskId: string; sub: SubTopology; partition: number; stores: ReadonlyMap<string, StoreSpec> }, backend: KeyValueBackend) => KeyValueBackend
  /** Fills a task's backend before it is opened (restore from changelog topics). */
  restore?: (task: { app: string; taskId: string; sub: SubTopology; partition: number; backend: KeyValueBackend; stores: ReadonlyMap<string, StoreSpec> }) => Promise<void>
}

/**
 * A running topology: its plan, one task per sub-topology partition, and its app clock. Event
 * time is per task ({@link Task.time}, see pipeline/runtime/task-time.ts): the minimum of the
 * watermarks of its input partitions, an idle partition following the app's idle clock, which
 * trails the app clock (the highest event time this process has processed for the app) by the
 * allowed out-of-orderness.
 */
export class AppRuntime {
  readonly name: string
  readonly plan: Plan
  readonly tasks: Task[] = []
  readonly dlqTopic: string
  /**
   * The app clock: the highest event time processed for the app, over all its tasks, from inputs
   * whose records carry event time: in this process, or by the processes that committed the
   * tasks it opened (each task saves the clock at its commits, and opening it raises the clock to
   * that). Without the latter, the process that owns a task at the end of the input, having not
   * read the latest records itself, never moves its idle partitions to where the app got, and
   * timers of that task's last `bound` of event time never fire (docs/chaos.md, "u125"). A task
   * restored after a rebalance still starts from its own saved time: its partitions are behind
   * until it has read what the group committed, and hold it there.
   */
  private maxTs = -Infinity
  /** `time.maxOutOfOrdernessMs`. */
  readonly bound: number
  private readonly opts: AppOptions

  private constructor(opts: AppOptions) {
    this.opts = opts
    this.name = opts.topology.name
    this.plan = compilePlan(opts.topology)
    this.dlqTopic = opts.config.errors.deadLetterTopic ?? `${this.name}.dlq`
    this.bound = opts.config.time.maxOutOfOrdernessMs
  }

  /** Compiles the topology, opens every task's state and timers, and calls the processors' init. */
  static async open(opts: AppOptions): Promise<AppRuntime> {
    const app = AppRuntime.create(opts)
    for (const sub of app.plan.subtopologies) {
      const partitions = app.partitionsOf(sub)
      for (let p = 0; p < partitions; p++) await app.addTask(sub, p)
    }
    return app
  }

  /** Compiles the topology, with no task yet (tasks come and go with partition assignments). */
  static create(opts: AppOptions): AppRuntime {
    return new AppRuntime(opts)
  }

  /** Opens the task of a sub-topology partition (state, timers, processors' init) and adds it. */
  async addTask(sub: SubTopology, partition: number): Promise<Task> {
    const task = await this.openTask(sub, partition)
    if (task.time.savedAppClock > this.maxTs) this.maxTs = task.time.savedAppClock
    task.init()
    this.tasks.push(task)
    return task
  }

  /** Closes a task (processors, then state) and removes it; commit it first to keep its work. */
  async removeTask(task: Task): Promise<void> {
    const i = this.tasks.indexOf(task)
    if (i < 0) return
    this.tasks.splice(i, 1)
    task.close()
    await task.state.close()
  }

  /** Number of tasks (= partitions) of a sub-topology; its keyed inputs must agree. */
  partitionsOf(sub: SubTopology): number {
    // A source's repartition topic of misplaced records is created with that source's partition
    // count (and checked at creation), and may not exist yet when this is first asked.
    const keyed = sub.sources.filter((s) => !s.broadcast && !s.rerouted)
    const counts = keyed.map((s) => [s.topic, this.opts.topics.partitions(s.topic)] as const)
    const first = counts[0] as readonly [string, number]
    const mismatch = counts.find(([, n]) => n !== first[1])
    if (mismatch) {
      throw new HermesError(
        'TOPOLOGY_INVALID',
        `topology ${this.name}: topics ${counts.map(([t, n]) => `${t} (${n} partitions)`).join(', ')} are read by the same keyed operators and must be co-partitioned; give them the same partition count (topics.overrides.<topic>.partitions)`,
      )
    }
    return first[1]
  }

  /**
   * The lowest time of the app's tasks: the one holding output back (the `hermes_watermark_ms`
   * gauge). -Infinity before anything, or without tasks.
   */
  watermark(): number {
    let min = Infinity
    for (const t of this.tasks) if (t.time.current < min) min = t.time.current
    return min === Infinity ? -Infinity : min
  }

  /** The app clock: the highest event time processed in this process (see {@link AppRuntime.maxTs}). */
  appClock(): number {
    return this.maxTs
  }

  /**
   * Takes the event time of a processed record of an input whose records carry event time
   * (`PlanSource.timed`) into account; returns true when the app clock moved.
   */
  observe(eventTime: number): boolean {
    if (eventTime > this.maxTs) {
      this.maxTs = eventTime
      return true
    }
    return false
  }

  /**
   * Moves every task's time (see pipeline/runtime/task-time.ts) from what the runner knows of
   * the input partitions. Idle partitions follow `app clock - bound`, or `wallClock` if later
   * (the Kafka runner passes it once every input has been idle long enough; embedded runs never).
   * `only`: the one task whose inputs changed, when neither the app clock nor the wall clock did
   * (what another task's inputs gained since can only hold it back, never move it). Returns
   * whether some task's time moved.
   */
  advanceTime<O extends Task>(view: InputView<O>, wallClock = -Infinity, only?: O): boolean {
    // Called once per record: no closure, no allocation.
    const idle = Math.max(this.maxTs - this.bound, wallClock)
    if (only) return this.advanceTask(only, view, wallClock, idle)
    let moved = false
    for (const t of this.tasks) if (this.advanceTask(t as O, view, wallClock, idle)) moved = true
    return moved
  }

  private advanceTask<O extends Task>(t: O, view: InputView<O>, wallClock: number, idle: number): boolean {
    // A task whose next record of ours is still on its way sees the app clock of when that
    // record was written (see InputView.appClock), as it would embedded.
    const c = view.appClock ? view.appClock(t) : Infinity
    if (c < this.maxTs) return t.time.advance(t, view, c, Math.max(c - this.bound, wallClock), this.bound)
    return t.time.advance(t, view, this.maxTs, idle, this.bound)
  }

  /** Whether some task has an event-time timer due at its own time. */
  hasDueEventTimers(): boolean {
    for (const t of this.tasks) if (t.timers.nextTime('event') <= t.time.current) return true
    return false
  }

  /**
   * Fires every task's event-time timers due at that task's own time, across tasks in (time,
   * key, name) order; `beforeFire` learns which task fires next. Timers registered while firing
   * are fired too when due.
   */
  fireEventTimers(beforeFire?: (task: Task) => void): number {
    return this.fireDue('event', ownTime, beforeFire)
  }

  /** Fires processing-time timers due at `now`, in (time, key, name) order. */
  fireProcessingTimers(now: number): number {
    return this.fireDue('processing', now)
  }

  /**
   * Fires the timers of `domain` due at `upTo` (one time for all tasks, or each task's own)
   * across tasks in (time, key, name) order; `beforeFire` learns which task fires next (the
   * Kafka runner routes its outputs by task).
   */
  fireDue(domain: 'event' | 'processing', upTo: number | ((task: Task) => number), beforeFire?: (task: Task) => void): number {
    let fired = 0
    for (;;) {
      let best: Task | undefined
      let head: (Timer & { node: string }) | undefined
      for (const t of this.tasks) {
        const h = t.timers.peek(domain)
        if (h && h.time <= (typeof upTo === 'number' ? upTo : upTo(t)) && (!head || timerBefore(h, head))) {
          head = h
          best = t
        }
      }
      if (!best) return fired
      beforeFire?.(best)
      best.fireNextTimer(domain, typeof upTo === 'number' ? upTo : upTo(best))
      fired++
    }
  }

  /** Commits every task (state, timers, positions, time). */
  async commit(): Promise<void> {
    for (const t of this.tasks) await t.commit()
  }

  /** Removes expired TTL and window entries from disk. */
  async sweep(): Promise<number> {
    let removed = 0
    for (const t of this.tasks) {
      const now = t.time.current
      for (const [store, spec] of t.state.keyedStores) {
        if (spec.kind !== 'window' && spec.ttlMs === undefined) continue
        for await (const [key, raw] of t.state.scanStore(store)) {
          if (isExpired(raw, spec, now)) {
            t.state.set(store, key, undefined)
            removed++
          }
        }
      }
    }
    return removed
  }

  async close(): Promise<void> {
    for (const t of this.tasks) t.close()
    for (const t of this.tasks) await t.state.close()
  }

  private async openTask(sub: SubTopology, partition: number): Promise<Task> {
    const taskId = `${sub.id}_${partition}`
    this.opts.beforeOpenTask?.(taskId)
    const keyed = new Map<string, StoreSpec>()
    const broadcast: string[] = []
    for (const n of sub.nodes) {
      if (n.kind !== 'process') continue
      for (const [name, spec] of Object.entries(n.stores)) keyed.set(`${n.id}.${name}`, spec)
      for (const name of Object.keys(n.broadcastStores)) broadcast.push(`${n.id}.${name}`)
    }
    const raw = await this.openBackend(taskId)
    if (this.opts.restore) {
      try {
        await this.opts.restore({ app: this.name, taskId, sub, partition, backend: raw, stores: keyed })
      } catch (err) {
        // A restore cut short (a Kafka failure) is followed by the runner opening the task again
        // in this process, and RocksDB refuses a directory this process still holds.
        await raw.close().catch(() => {})
        throw err
      }
    }
    const backend = this.opts.wrapBackend ? this.opts.wrapBackend({ app: this.name, taskId, sub, partition, stores: keyed }, raw) : raw
    const state = new TaskState(backend, keyed, broadcast, this.opts.config.runtime.cacheMaxEntries)
    await state.open()
    const timers = new TimerQueue()
    // Timers beyond the in-memory window are read from the backend, overlaid with what a commit has yet to write.
    await timers.load(backend, { unwritten: () => state.pendingRawOps() })
    const policy = this.opts.config.errors
    const metrics = this.opts.metrics
    return new Task({
      app: this.name,
      sub,
      partition,
      state,
      timers,
      collector: this.opts.collector,
      repartitionTopics: this.plan.repartitionTopics,
      partitions: this.partitionsOf(sub),
      keyMismatch: this.opts.config.runtime.keyMismatch,
      errorPolicy: { deserialize: policy.deserialize, process: policy.process, produce: producePolicy(policy), ...this.opts.errorPolicy },
      dlqTopic: this.dlqTopic,
      maxOutOfOrdernessMs: this.bound,
      clock: this.opts.clock,
      appClock: () => this.maxTs,
      time: this.opts.config.time,
      logger: this.opts.logger,
      onCount: metrics
        ? (node, event, labels, amount) => metrics.operatorEvents.inc({ app: this.name, node, event, ...(labels ?? {}) }, amount)
        : undefined,
    })
  }

  private async openBackend(taskId: string): Promise<KeyValueBackend> {
    const loc = this.opts.state
    if (loc.kind === 'rocksdb') return RocksDbBackend.open(join(loc.dir, this.name, taskId))
    const id = `${this.name}/${taskId}`
    let map = loc.maps.get(id)
    if (!map) {
      map = new Map()
      loc.maps.set(id, map)
    }
    return new MemoryBackend(map)
  }
}
