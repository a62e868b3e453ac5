import type { Kafka } from 'kafkajs'
import type { Logger } from '../api/processor.ts'
import type { Topology } from '../api/topology.ts'
import { isExactlyOnce } from '../config/commit-interval.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { AppOptions, StateLocation } from '../runtime/app.ts'
import { AppRuntime } from '../runtime/app.ts'
import type { PlanSource, SubTopology } from '../runtime/plan.ts'
import type { Collector, ErrorPolicy, Task } from '../runtime/task.ts'
import type { KafkaAdmin, TopicSpec } from './admin.ts'
import { advertisedQueryAddress, coPartitionAssigner, mergeGroups } from './assigner.ts'
import type { TopicPartitions } from './assigner.ts'
import { BroadcastReader } from './broadcast.ts'
import type { ChangelogRecord } from './changelog.ts'
import { ChangelogBackend, changelogTopic, changelogTopics, restoreChangelogs, timersChangelogTopic } from './changelog.ts'
import type { ChangelogOffsets, TaskStateDir } from './checkpoint.ts'
import type { ConsumerTimings } from './client.ts'
import { describeKafkaError } from './client.ts'
import { InFlightTimes } from './in-flight.ts'
import { IdleClock, KafkaInputView } from './input-time.ts'
import type { GroupMetadata } from './kip447.ts'
import type { KafkaMetrics } from './metrics.ts'
import { RestoreBatch } from './restore-batch.ts'
import type { KafkaSink } from './sink.ts'
import type { PartitionBuffer } from './source.ts'
import { KafkaSource, valuePreparer } from './source.ts'

/** What a {@link KafkaApp} shares with the runner and the other applications. */
export interface KafkaAppDeps {
  kafka: Kafka
  admin: KafkaAdmin
  sink: KafkaSink
  config: HermesConfig
  state: StateLocation
  stateDir: TaskStateDir
  logger: Logger
  metrics?: HermesMetrics
  kafkaMetrics?: KafkaMetrics
  clock: () => number
  errorPolicy?: Partial<ErrorPolicy>
  timings: ConsumerTimings
  maxBuffered: number
  maxBytesPerPartition: number
  onData: () => void
  /** exactly_once_v2: this process' id (process-id.ts); the app's transactional id is `<app>-<processId>`. */
  processId?: string
}

/** A task reading a keyed input partition (two sub-topologies may read the same partition). */
export interface Owner {
  task: Task
  source: PlanSource
  /** Transaction owner of the task's outputs (see {@link KafkaApp.ownerOf}). */
  id: string
}

interface GroupCommit {
  partition: number
  records: ChangelogRecord[]
  arrived: number
  waiters: Array<{ resolve: (o: ChangelogOffsets) => void; reject: (err: unknown) => void }>
}

/** exactly_once_v2: the app's commit, gathering every task's changelog records. */
interface AppCommit {
  tasks: Array<{ task: Task; partition: number; records: ChangelogRecord[]; resolve: (o: ChangelogOffsets) => void; reject: (err: unknown) => void }>
}

/** The keyed (non-broadcast) input topics of a sub-topology: what its tasks are assigned by. */
function keyedTopics(sub: SubTopology): string[] {
  return sub.sources.filter((s) => !s.broadcast).map((s) => s.topic)
}

/**
 * One topology on Kafka: its runtime, its consumer group (`groupId` = topology name), the tasks of
 * the partitions assigned to this instance, and the hooks that give each task changelogged state
 * (wipe without a checkpoint, restore, write-through to changelogs).
 */
