import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToIo } from 'node:timers/promises'
import type { Kafka } from 'kafkajs'
import { HermesError } from '../api/errors.ts'
import type { Headers } from '../api/record.ts'
import { isExactlyOnce } from '../config/commit-interval.ts'
import { outputPartition } from '../runtime/partitioner.ts'
import type { Task } from '../runtime/task.ts'
import { KafkaAdmin, withBroadcastCleanup, withConfiguredCleanup } from './admin.ts'
import { taskStateDir } from './checkpoint.ts'
import { createKafkaClient, describeKafkaError, isFenced, isRecoverable } from './client.ts'
import { feedBroadcast } from './broadcast.ts'
import { NON_RETRIABLE_REPEATS, OutageTracker } from './failures.ts'
import { HoldScope } from './hold-scope.ts'
import { KafkaApp } from './kafka-app.ts'
import type { Owner } from './kafka-app.ts'
import { duringCommit, joining } from './kip447.ts'
import { KafkaMetrics, LATENCY_SAMPLE_EVERY, observeProcessLatency, updateRunnerMetrics } from './metrics.ts'
import { nextRecord } from './next-record.ts'
import { processId } from './process-id.ts'
import type { KafkaRunStats, KafkaRunnerOptions, KafkaRunnerSettings } from './options.ts'
import { resolveRunnerSettings } from './options.ts'
import { BATCH_OVERHEAD, fitDeadLetter, singleRecordBatchBytes } from './record-size.ts'
import { KafkaSink } from './sink.ts'
import { buffered } from './source.ts'

/** Records processed in one go before the loop lets kafkajs do its I/O. */
const CHUNK = 2000
/** ...or milliseconds. */
const CHUNK_MS = 20
/**
 * A loop with nothing left to process, send or acknowledge commits this long after its last
 * commit, without waiting for the interval: a quiet pipeline's offsets and changelogs do not
 * trail by `commitIntervalMs`, and a steady trickle (a tick of events every 20 ms) does not
 * commit at every gap.
 */
const IDLE_COMMIT_MS = 1000
/**
 * exactly_once_v2: a loop turn that processed nothing commits this long after the last commit,
 * without waiting for the interval: its outputs (and records bound for its own inputs) are
 * readable only once committed, and the loop has nothing better to do (it goes on while the
 * commit is written). At a steady 10k events/s the bench topology's p50 went 284/312 → 245/164 ms;
 * in a backlog the loop is rarely idle (200k events: 22–26 commits either way).
 */
const QUIET_COMMIT_MS = 30
/** How often consumed records of repartition topics are deleted. */
const PURGE_EVERY_MS = 30_000
/**
 * Runs topologies on Kafka, mirroring the embedded runner: one thread, records taken from the
 * buffered heads of all assigned partitions in timestamp order, event-time timers fired as the
 * watermark passes them, and commits written as ordered steps (see {@link KafkaRunner.commit}).
 * Each topology is a consumer group; tasks come and go with the group's assignments.
 */
export class KafkaRunner {
  readonly apps: KafkaApp[] = []
  readonly kafkaMetrics: KafkaMetrics | undefined
  private readonly opts: KafkaRunnerOptions
  private readonly clock: () => number
  private readonly kafka: Kafka
  private readonly admin: KafkaAdmin
  private readonly sink: KafkaSink
  private readonly exactlyOnce: boolean
  /** exactly_once_v2: one transactional producer per app, offsets fenced by the group's generation. */
  private readonly v2: boolean
  private readonly settings: KafkaRunnerSettings
  /** The last chunk stopped because a record written to our own input has to arrive first. */
  private waitingForInFlight = false
  private current = ''
  private stopRequested = false
  private wakeUp: (() => void) | null = null
  private sinceCommit = 0
  private lastCommit = 0
  private lastSweep = 0
  private lastPurge = 0
  private readonly roundRobin = new Map<string, number>()
  /** Dead-letter topics of the apps: their records are shrunk, never refused (see {@link fitDeadLetter}). */
  private readonly dlqTopics = new Set<string>()
  private readonly outage: OutageTracker
  /**
   * At-least-once and exactly_once_v2: which tasks a record of ours on its way holds back (see
   * {@link HoldScope}); undefined with exactly-once v1, where it holds back every task.
   */
  private scope: HoldScope | undefined
  /**
   * exactly_once_v2: whether this process has every task of its apps, so that no other instance
   * writes to the partitions it reads (see the scope's comment in {@link KafkaRunner.start}).
   */
  private alone = false
  /**
   * exactly_once_v2: the commit being written while the loop goes on processing (see
   * {@link KafkaRunner.startCommit}), and its failure, which the loop throws at its next turn.
   */
  private committing: Promise<void> | null = null
  private commitFailure: { err: unknown } | null = null
  /** Assignments being applied (by the loop, or by a commit: see commitNow). */
  private applying = 0

