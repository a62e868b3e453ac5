/**
 * Replays of the recorded world for backtests. The recorded inputs (behavior and item events,
 * configuration records) are fed again, in the order and in the runs the pipeline processed them
 * in, to both topologies over an in-memory log and memory state. The embedded runner is
 * deterministic for a given sequence of runs, so replaying the recorded runs gives the recorded
 * decisions, ids included: clicks, deliveries, material stats and the click model come back as
 * they were, because the material-stats topology runs beside the decisions as it did.
 *
 * The history before a window is replayed once and kept as a snapshot of state and log
 * (replay-snapshot.ts); each run of the window (current configuration, every proposal) resumes
 * from a copy of it, so it pays for the window only. A resumed runner is the world again: tasks
 * commit everything at the end of a run, and the Task Center does not plan again at a restart.
 */
import { performance } from 'node:perf_hooks'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { LogEntry } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { parseSettings } from '../../operators/settings.ts'
import type { Settings } from '../../operators/settings.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { CLOCK_TOPIC } from './replay-history.ts'
import type { History, RecordedInput } from './replay-history.ts'
import { restoreSnapshot, takeSnapshot } from './replay-snapshot.ts'
import type { ReplaySnapshot, StateMaps } from './replay-snapshot.ts'
import type { TopicKind } from './world.ts'
import { ConfigView } from './world.ts'

/** The configuration a window runs with: what is in force for tasks, materials and memberships. */
export interface WindowConfig {
  tasks: ReadonlyMap<string, unknown>
  materials: ReadonlyMap<string, unknown>
  /** Memberships by `<segmentId>:<userId>` (members only). */
  audiences: ReadonlyMap<string, unknown>
}

/** What one replayed window decided (from the window's start on). */
export interface ReplayOutput {
  decisions: Decision[]
  suppressions: Suppression[]
}

/** A runner resumed from the snapshot of the history before a window, waiting for the window (used once). */
export interface Warm {
  runner: EmbeddedRunner
  log: EmbeddedLog
  /** Index of the first run of the window in the history. */
  fork: number
  /** Events older than this are not replayed (`from - warmupMs`; -Infinity: all history). */
  since: number
  key: string
}

/** The history before a window, replayed once and kept as a snapshot. */
interface Prefix {
  snapshot: ReplaySnapshot
  fork: number
  since: number
  key: string
  /** How long replaying the history took. */
  elapsedMs: number
}

/** What a replayer is doing, for a progress bar: the runs of the history or of a window replayed so far. */
export interface ReplayProgress {
  phase: 'idle' | 'history' | 'window'
  runs: number
  of: number
}

const CONFIG_KINDS: readonly TopicKind[] = ['tasks', 'materials', 'audiences']

/** Options of {@link Replayer}. */
export interface ReplayerOptions {
  config: HermesConfig
  logger: HermesLogger
  /** Snapshots kept (each holds the state and log of a replayed history); default 2. */
  snapshots?: number
  /** Told each time {@link Replayer.progress} changes. */
  onProgress?: (p: ReplayProgress) => void
}

/**
 * Replays windows of a history. The history before a window is replayed once and kept as a
 * snapshot of the state and log (replay-snapshot.ts); every run of that window (the current
 * configuration, each proposal) resumes from a copy of it and replays the window only.
 */
export class Replayer {
  private readonly config: HermesConfig
  private readonly settings: Settings
  private readonly prefixes = new Map<string, Promise<Prefix>>()
  private readonly windows = new Set<Promise<ReplayOutput>>()
  private closed = false
  private current: ReplayProgress = { phase: 'idle', runs: 0, of: 0 }

  /** What the replayer is doing now. */
  get progress(): ReplayProgress {
    return this.current
  }

  private set progress(p: ReplayProgress) {
    this.current = p
    this.o.onProgress?.(p)
  }

  constructor(private readonly o: ReplayerOptions) {
    // Memory state and a commit cadence that never flushes mid-run; no wall-clock limits on
    // event time, since recorded events may be old.
    this.config = { ...o.config, runtime: { ...o.config.runtime, stateBackend: 'memory', commitEveryRecords: Number.MAX_SAFE_INTEGER, commitIntervalMs: 3_600_000 }, time: { ...o.config.time, maxFutureMs: null } }
    this.settings = parseSettings(o.config.hermes)
  }

  private kindOf(topic: string): TopicKind | 'users' | null {
    const t = this.settings.topics
    return topic === t.tasks ? 'tasks' : topic === t.materials ? 'materials' : topic === t.audiences ? 'audiences' : topic === t.users ? 'users' : null
  }

  private async open(log: EmbeddedLog, maps: StateMaps): Promise<EmbeddedRunner> {
    const env = { settings: this.config.hermes }
    return EmbeddedRunner.open({ topologies: [pushDecisions(env), materialStats(env)], config: this.config, log, state: { kind: 'memory', maps }, logger: this.o.logger })
  }