export class KafkaApp {
  /** The runtime; replaced by {@link KafkaApp.reset}. */
  app: AppRuntime
  readonly groupId: string
  source!: KafkaSource
  broadcast: BroadcastReader | null = null
  /** Keyed input partition to the tasks reading it. */
  readonly owners = new Map<string, Owner[]>()
  readonly taskBuffers = new Map<Task, PartitionBuffer[]>()
  readonly broadcastCursors = new Map<Task, Map<string, number>>()
  readonly inFlight = new InFlightTimes()
  /** What the tasks' time knows of their input partitions. */
  readonly inputView = new KafkaInputView(this)
  /** The wall-clock part of the app's idle clock (`time.idleTimeoutMs`). */
  readonly idleClock: IdleClock
  pendingAssignment: TopicPartitions | null = null
  /** The group metadata of {@link KafkaApp.pendingAssignment}. */
  private pendingGroup: GroupMetadata = { generationId: -1, memberId: '' }
  /** exactly_once_v2: the group metadata of the assignment the tasks were opened under, which their offset commits carry. */
  private group: GroupMetadata = { generationId: -1, memberId: '' }
  joined = false
  /** An assignment is being applied: tasks opening, state restoring. */
  restoring = false
  private lastAssignment: TopicPartitions | null = null
  private readonly options: AppOptions
  private readonly deps: KafkaAppDeps
  private readonly committedOffsets = new Map<string, number>()
  private readonly restored = new Map<string, ChangelogOffsets>()
  private readonly restores: RestoreBatch
  /** Lowest sub-topology id of the group of sub-topologies that share input topics, by sub id. */
  private readonly groupLeader = new Map<number, number>()
  private readonly groupCommits = new Map<string, GroupCommit>()
  private appCommit: AppCommit | null = null
  private readonly v2: boolean

  constructor(topology: Topology, deps: KafkaAppDeps, collector: Collector) {
    this.deps = deps
    this.v2 = deps.config.runtime.guarantee === 'exactly_once_v2'
    this.groupId = topology.name
    this.idleClock = new IdleClock(deps.config.time.idleTimeoutMs, deps.logger)
    // The tasks opened together share one restore consumer.
    this.restores = new RestoreBatch(async (targets) => {
      const result = await restoreChangelogs({ kafka: deps.kafka, admin: deps.admin, targets, logger: deps.logger, metrics: deps.kafkaMetrics, timings: deps.timings })
      for (const [taskId, offsets] of result) this.restored.set(taskId, offsets)
      return result
    })
    const options: AppOptions = {
      topology,
      config: deps.config,
      topics: { partitions: (topic) => deps.admin.partitions(topic) },
      state: deps.state,
      collector,
      logger: deps.logger,
      clock: deps.clock,
      beforeOpenTask: (taskId) => this.beforeOpen(taskId),
      restore: (t) => this.restores.request({ app: t.app, taskId: t.taskId, partition: t.partition, backend: t.backend, topics: changelogTopics(t.app, t.sub.id, t.stores), from: deps.stateDir.read(t.app, t.taskId) }),
      wrapBackend: (t, raw) =>
        new ChangelogBackend(
          raw,
          t.taskId,
          changelogTopics(t.app, t.sub.id, t.stores),
          (taskId, records) => this.commitTask(taskId, t.partition, records),
          { ...(this.restored.get(t.taskId) ?? {}) },
          (offsets) => deps.stateDir.write(t.app, t.taskId, offsets),
        ),
    }
    if (deps.metrics) options.metrics = deps.metrics
    if (deps.errorPolicy) options.errorPolicy = deps.errorPolicy
    this.options = options
    this.app = AppRuntime.create(options)
    for (const group of mergeGroups(this.app.plan.subtopologies.map(keyedTopics))) {
      const subs = this.app.plan.subtopologies.filter((sub) => keyedTopics(sub).some((t) => group.includes(t)))
      const leader = Math.min(...subs.map((sub) => sub.id))
      for (const sub of subs) this.groupLeader.set(sub.id, leader)
    }
  }

  get name(): string {
    return this.app.name
  }