  private constructor(opts: KafkaRunnerOptions) {
    this.opts = opts
    this.clock = opts.clock ?? Date.now
    this.exactlyOnce = isExactlyOnce(opts.config.runtime.guarantee)
    this.v2 = opts.config.runtime.guarantee === 'exactly_once_v2'
    this.settings = resolveRunnerSettings(opts)
    this.outage = new OutageTracker(this.clock, this.settings.maxOutageMs)
    this.kafka = createKafkaClient(opts.config.kafka, opts.logger)
    this.admin = new KafkaAdmin(this.kafka, opts.logger, opts.config.kafka.replicationFactor, opts.config.kafka.brokers)
    this.kafkaMetrics = opts.metrics ? new KafkaMetrics(opts.metrics.registry) : undefined
    this.sink = new KafkaSink(this.kafka, {
      exactlyOnce: this.exactlyOnce,
      perApp: this.v2,
      logger: opts.logger,
      metrics: this.kafkaMetrics,
      maxInFlight: this.settings.maxInFlightBatches,
      maxMessageBytes: (topic) => this.admin.maxMessageBytes(topic),
      ...(opts.config.kafka.producer.thread ? { producerThread: opts.config.kafka } : {}),
    })
  }

  /** Connects, creates the topics (changelogs included), reads broadcast topics and joins the groups. */
  static async open(opts: KafkaRunnerOptions): Promise<KafkaRunner> {
    const runner = new KafkaRunner(opts)
    try {
      await runner.start()
    } catch (err) {
      await runner.close().catch(() => {})
      throw err
    }
    return runner
  }