  /** The first run of the history holding a record at or after `from`: where the window starts. */
  static forkOf(history: History, from: number): number {
    const i = history.findIndex((batch) => batch.some((r) => r.topic !== CLOCK_TOPIC && r.ts >= from))
    return i < 0 ? history.length : i
  }

  private static keyOf(history: History, from: number, warmupMs?: number): { key: string; fork: number; since: number } {
    const fork = Replayer.forkOf(history, from)
    const size = history.slice(0, fork).reduce((n, b) => n + b.length, 0)
    const since = warmupMs === undefined ? -Infinity : from - warmupMs
    return { key: `${fork}\u0000${size}\u0000${since}`, fork, since }
  }

  /**
   * The snapshot of the history before the window starting at `from`: kept from an earlier
   * run, or replayed now. `warmupMs` keeps only that much of the events
   * before `from` (the configuration records all stay): faster on a long history, but fatigue,
   * counts and the model then start from less than the world had, so the replay agrees less.
   */
  private prefix(history: History, from: number, warmupMs?: number): Promise<Prefix> {
    if (this.closed) return Promise.reject(new Error('the console is closing'))
    const { key, fork, since } = Replayer.keyOf(history, from, warmupMs)
    let p = this.prefixes.get(key)
    if (p) {
      // The most recently used last: the oldest is the one to drop.
      this.prefixes.delete(key)
      this.prefixes.set(key, p)
      return p
    }
    p = this.build(history, key, fork, since)
    this.prefixes.set(key, p)
    p.catch(() => {
      if (this.prefixes.get(key) === p) this.prefixes.delete(key)
    })
    const keep = this.o.snapshots ?? 2
    while (this.prefixes.size > keep) this.prefixes.delete(this.prefixes.keys().next().value as string)
    return p
  }

  /** A runner resumed from the snapshot of the history before the window starting at `from`. */
  async take(history: History, from: number, warmupMs?: number): Promise<Warm> {
    const p = await this.prefix(history, from, warmupMs)
    const { log, maps } = restoreSnapshot(p.snapshot)
    return { runner: await this.open(log, maps), log, fork: p.fork, since: p.since, key: p.key }
  }

  /** Resolves when every snapshot being replayed is ready (or failed). */
  async prepared(): Promise<void> {
    await Promise.allSettled([...this.prefixes.values()])
  }

  /** How long the history of the window starting at `from` took to replay, when its snapshot is ready. */
  async prefixStats(history: History, from: number, warmupMs?: number): Promise<{ elapsedMs: number; stateKeys: number; logRecords: number }> {
    const p = await this.prefix(history, from, warmupMs)
    return { elapsedMs: p.elapsedMs, ...p.snapshot.size }
  }

  /** Stops preparing and drops the snapshots. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.windows])
    await this.prepared()
    this.prefixes.clear()
  }

  private async build(history: History, key: string, fork: number, since: number): Promise<Prefix> {
    const started = performance.now()
    const t = this.settings.topics
    const timed = new Set([t.events, t.items])
    const log = EmbeddedLog.inMemory()
    const maps: StateMaps = new Map()
    const runner = await this.open(log, maps)
    try {
      for (let i = 0; i < fork; i++) {
        if (this.closed) throw new Error('the console is closing')
        this.progress = { phase: 'history', runs: i, of: fork }
        await this.runBatch(runner, log, (history[i] as RecordedInput[]).filter((r) => !(timed.has(r.topic) && r.ts < since)))
        // Between runs, let requests be served while a history is replayed.
        await new Promise<void>((done) => setImmediate(done))
      }
    } finally {
      await runner.close()
      this.progress = { phase: 'idle', runs: 0, of: 0 }
    }
    return { snapshot: takeSnapshot(log, maps), fork, since, key, elapsedMs: performance.now() - started }
  }

  /**
   * One recorded run: its records appended, the runner run, then the event-time moves the
   * console made after it (a simulated event's settle, recorded on {@link CLOCK_TOPIC}), each
   * followed by a run, as the world did.
   */
  private async runBatch(runner: EmbeddedRunner, log: EmbeddedLog, records: readonly RecordedInput[]): Promise<void> {
    let n = 0
    for (const r of records) {
      if (r.topic === CLOCK_TOPIC) continue
      this.append(log, r)
      n++
    }
    if (n) await runner.run()
    for (const r of records) {
      if (r.topic !== CLOCK_TOPIC) continue
      runner.advanceEventTime(r.ts)
      await runner.run()
    }
  }

  private append(log: EmbeddedLog, r: RecordedInput): void {
    if (!log.hasTopic(r.topic)) log.createTopic(r.topic, this.config.topics.defaultPartitions)
    // The recorded partition, when the log has it; else where the key goes (a snapshot history).
    const partitions = log.partitions(r.topic)
    const p = r.partition < partitions ? r.partition : partitionFor(r.key ?? '', partitions)
    log.append(r.topic, p, r.key, r.value, r.ts)
  }