  /** Topics to create before anything else (inputs, outputs, dead letters, repartition topics). */
  topicSpecs(): TopicSpec[] {
    const { config } = this.deps
    const specs: TopicSpec[] = []
    for (const n of this.app.plan.topology.nodes) {
      if (n.kind === 'source' && n.cleanup) specs.push({ topic: n.topic, partitions: topicPartitions(config, n.topic), cleanup: n.cleanup })
      else if (n.kind === 'source' || n.kind === 'sink') specs.push({ topic: n.topic, partitions: topicPartitions(config, n.topic) })
    }
    for (const topic of this.app.plan.repartitionTopics.values()) specs.push({ topic, partitions: topicPartitions(config, topic), strict: true, keepForever: true })
    // The dead-letter topic: one partition unless configured.
    specs.push({ topic: this.app.dlqTopic, partitions: config.topics.overrides[this.app.dlqTopic]?.partitions ?? 1, appendTime: true })
    return specs
  }

  /**
   * Topics whose partition count comes from the inputs, so called once the inputs exist:
   * changelogs (compacted, one partition per task), and each keyed source's repartition topic
   * of misplaced records (as many partitions as the source topic, so that it is co-partitioned
   * with it; kept until consumed, as keyBy's).
   */
  changelogSpecs(): TopicSpec[] {
    const specs: TopicSpec[] = []
    for (const { topic, sourceTopic } of this.app.plan.sourceRepartitionTopics.values()) {
      specs.push({ topic, partitions: this.deps.admin.partitions(sourceTopic), strict: true, keepForever: true })
    }
    for (const sub of this.app.plan.subtopologies) {
      const partitions = this.app.partitionsOf(sub)
      specs.push({ topic: timersChangelogTopic(this.name, sub.id), partitions, compacted: true, strict: true })
      for (const n of sub.nodes) {
        if (n.kind !== 'process') continue
        for (const [name, spec] of Object.entries(n.stores)) {
          if (spec.changelog !== false) specs.push({ topic: changelogTopic(this.name, `${n.id}.${name}`), partitions, compacted: true, strict: true })
        }
      }
    }
    return specs
  }

  /** Reads the broadcast topics (if any) and joins the consumer group. */
  async start(): Promise<void> {
    const plan = this.app.plan
    if (this.v2) {
      if (!this.deps.processId) throw new Error('exactly_once_v2 needs a process id')
      await this.deps.sink.openApp(this.name, `${this.name}-${this.deps.processId}`)
    }
    const prepare = valuePreparer(plan.subtopologies.flatMap((sub) => sub.sources))
    const broadcastTopics = [...new Set(plan.subtopologies.flatMap((s) => s.sources.filter((x) => x.broadcast).map((x) => x.topic)))]
    if (broadcastTopics.length) {
      this.broadcast = new BroadcastReader(this.deps.kafka, broadcastTopics, this.deps.admin, this.deps.logger, this.deps.timings, this.name, this.deps.onData, prepare)
      await this.broadcast.start()
    }
    this.source = new KafkaSource(this.deps.kafka, {
      groupId: this.groupId,
      topics: [...new Set(plan.subtopologies.flatMap(keyedTopics))],
      // The query address goes into the group metadata, so the console finds a key's owner.
      assigner: coPartitionAssigner(plan.subtopologies.map(keyedTopics), { queryAddress: advertisedQueryAddress(this.deps.config.observability.http) }),
      timings: this.deps.timings,
      logger: this.deps.logger,
      maxBuffered: this.deps.maxBuffered,
      maxBytesPerPartition: this.deps.maxBytesPerPartition,
      clock: this.deps.clock,
      onAssignment: (assignment, group) => {
        this.pendingAssignment = assignment
        this.pendingGroup = group
        this.lastAssignment = assignment
        this.joined = true
        this.deps.kafkaMetrics?.rebalances.inc({ app: this.name })
        this.deps.onData()
      },
      onData: this.deps.onData,
      ...(prepare ? { prepare } : {}),
    })
    await this.source.start()
  }