  private async start(): Promise<void> {
    const { opts } = this
    await this.admin.connect()
    const deps = {
      kafka: this.kafka,
      admin: this.admin,
      sink: this.sink,
      config: opts.config,
      state: opts.state,
      stateDir: taskStateDir(opts.state),
      logger: opts.logger,
      clock: this.clock,
      timings: this.settings.timings,
      maxBuffered: this.settings.maxBufferedPerPartition,
      maxBytesPerPartition: this.settings.maxBytesPerPartition,
      onData: () => this.wake(),
      ...(this.v2 ? { processId: processId(opts.state) } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(this.kafkaMetrics ? { kafkaMetrics: this.kafkaMetrics } : {}),
      ...(opts.errorPolicy ? { errorPolicy: opts.errorPolicy } : {}),
    }
    for (const topology of opts.topologies) {
      const app = new KafkaApp(topology, deps, { send: (topic, key, value, ts, headers) => this.collect(topic, key, value, ts, headers) })
      this.apps.push(app)
      this.dlqTopics.add(app.app.dlqTopic)
    }
    // The hold scope (a record of ours on its way holds back only what it can reorder) assumes
    // that one producer writes each partition read here in the order records were produced, so
    // that a record written after one on its way arrives after it (InFlightTimes.ordered). At
    // least once, one producer writes everything. exactly_once_v2 too, per app (HoldScope.of
    // checks that no two apps write a topic read here): the app's producer writes a partition one
    // send at a time in outbox order, and a read_committed reader sees a committed transaction's
    // records in that order (an aborted one's never: the tasks then go back to their last
    // commit, and what was on its way is forgotten). The app clock recorded with each record
    // (collect) is the one embedded mode gives, however late the commit makes it readable.
    // What v2 adds is other producers' records in our partitions at the pace of their commits
    // (rebalance.kafka.test.ts under v2, HERMES_TEST_SEED=3891033758, failed 2 runs in 2 with the
    // scope alone). With another instance in the group, nothing here knows the time of its
    // records on their way. The global wait paces this instance's event time by the round trip
    // of its own records, which is about the pace at which the peer's arrive; with the scope, an
    // instance catching up a backlog ran hours of event time ahead of a peer's records in
    // flight, which reached its per-type windows after they had closed (the per-instance
    // watermark limit of docs/performance.md; at-least-once and Kafka Streams have it too). So
    // v2 uses the scope only while this process holds every task of its apps (`alone`, see
    // applyAssignments) and no rebalance is in progress, and the global wait otherwise. During a
    // join no commit runs (duringCommit), so what the tasks about to be revoked do then is
    // thrown away and done again by their new owner: with the scope, a survivor ran 1.6 h of
    // event time ahead in that second and its windows closed before the new owner's records
    // came (the same seed, 1 run in 4 before this). Alone, a record of ours may still be held
    // behind a dead peer's open transaction until it is aborted: the tasks reading it wait (as
    // embedded, with the clocks recorded here), and what the others do meanwhile is committed,
    // so the next owner of their partitions starts after it.
    // v1 keeps the global wait: its per-task producers write a shared partition in orders of
    // their own.
    if (!this.exactlyOnce || this.v2) this.scope = HoldScope.of(this.apps, this.v2)
    if (this.scope) for (const a of this.apps) a.inFlight.ordered = true
    // Configuration topics: broadcast ones are compacted whatever they are called; configured ones
    // (topics.overrides.<t>.cleanup, e.g. config.users and config.audiences) as configured.
    const broadcast = new Set(this.apps.flatMap((a) => a.app.plan.subtopologies.flatMap((sub) => sub.sources.filter((s) => s.broadcast).map((s) => s.topic))))
    await this.admin.ensureTopics(withConfiguredCleanup(opts.config, withBroadcastCleanup(this.apps.flatMap((a) => a.topicSpecs()), broadcast)))
    await this.admin.ensureTopics(this.apps.flatMap((a) => a.changelogSpecs()))
    await this.sink.start()
    for (const app of this.apps) await app.start()
    this.lastCommit = this.lastSweep = this.clock()
  }

  /**
   * For `/readyz`: not ready while joining a group, opening tasks and restoring their state, or
   * when the cluster has not answered (fetch, heartbeat) for a session timeout.
   */
  readiness(): { ready: true } | { ready: false; reason: string } {
    const now = this.clock()
    for (const a of this.apps) {
      if (!a.joined) return { ready: false, reason: `${a.name}: joining the consumer group` }
      if (a.restoring || a.pendingAssignment) return { ready: false, reason: `${a.name}: restoring state of assigned partitions` }
      const silent = now - a.source.lastContact
      if (silent > this.settings.timings.sessionTimeout) return { ready: false, reason: `${a.name}: no answer from Kafka for ${Math.round(silent / 1000)} s` }
    }
    return { ready: true }
  }

  /**
   * For `/healthz`: not live once the run ended with an error, or while no commit has succeeded
   * for a minute (or `kafka.maxOutageMs`, if shorter) of failures, e.g. a partition whose outputs
   * Kafka keeps refusing; a restart may help where the loop's own recovery did not.
   */
  liveness(): { live: true } | { live: false; reason: string } {
    return this.outage.liveness()
  }

  /** Asks {@link KafkaRunner.run} to stop after the current chunk (it still commits). */
  stop(): void {
    this.stopRequested = true
    this.wake()
  }

  /** Whether every app has its tasks set up and nothing is left to process or deliver. */
  idle(): boolean {
    if (this.sink.pending() > 0) return false
    for (const a of this.apps) {
      if (!a.joined || a.pendingAssignment || a.inFlight.size() > 0) return false
      for (const b of a.source.buffers.values()) if (buffered(b) > 0 || b.filter.held() > 0 || b.fetched < b.end) return false
    }
    return true
  }

  /**
   * Processes until stopped (signal or {@link KafkaRunner.stop}), or until idle for
   * `stopWhenIdleMs` with everything committed. Commits at the end.
   */
  async run(options: { stopWhenIdleMs?: number; onProgress?: (s: KafkaRunStats) => void } = {}): Promise<KafkaRunStats> {
    try {
      return await this.runLoop(options)
    } catch (err) {
      this.outage.ended(err)
      throw err
    }
  }

  /**
   * The loop of {@link KafkaRunner.run}. A Kafka failure puts the tasks back to their last commit
   * and the loop carries on; the work is redone, so only a commit that succeeds (or having
   * nothing left to commit) ends the failure (see {@link OutageTracker}). The run gives up, with
   * an error naming the last failure, once failures have lasted `kafka.maxOutageMs`, or at once
   * when Kafka refused the same kind of write {@link NON_RETRIABLE_REPEATS} times in a row (e.g.
   * MESSAGE_TOO_LARGE for a changelog record), which retrying cannot heal.
   * @throws HermesError PRODUCE_ERROR or IO_ERROR when giving up; any error that is not Kafka's.
   */
  private async runLoop(options: { stopWhenIdleMs?: number; onProgress?: (s: KafkaRunStats) => void }): Promise<KafkaRunStats> {
    const stats: KafkaRunStats = { records: 0, timersFired: 0, commits: 0, elapsedMs: 0 }
    const started = performance.now()
    const loop = { idleSince: -1, lastProgress: this.clock(), started }
    while (!this.stopRequested) {
      try {
        if (await this.step(options, stats, loop)) break
        // Recovered: a commit went through, or everything redone is committed and nothing is left.
        const since = this.outage.since
        if (since >= 0 && (this.lastCommit > since || (this.sinceCommit === 0 && this.idle()))) this.outage.recovered()
      } catch (err) {
        // Nothing is reset under a commit still writing.
        await this.settleCommit()
        if (this.stopRequested || !isRecoverable(err)) throw err
        this.outage.failed(err)
        await this.recover(err)
      }
    }
    await this.settleCommit(true)
    await this.commit()
    stats.commits++
    stats.elapsedMs = performance.now() - started
    return stats
  }

  /** One turn of the loop; resolves true when the run should end (idle long enough). */
  private async step(options: { stopWhenIdleMs?: number; onProgress?: (s: KafkaRunStats) => void }, stats: KafkaRunStats, loop: { idleSince: number; lastProgress: number; started: number }): Promise<boolean> {
    const rt = this.opts.config.runtime
    // A commit applying an assignment (one that came while it waited for its join guard) changes
    // the tasks: the loop does not process until it is done.
    if (this.committing && (this.applying > 0 || this.apps.some((a) => a.pendingAssignment))) await this.committing
    if (this.commitFailure) {
      const { err } = this.commitFailure
      this.commitFailure = null
      throw err
    }
    // Not under a commit: it covers the tasks it began with (and no member joins meanwhile, see kip447.ts).
    if (!this.committing) await this.applyAssignments()
    let now = this.clock()
    let n = 0
    for (const a of this.apps) if (a.broadcast) n += feedBroadcast(a.broadcast, a.broadcastCursors, (task) => (this.current = a.ownerOf(task)))
    n += this.processChunk(now, stats)
    for (const a of this.apps) n += this.fireProcessingTimers(a, now)
    // Also with nothing to read: time moves with the wall clock once every input is caught up.
    let fired = 0
    for (const a of this.apps) fired += this.advanceTime(a, a.idleClock.update(a, now, a.joined && !a.pendingAssignment && !a.restoring))
    stats.timersFired += fired
    stats.records += n
    // Timers that fired with nothing read produced outputs to commit too.
    n += fired
    this.sinceCommit += n
    this.sink.dispatch('all')
    while (this.sink.saturated()) await this.sink.waitOne()
    for (const a of this.apps) a.source.resumeDrained()
    now = this.clock()
    const idle = n === 0 && this.idle()
    const due =
      this.sinceCommit >= rt.commitEveryRecords ||
      now - this.lastCommit >= this.settings.commitIntervalMs ||
      // Exactly-once: records written to our own inputs become readable only when committed.
      // exactly_once_v2: with the hold scope, 'in-flight' means every record that could run is
      // held back by a record of ours; a commit helps only if some of them are not committed yet
      // (the others wait for a fetch, or for another producer's open transaction to end).
      (this.exactlyOnce && ((this.waitingForInFlight && (!this.v2 || this.apps.some((a) => a.inFlight.uncommitted() > 0))) || this.sink.pending() >= this.settings.maxPendingOutputs))
    // Commits follow the interval, not pauses: waiting for a record of ours to come back (or for
    // a fetch) is no reason to commit, and committing there cost 663 commits for 500k events
    // (issue 9). Only a loop with truly nothing left to do (all read, sent and acknowledged)
    // commits early, after IDLE_COMMIT_MS, so a quiet pipeline's offsets do not trail.
    const quiet = this.v2 && n === 0 && now - this.lastCommit >= QUIET_COMMIT_MS
    if (this.sinceCommit > 0 && !this.committing && (due || quiet || (idle && now - this.lastCommit >= IDLE_COMMIT_MS))) {
      // Exactly-once v1 commits each task's transaction with the loop stopped.
      if (this.v2 || !this.exactlyOnce) this.startCommit()
      else await this.commit()
      stats.commits++
    }
    if (now - this.lastSweep >= rt.sweepIntervalMs) {
      this.lastSweep = now
      for (const a of this.apps) await a.app.sweep()
    }
    if (now - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = now
      for (const a of this.apps) await this.admin.deleteRecordsBelow(a.consumedRepartition())
    }
    if (options.onProgress && now - loop.lastProgress >= 1000) {
      loop.lastProgress = now
      options.onProgress({ ...stats, elapsedMs: performance.now() - loop.started })
    }
    if (n > 0) {
      loop.idleSince = -1
      await yieldToIo()
      return false
    }
    // Uncommitted work does not keep an idle run going: run() commits once more when it ends.
    if (idle && options.stopWhenIdleMs !== undefined) {
      if (loop.idleSince < 0) loop.idleSince = now
      else if (now - loop.idleSince >= options.stopWhenIdleMs) return true
    } else loop.idleSince = -1
    await this.sleep(20)
    return false
  }

  /**
   * After a Kafka failure (broker gone, coordinator moving, a commit that could not finish):
   * every task goes back to its last commit, as after a restart, and the loop carries on; the
   * steps that need the cluster retry until it answers again.
   */
  private async recover(err: unknown): Promise<void> {
    this.opts.logger.warn({ err: describeKafkaError(err) }, 'Kafka failure; tasks go back to their last commit and processing resumes when the cluster answers')
    try {
      for (const a of this.apps) {
        a.failPendingCommits(err)
        await a.reset()
      }
      this.sinceCommit = 0
      await this.sink.reset()
    } catch (again) {
      this.opts.logger.warn({ err: describeKafkaError(again) }, 'recovery step failed; retrying')
    }
    await new Promise((r) => setTimeout(r, 1000))
  }

  /**
   * exactly_once_v2 and at-least-once: starts a commit and lets the loop go on processing while
   * it is written, as a commit mostly waits for Kafka (v2: the sends in flight, the changelog
   * tail, the offsets and EndTxn, 75 ms of the 95 ms of a commit in the bench topology, issue 9;
   * at-least-once: the outputs' acknowledgements, the changelog records, the offsets). What the
   * tasks do meanwhile is outside it: the positions, state, changelog records and outputs it
   * writes are those of the moment it began (Task.commit and KafkaApp take them before their
   * first await; at-least-once, the group offsets are those positions, and KafkaSink.flush waits
   * for the outputs produced before it only), outputs produced meanwhile wait for the next
   * transaction (AppTransaction), and the records of ours it makes readable are those written
   * before it (InFlightTimes.commitMark). No assignment is applied and no other commit starts
   * until it has ended; a failure is thrown by the loop's next turn, after which every task goes
   * back to its last commit, as for any Kafka failure. At-least-once at a steady 10k events/s,
   * the loop stood still 0.5–1.7 s of 20 s in its commits, 0.2–0.5 s since (docs/performance.md,
   * sixth round).
   */
  private startCommit(): void {
    this.committing = this.commit().then(
      () => {
        this.committing = null
        this.wake()
      },
      (err: unknown) => {
        this.commitFailure = { err }
        this.committing = null
        this.wake()
      },
    )
  }

  /** Waits for the commit being written, if any; `rethrow`: throws its failure, else forgets it (the caller handles another). */
  private async settleCommit(rethrow = false): Promise<void> {
    if (this.committing) await this.committing
    const failure = this.commitFailure
    this.commitFailure = null
    if (failure && rethrow) throw failure.err
  }

  /**
   * The commit, in order:
   * 1. outputs: at-least-once, every output produced before the commit began is acknowledged
   *    (idempotent producer);
   * 2. per task, all tasks at once: its changelog records are produced and acknowledged
   *    (at-least-once), or its outputs, changelog records and input offsets are committed in one
   *    transaction (exactly-once); then its local state (with positions and time) is written
   *    in one batch, then its checkpoint of changelog offsets;
   * 3. at-least-once: the input offsets are committed to the group.
   * Nothing is acknowledged as consumed before what it produced is durable, so a crash repeats
   * work (at-least-once) or aborts it (exactly-once), and never loses output.
   */
  async commit(): Promise<void> {
    // exactly_once_v2: no member of this process joins its group during the commit, nor the
    // commit starts during a join (kip447.ts, duringCommit), so that its generation stays current.
    // An assignment already received is applied first, so that a join does not wait for a
    // restore; one that a join brings meanwhile is applied inside.
    if (!this.v2) return this.commitNow()
    await this.applyAssignments()
    return duringCommit(this.apps.map((a) => a.groupId), () => this.commitNow())
  }

  private async commitNow(): Promise<void> {
    const t0 = performance.now()
    // exactly_once_v2: the offsets carry the generation of the assignment the tasks were opened
    // under; an assignment received since is applied first (dropping revoked tasks, whose outputs
    // are discarded), or the group coordinator would refuse the whole commit.
    if (this.v2) await this.applyAssignments()
    // What this commit covers, taken with the tasks' own part (synchronous up to their first
    // await): the loop may process on while it is written (startCommit).
    const covered = this.sinceCommit
    const marks = this.v2 ? this.apps.map((a) => [a, a.inFlight.commitMark()] as const) : null
    // At-least-once: the group offsets are the positions the tasks' state is committed with.
    const positions = this.exactlyOnce ? [] : this.apps.map((a) => new Map(a.app.tasks.map((t) => [t, new Map(t.positions)])))
    const jobs: Array<Promise<void>> = []
    for (const a of this.apps) {
      for (const t of [...a.app.tasks]) {
        jobs.push(t.commit().catch((err: unknown) => this.commitFailed(a, t, err)))
      }
    }
    // Every task's commit settles before a failure is handled, so none is still writing then.
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    for (const [i, a] of this.apps.entries()) await a.commitOffsets(positions[i])
    // Every record of ours written before the commit began is committed: a commit cannot make
    // them readable any sooner (the 'in-flight' commit trigger), and they are no longer discarded
    // with their task.
    if (marks) for (const [a, mark] of marks) a.inFlight.transactionCommitted(mark)
    this.sinceCommit = Math.max(0, this.sinceCommit - covered)
    this.lastCommit = this.clock()
    this.updateMetrics((performance.now() - t0) / 1000)
  }

  /**
   * Applies the assignments received. exactly_once_v2: the outputs of the tasks it drops still
   * in the app's outbox are discarded (KafkaSink.closeTask), so those bound for our own inputs
   * never arrive; forgotten, they hold back nothing (kept, they held the tasks reading them until
   * another instance happened to write records of the same times).
   * Then whether this process holds every task of its apps (one per partition of each
   * sub-topology's keyed inputs): only then does v2 use the hold scope.
   */
  private async applyAssignments(): Promise<void> {
    let applied = false
    this.applying++
    try {
      for (const a of this.apps) {
        if (!a.pendingAssignment) continue
        await a.applyAssignment()
        applied = true
      }
    } finally {
      this.applying--
    }
    if (!applied || !this.v2) return
    // A dropped task's outputs already sent in its app's open transaction: abort, start again.
    this.sink.throwIfRevoked()
    const alive = new Set(this.apps.flatMap((a) => a.app.tasks.map((t) => a.ownerOf(t))))
    for (const a of this.apps) a.inFlight.forgetUncommitted((owner) => alive.has(owner))
    this.alone = this.apps.every((a) =>
      a.app.plan.subtopologies.every((sub) => {
        const keyed = sub.sources.find((src) => !src.broadcast)
        return !keyed || a.app.tasks.filter((t) => t.sub.id === sub.id).length >= this.admin.partitions(keyed.topic)
      }),
    )
  }

  private async commitFailed(a: KafkaApp, t: Task, err: unknown): Promise<void> {
    this.kafkaMetrics?.commits.inc({ app: a.name, outcome: 'failed' })
    // exactly_once_v2: a refusal (fenced, ILLEGAL_GENERATION: the group moved on) concerns every
    // task of the app's transaction; it is a Kafka failure like any other, after which every task
    // goes back to its last commit (closed dirty, reopened from the changelogs).
    if (!(this.exactlyOnce && !this.v2 && isFenced(err))) {
      // Tasks waiting to commit together with this one would wait forever.
      for (const x of this.apps) x.failPendingCommits(err)
      throw new HermesError('PRODUCE_ERROR', `commit of task ${a.name}/${t.id} failed: ${describeKafkaError(err)}`, { cause: err })
    }
    // Another instance owns the task now; what this one did since its last commit is aborted,
    // and its outputs bound for our inputs (of any app) will never arrive.
    this.opts.logger.warn({ app: a.name, task: t.id }, 'task fenced by a newer owner; dropping it')
    for (const x of this.apps) x.inFlight.reset()
    await a.dropTask(t, 'fenced')
    if (await a.reclaimFenced(t)) this.opts.logger.warn({ app: a.name, task: t.id }, 'the group still gives the fenced task to this instance (a stale owner fenced it): opening it again')
  }

  /**
   * Collector: queues an output of the task being processed and tracks records bound for our own
   * inputs: a repartition topic of the app, or an output of one app that another app of this
   * process reads (push-decisions → material-stats). The embedded log hands those over at once.
   */
  private collect(topic: string, key: string | null, value: Buffer | null, ts: number, headers?: Headers): void {
    // A record over the topic's limit would be refused by the broker at every retry, and stall
    // its partition: refuse it here instead (a produce error of its input, see producePolicy). A
    // dead letter is never refused: it is shrunk until it fits, saying what was dropped.
    const limit = this.admin.maxMessageBytes(topic)
    const size = singleRecordBatchBytes({ key, value, ...(headers ? { headers } : {}) })
    // Kept with the record, so that its sends are split by size without measuring it again.
    let measured: number | undefined = size - BATCH_OVERHEAD
    if (size > limit) {
      if (!this.dlqTopics.has(topic)) {
        throw new HermesError(
          'RECORD_TOO_LARGE',
          `output record to ${topic} is ${size} bytes, over the ${limit} bytes the topic accepts (max.message.bytes); if such records are expected, raise max.message.bytes of ${topic} (kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config max.message.bytes=<bytes>) and restart`,
        )
      }
      const fitted = fitDeadLetter({ key, value, ...(headers ? { headers } : {}) }, size, limit, topic)
      if (!fitted) {
        this.opts.logger.error({ topic, size, limit, reason: headers?.['hermes.dlq.reason'] }, 'dead letter does not fit its topic even without key, value and headers; not written')
        return
      }
      this.opts.logger.warn({ topic, size, limit, dropped: fitted.headers?.['hermes.dlq.dropped'] }, 'dead letter over its topic limit: written without its value')
      ;({ key, value, headers } = fitted)
      measured = undefined
    }
    if (key === null && this.admin.compacted(topic)) {
      // The broker would refuse it (INVALID_RECORD) at every commit: a topology that writes
      // records without a key to a compacted topic is a bug, for errors.produce to decide.
      throw new HermesError('PRODUCE_ERROR', `output record to ${topic} has no key, and the topic is compacted (cleanup.policy=compact), which refuses records without a key; give the records a key (keyBy) or write them to a topic that is not compacted`)
    }
    const partitions = this.admin.partitions(topic)
    const partition = outputPartition(topic, key, partitions, this.roundRobin)
    const record = { owner: this.current, topic, partition, key, value, timestamp: ts, ...(headers && Object.keys(headers).length ? { headers } : {}), ...(measured !== undefined ? { size: measured } : {}) }
    this.sink.push(record)
    const tp = `${topic}:${partition}`
    // The reading app's clock goes with the record (see InputView.appClock) where the loop may
    // run ahead of it; with the global wait it never does, and the app's own clock applies.
    for (const a of this.apps) {
      if (!a.owners.has(tp)) continue
      // Embedded, the record is read once the one that produced it is processed, which moved its
      // own app's clock to its time already: hence the max for a record of the same app.
      const clock = this.scope ? (this.current.startsWith(`${a.name}/`) ? Math.max(a.app.appClock(), ts) : a.app.appClock()) : Infinity
      a.inFlight.add(tp, ts, clock, this.current)
    }
  }

  /** Processes up to a chunk of records, always the buffered head with the lowest timestamp. */
  private processChunk(now: number, stats: KafkaRunStats): number {
    const deadline = performance.now() + CHUNK_MS
    let n = 0
    this.waitingForInFlight = false
    const pick = { now, maxTaskIdleMs: this.settings.maxTaskIdleMs, maxAheadMs: this.settings.maxAheadMs }
    const scope = this.v2 && (!this.alone || this.apps.some((a) => joining(a.groupId))) ? undefined : this.scope
    while (n < CHUNK) {
      const next = nextRecord(this.apps, pick, scope)
      if (next.kind !== 'record') {
        this.waitingForInFlight = next.kind === 'in-flight'
        break
      }
      const { app, buffer: best } = next
      const sampledAt = n % LATENCY_SAMPLE_EVERY === 0 ? performance.now() : -1
      const raw = app.source.take(best, now)
      const owners = app.owners.get(best.tp) ?? []
      let clockMoved = false
      // Sub-topologies reading the same partition each get the record, in sub-topology order.
      for (const owner of owners) {
        const task = owner.task
        if (!task.state.isLoaded(raw.key ?? '')) this.prefetch(app, task)
        this.current = owner.id
        const eventTime = task.processRecord(owner.source, raw, best.tp)
        if (owner.source.timed && app.app.observe(eventTime)) clockMoved = true
      }
      app.inFlight.arrived(best.tp, raw.timestamp)
      // As embedded: unless the app clock moved, only the tasks that read the record can move
      // (what other tasks' inputs gained, records of ours on their way, only holds them back).
      stats.timersFired += this.advanceTime(app, -Infinity, clockMoved ? undefined : owners)
      if (sampledAt >= 0) observeProcessLatency(this.opts.metrics, app.name, sampledAt)
      n++
      if ((n & 63) === 0 && performance.now() > deadline) break
    }
    return n
  }

  /**
   * Moves the tasks' time (held back per partition by what is buffered, behind, or of ours on its
   * way: see {@link KafkaInputView}), idle partitions following the wall clock from `wallClock`
   * on (see {@link IdleClock}), and fires the event timers that became due. `only`: just the
   * tasks of these owners (they read the record just processed, and the app clock did not move).
   */
  private advanceTime(a: KafkaApp, wallClock = -Infinity, only?: readonly Owner[]): number {
    if (only) for (const o of only) a.app.advanceTime(a.inputView, wallClock, o.task)
    else a.app.advanceTime(a.inputView, wallClock)
    return a.app.hasDueEventTimers() ? a.app.fireEventTimers((task) => (this.current = a.ownerOf(task))) : 0
  }

  /** Fires due processing-time timers across an app's tasks in (time, key, name) order, remembering which task fired. */
  private fireProcessingTimers(a: KafkaApp, now: number): number {
    return a.app.fireDue('processing', now, (task) => (this.current = a.ownerOf(task)))
  }

  /** Loads the state of the keys of a task's next buffered records with one multi-get. */
  private prefetch(a: KafkaApp, task: Task): void {
    const bufs = a.taskBuffers.get(task) ?? []
    const per = Math.max(1, Math.floor(this.opts.config.runtime.prefetchRecords / Math.max(1, bufs.length)))
    const keys: string[] = []
    for (const b of bufs) {
      const end = Math.min(b.records.length, b.head + per)
      for (let i = b.head; i < end; i++) keys.push((b.records[i] as { key: string | null }).key ?? '')
    }
    task.state.prefetch(keys)
  }

  private wake(): void {
    const w = this.wakeUp
    this.wakeUp = null
    w?.()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null
        resolve()
      }, ms)
      this.wakeUp = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** Brings metrics up to date (called at commit and before a scrape). */
  updateMetrics(commitSeconds?: number): void {
    if (this.opts.metrics) updateRunnerMetrics(this.apps, this.opts.metrics, this.kafkaMetrics, commitSeconds)
  }

  /** Stops consuming, closes producers and tasks (without committing: call run's final commit first). */
  async close(): Promise<void> {
    for (const a of this.apps) {
      await a.source?.stop().catch(() => {})
      await a.broadcast?.stop()
    }
    await this.sink.close()
    for (const a of this.apps) await a.app.close()
    await this.admin.disconnect().catch(() => {})
  }
}

export type { KafkaRunStats, KafkaRunnerOptions } from './options.ts'