  /**
   * Runs the window (`from <= ts < to`, and the history after it) on a warm runner (closed after) with the
   * configuration `config`: where it differs from what was in force at the window's start, its
   * records are appended at `from`, and the window's own configuration records of tasks,
   * materials and memberships are left out (the configuration given is the one that runs).
   * With the configuration the world ran with, this is the recorded window again.
   */
  window(history: History, w: { from: number; to: number }, config: WindowConfig, warm: Warm): Promise<ReplayOutput> {
    const run = this.replayWindow(history, w, config, warm)
    this.windows.add(run)
    const done = (): void => void this.windows.delete(run)
    run.then(done, done)
    return run
  }

  private async replayWindow(history: History, w: { from: number; to: number }, config: WindowConfig, warm: Warm): Promise<ReplayOutput> {
    const t = this.settings.topics
    const { log, runner } = warm
    // Configuration of the window is the one given: recorded changes from the window on are left out.
    const skip = new Set([t.tasks, t.materials, t.audiences])
    const timed = new Set([t.events, t.items])
    // The world after the window is replayed too: a push decided in the window may go out (and be
    // recorded) only later, after a delay or a hold, when later records move time on.
    const keep = (r: RecordedInput): boolean => !(skip.has(r.topic) && r.ts >= w.from) && !(timed.has(r.topic) && r.ts < warm.since)
    const runs = history.slice(warm.fork)
    try {
      for (const [i, batch] of runs.entries()) {
        if (this.closed) throw new Error('the console is closing')
        this.progress = { phase: 'window', runs: i, of: runs.length }
        let records = batch.filter(keep)
        if (i === 0) {
          // After the configuration recorded before the window (a partition is read in order),
          // before the rest: the changes are in force from the window's start.
          const earlier = (r: RecordedInput): boolean => (skip.has(r.topic) || r.topic === t.users ? r.ts < w.from : false)
          records = [...records.filter(earlier), ...this.configChanges(this.viewAt(history, w.from), config, w.from), ...records.filter((r) => !earlier(r))]
        }
        await this.runBatch(runner, log, records)
        // Between runs, let requests (the progress, other pages) be served.
        await new Promise<void>((done) => setImmediate(done))
      }
    } finally {
      await runner.close()
      this.progress = { phase: 'idle', runs: 0, of: 0 }
    }
    const inWindow = (ts: number): boolean => ts >= w.from && ts < w.to
    return {
      decisions: readValues<Decision>(log, t.decisions).filter((d) => inWindow(d.decidedAt)),
      suppressions: readValues<Suppression>(log, t.suppressions).filter((s) => inWindow(s.ts)),
    }
  }

  /** The configuration in force just before `ts`: the history's configuration records older than it. */
  private viewAt(history: History, ts: number): ConfigView {
    const view = new ConfigView()
    for (const batch of history) {
      for (const r of batch) {
        const kind = r.ts < ts ? this.kindOf(r.topic) : null
        const value = kind ? parseValue(r.value) : undefined
        if (kind && value !== undefined) view.apply(kind, r.key, value)
      }
    }
    return view
  }

  /** The records that turn the configuration in force (`view`) into `config`, at time `ts`. */
  private configChanges(view: ConfigView, config: WindowConfig, ts: number): RecordedInput[] {
    const t = this.settings.topics
    const out: RecordedInput[] = []
    const put = (topic: string, key: string, value: unknown): void => {
      out.push({ topic, partition: Number.MAX_SAFE_INTEGER, key, value: value === null ? null : Buffer.from(JSON.stringify(value)), ts })
    }
    for (const kind of CONFIG_KINDS) {
      const before = view[kind]
      const after = config[kind]
      const topic = kind === 'tasks' ? t.tasks : kind === 'materials' ? t.materials : t.audiences
      for (const [id, rec] of after) if (JSON.stringify(before.get(id)) !== JSON.stringify(rec)) put(topic, kind === 'audiences' ? (rec as { userId: string }).userId : id, rec)
      for (const [id, rec] of before) {
        if (after.has(id)) continue
        if (kind === 'audiences') {
          const a = rec as { userId: string; segmentId: string }
          put(topic, a.userId, { userId: a.userId, segmentId: a.segmentId, member: false })
        } else put(topic, id, null)
      }
    }
    return out
  }
}

/** A JSON value of the log: null for a tombstone, undefined for bad input (the pipeline dead-letters it). */
function parseValue(v: Buffer | null): unknown {
  if (v === null) return null
  try {
    return JSON.parse(v.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/** The JSON values of a topic in append order. */
function readValues<T>(log: EmbeddedLog, topic: string): T[] {
  if (!log.hasTopic(topic)) return []
  const entries: LogEntry[] = []
  for (let p = 0; p < log.partitions(topic); p++) for (let i = 0; i < log.endOffset(topic, p); i++) entries.push(log.read(topic, p, i) as LogEntry)
  return entries.sort((a, b) => a.seq - b.seq).flatMap((e) => (e.value === null ? [] : [JSON.parse(e.value.toString('utf8')) as T]))
}