  /**
   * Who owns a task's outputs and transaction: `<app>/<taskId>`, where sub-topologies that read
   * the same topic share the task id of the first of them. They see the same records and commit
   * the same input offsets, so with exactly-once they must commit in one transaction.
   */
  ownerOf(task: { sub: SubTopology; partition: number }): string {
    return `${this.name}/${this.groupLeader.get(task.sub.id) ?? task.sub.id}_${task.partition}`
  }

  /**
   * Applies the latest assignment: drops the tasks of partitions that went away (their
   * uncommitted work is redone by the next owner), keeps the others where they are, and opens
   * the new ones: fence (exactly-once), restore, then start at the committed offsets.
   */
  async applyAssignment(): Promise<void> {
    const assignment = this.pendingAssignment
    if (!assignment) return
    this.pendingAssignment = null
    this.group = this.pendingGroup
    this.restoring = true
    try {
      await this.assign(assignment)
    } finally {
      this.restoring = false
    }
  }

  private async assign(assignment: TopicPartitions): Promise<void> {
    const desired = new Map<string, { sub: SubTopology; partition: number }>()
    for (const sub of this.app.plan.subtopologies) {
      for (const topic of keyedTopics(sub)) for (const p of assignment[topic] ?? []) desired.set(`${sub.id}_${p}`, { sub, partition: p })
    }
    const revoked = this.app.tasks.filter((t) => !desired.has(t.id))
    for (const t of revoked) await this.dropTask(t, 'revoked')
    // A partition kept through a join is behind until it reaches the end read now, as a new one
    // is: after a broker restart the consumer rejoins without a reset, and the end it knew from
    // before the outage made a partition whose records were written meanwhile look caught up.
    const keptTopics = [...new Set([...this.taskBuffers.values()].flatMap((bufs) => bufs.map((b) => b.topic)))]
    const keptEnds = new Map(await Promise.all(keptTopics.map(async (t) => [t, await this.deps.admin.offsets(t)] as const)))
    for (const bufs of this.taskBuffers.values()) for (const b of bufs) this.source.accept(b.topic, b.partition, b.fetched, Math.max(b.end, keptEnds.get(b.topic)?.get(b.partition)?.high ?? 0), b.internal)
    const current = new Set(this.app.tasks.map((t) => t.id))
    const added = [...desired].filter(([id]) => !current.has(id)).map(([, v]) => v)
    if (added.length) await this.addTasks(added)
    this.deps.kafkaMetrics?.assignedTasks.set({ app: this.name }, this.app.tasks.length)
    this.deps.logger.info({ app: this.name, tasks: this.app.tasks.map((t) => t.id).sort(), added: added.map((a) => `${a.sub.id}_${a.partition}`), revoked: revoked.map((t) => t.id) }, 'partitions assigned')
  }

  private async addTasks(added: Array<{ sub: SubTopology; partition: number }>): Promise<void> {
    const { admin, sink } = this.deps
    const owners = [...new Set(added.map((a) => this.ownerOf(a)))]
    await Promise.all(owners.map((o) => sink.openTask(o, o.replace('/', '-'))))
    const topics = [...new Set(added.flatMap((a) => keyedTopics(a.sub)))]
    // exactly_once_v2: no producer of a previous owner is fenced here, so the committed offsets
    // are read (require_stable: they wait for a transaction of the previous owner with offsets of
    // these partitions pending) before the changelogs are restored, so the restore reads that
    // transaction's records if it commits. Every v2 transaction carries the offsets of all its
    // app's tasks, so one that wrote a task's changelog is such a transaction, or is refused.
    const early = this.v2 ? await admin.committed(this.groupId, topics) : undefined
    this.restores.expect(added.length)
    let tasks: Task[]
    try {
      tasks = await Promise.all(added.map((a) => this.app.addTask(a.sub, a.partition)))
    } catch (err) {
      this.restores.fail(err)
      throw err
    }
    // Read after the fencing above: a previous owner's transaction is finished by now.
    const committed = early ?? (await admin.committed(this.groupId, topics))
    const ends = new Map(await Promise.all(topics.map(async (t) => [t, await admin.offsets(t)] as const)))
    for (const task of tasks) {
      const bufs: PartitionBuffer[] = []
      const starts: { [tp: string]: { start: number; committed?: number; local?: number } } = {}
      for (const s of task.sub.sources) {
        if (s.broadcast) continue
        const tp = `${s.topic}:${task.partition}`
        const range = ends.get(s.topic)?.get(task.partition) ?? { low: 0, high: 0 }
        const start = Math.max(committed.get(tp) ?? range.low, task.positions.get(tp) ?? 0, range.low)
        starts[tp] = { start, committed: committed.get(tp), local: task.positions.get(tp) }
        // The task's position is where it starts: a local state older than the group's commit
        // (another instance processed since, or this one crashed before writing its last commit
        // locally) must not stay the task's position, or the next commit (before a record of
        // this partition arrives, e.g. when the input is quiet) would move the group's offset back
        // to it, and the next owner would process again what the changelogs already hold.
        task.positions.set(tp, start)
        this.committedOffsets.set(tp, start)
        const list = this.owners.get(tp) ?? []
        list.push({ task, source: s, id: this.ownerOf(task) })
        list.sort((x, y) => x.task.sub.id - y.task.sub.id)
        this.owners.set(tp, list)
        bufs.push(this.source.accept(s.topic, task.partition, start, range.high, s.internal, !s.timed))
      }
      this.taskBuffers.set(task, bufs)
      this.broadcastCursors.set(task, new Map())
      // Where each input resumes, and why (the group's commit or the local state's own position).
      this.deps.logger.info({ app: this.name, task: task.id, starts }, 'task resumes its inputs')
    }
  }

  /**
   * exactly_once (v1), after `task` was dropped because a producer with its transactional id
   * fenced its own: whether the group still gives the task's partitions to this member, in which
   * case it is opened again at the next {@link KafkaApp.applyAssignment} (its new producer fences
   * the other one in turn). The other producer may be a stale owner: an instance that applied an
   * older assignment after this one had applied the newer (under load an assignment can take
   * seconds to apply, and a newer one arrive meanwhile), and whose first transaction fenced the
   * task's rightful owner here. Without this, the task's partitions stayed unprocessed until the
   * next rebalance, which nothing triggers in a stable group (Kafka Streams, after a
   * TaskMigratedException, closes the task and rejoins the group for the same reason). The group
   * coordinator is asked rather than this member's last assignment trusted, so that a member
   * which missed a rebalance does not fence the task's new owner back. Null (rebalancing, or
   * this member not in the group) means an assignment is coming: it reopens the task if it is ours.
   */
  async reclaimFenced(task: Task): Promise<boolean> {
    const last = this.lastAssignment
    const holds = (a: Record<string, number[]> | null): boolean => !!a && keyedTopics(task.sub).every((t) => a[t]?.includes(task.partition) ?? false)
    if (this.pendingAssignment || !holds(last)) return false
    let given: Record<string, number[]> | null
    try {
      given = await this.deps.admin.memberAssignment(this.groupId, this.pendingGroup.memberId)
    } catch (err) {
      // Unknown: reopening is the safe side (fencing keeps the outputs exactly once; a task
      // left closed stalls its partitions).
      this.deps.logger.warn({ app: this.name, task: task.id, err: describeKafkaError(err) }, 'could not ask the group coordinator who holds a fenced task; opening it again')
      given = last
    }
    if (!holds(given) || this.pendingAssignment) return false
    this.pendingAssignment = last
    return true
  }

  /** Closes a task without committing; its partitions are forgotten. */
  async dropTask(task: Task, reason: 'revoked' | 'fenced' | 'reset'): Promise<void> {
    await this.app.removeTask(task)
    for (const b of this.taskBuffers.get(task) ?? []) {
      const left = (this.owners.get(b.tp) ?? []).filter((o) => o.task !== task)
      if (left.length) {
        this.owners.set(b.tp, left)
        continue
      }
      this.source.drop(b.tp)
      this.owners.delete(b.tp)
      this.inFlight.clear(b.tp)
    }
    this.taskBuffers.delete(task)
    this.broadcastCursors.delete(task)
    const owner = this.ownerOf(task)
    if (!this.app.tasks.some((t) => this.ownerOf(t) === owner)) await this.deps.sink.closeTask(owner)
    this.deps.logger.info({ app: this.name, task: task.id, reason }, 'task closed')
  }

  /**
   * Throws away everything since the last commit (after a Kafka failure in the middle of one):
   * closes every task without committing and starts a new runtime (so the tasks' time, too,
   * comes back from the committed state); the tasks are opened again from their committed state and
   * offsets at the next {@link KafkaApp.applyAssignment}, as after a restart.
   */
  async reset(): Promise<void> {
    for (const t of [...this.app.tasks]) await this.dropTask(t, 'reset')
    this.app = AppRuntime.create(this.options)
    this.idleClock.reset()
    this.inFlight.reset()
    this.committedOffsets.clear()
    this.groupCommits.clear()
    this.appCommit = null
    if (this.lastAssignment) this.pendingAssignment = this.lastAssignment
  }

  /** Input positions of a task's keyed partitions (`positions`, default its current ones) that moved since the last commit. */
  changedOffsets(task: Task, positions: ReadonlyMap<string, number> = task.positions): Array<{ topic: string; partition: number; offset: number }> {
    const out: Array<{ topic: string; partition: number; offset: number }> = []
    for (const b of this.taskBuffers.get(task) ?? []) {
      const pos = positions.get(b.tp)
      if (pos !== undefined && pos !== this.committedOffsets.get(b.tp)) out.push({ topic: b.topic, partition: b.partition, offset: pos })
    }
    return out
  }

  /** Committed offsets of the repartition partitions of this instance's tasks: what may be deleted. */
  consumedRepartition(): Array<{ topic: string; partition: number; offset: number }> {
    const out: Array<{ topic: string; partition: number; offset: number }> = []
    for (const [tp, owners] of this.owners) {
      const b = this.source.buffers.get(tp)
      const offset = this.committedOffsets.get(tp)
      if (b?.internal && offset !== undefined && owners.length) out.push({ topic: b.topic, partition: b.partition, offset })
    }
    return out
  }

  /**
   * At-least-once: commits the input offsets of every task to the group (after the state):
   * `positions`, the tasks' positions when the commit began (the loop processes on while it is
   * written), else their current ones.
   */
  async commitOffsets(positions?: ReadonlyMap<Task, ReadonlyMap<string, number>>): Promise<void> {
    if (isExactlyOnce(this.deps.config.runtime.guarantee) || !this.source) return
    const offsets = this.app.tasks.flatMap((t) => this.changedOffsets(t, positions?.get(t)))
    if (await this.source.commit(offsets)) for (const o of offsets) this.committedOffsets.set(`${o.topic}:${o.partition}`, o.offset)
  }

  /**
   * Commit step of a task before its local state is written. With exactly-once, the tasks of one
   * owner (see {@link KafkaApp.ownerOf}) all commit at once: their records are gathered and go out
   * in one transaction when the last of them arrives.
   */
  private commitTask(taskId: string, partition: number, records: ChangelogRecord[]): Promise<ChangelogOffsets> {
    const task = this.app.tasks.find((t) => t.id === taskId)
    if (this.v2 && task) return this.commitInAppTransaction(task, partition, records)
    const owner = task ? this.ownerOf(task) : `${this.name}/${taskId}`
    if (this.deps.config.runtime.guarantee !== 'exactly_once' || !task) {
      return this.deps.sink.commitTask(this.name, owner, partition, records, { groupId: this.groupId, offsets: [] })
    }
    let g = this.groupCommits.get(owner)
    if (!g) this.groupCommits.set(owner, (g = { partition, records: [], arrived: 0, waiters: [] }))
    g.records.push(...records)
    g.arrived++
    const done = new Promise<ChangelogOffsets>((resolve, reject) => (g as GroupCommit).waiters.push({ resolve, reject }))
    const members = this.app.tasks.filter((t) => this.ownerOf(t) === owner)
    if (g.arrived >= members.length) {
      this.groupCommits.delete(owner)
      const seen = new Set<string>()
      const offsets = members.flatMap((t) => this.changedOffsets(t)).filter((o) => !seen.has(`${o.topic}:${o.partition}`) && seen.add(`${o.topic}:${o.partition}`))
      const group = g
      this.deps.sink.commitTask(this.name, owner, partition, group.records, { groupId: this.groupId, offsets }).then(
        (written) => {
          for (const o of offsets) this.committedOffsets.set(`${o.topic}:${o.partition}`, o.offset)
          for (const w of group.waiters) w.resolve(written)
        },
        (err: unknown) => {
          for (const w of group.waiters) w.reject(err)
        },
      )
    }
    return done
  }

  /**
   * exactly_once_v2: every task of the app commits in one transaction of the app's producer, when
   * the last of them arrives. It carries the input positions of all the tasks, changed or not,
   * under the group metadata of the assignment they were opened under (see addTasks).
   */
  private commitInAppTransaction(task: Task, partition: number, records: ChangelogRecord[]): Promise<ChangelogOffsets> {
    const c = (this.appCommit ??= { tasks: [] })
    const done = new Promise<ChangelogOffsets>((resolve, reject) => c.tasks.push({ task, partition, records, resolve, reject }))
    if (c.tasks.length < this.app.tasks.length) return done
    this.appCommit = null
    // One offset per input partition (sub-topologies reading one partition share it), the first
    // task's, in task order; by `topic:partition` (PartitionBuffer.tp), not a scan per buffer.
    const byTp = new Map<string, { topic: string; partition: number; offset: number }>()
    for (const t of this.app.tasks) {
      for (const b of this.taskBuffers.get(t) ?? []) {
        const pos = t.positions.get(b.tp)
        if (pos !== undefined && !byTp.has(b.tp)) byTp.set(b.tp, { topic: b.topic, partition: b.partition, offset: pos })
      }
    }
    const offsets = [...byTp.values()]
    this.deps.sink.commitApp(this.name, c.tasks, { groupId: this.groupId, offsets, group: this.group }).then(
      (written) => {
        for (const o of offsets) this.committedOffsets.set(`${o.topic}:${o.partition}`, o.offset)
        c.tasks.forEach((t, i) => t.resolve(written[i] ?? {}))
      },
      (err: unknown) => {
        for (const t of c.tasks) t.reject(err)
      },
    )
    return done
  }

  /** Fails commits still gathering their group's tasks (another task of the commit failed first). */
  failPendingCommits(err: unknown): void {
    for (const g of this.groupCommits.values()) for (const w of g.waiters) w.reject(err)
    this.groupCommits.clear()
    for (const t of this.appCommit?.tasks ?? []) t.reject(err)
    this.appCommit = null
  }

  private beforeOpen(taskId: string): void {
    const { stateDir, logger } = this.deps
    if (stateDir.read(this.name, taskId)) return
    if (stateDir.hasState(this.name, taskId)) logger.warn({ app: this.name, task: taskId }, 'local state has no clean checkpoint: wiping it and restoring from the changelogs')
    stateDir.wipe(this.name, taskId)
  }
}
