/**
 * Backtests: the recorded behavior events of a window run through both topologies with the
 * embedded runner, in memory (in-process log, memory state), once with the configuration in
 * force and once with the proposed changes, and each run summarized the same way. Both runs
 * start from the same configuration snapshot and the material stats recorded before the window,
 * so the difference between them is the change and nothing else.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { LogEntry } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import type { TaskConfig } from '../../operators/config.ts'
import { assignArm } from '../../operators/scoring.ts'
import { parseSettings } from '../../operators/settings.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'

const HOUR = 3_600_000

/** What a run sent and suppressed. */
export interface Summary {
  decisions: number
  suppressions: { [reason: string]: number }
  byHour: Array<{ hour: number; decisions: number; suppressions: number }>
  byArm: Array<{ experiment: string; arm: string; decisions: number; suppressions: number }>
  byTask: Array<{ taskId: string; decisions: number; suppressions: number }>
  /** The first 50 decisions, in the order they were made. */
  sample: Decision[]
}

/** The configuration a backtest starts from. */
export interface BacktestConfig {
  tasks: Map<string, unknown>
  materials: Map<string, unknown>
  /** Profiles (`config.users` records). */
  users: unknown[]
  /** Membership records (`config.audiences`). */
  audiences: unknown[]
  /** `material-stats` records in force when the window starts. */
  stats: unknown[]
}

/** Options of {@link runBacktest}. */
export interface BacktestRun {
  config: HermesConfig
  logger: HermesLogger
  snapshot: BacktestConfig
  events: readonly BehaviorEvent[]
}

/** The outputs of one in-memory run. */
export interface RunOutput {
  decisions: Decision[]
  suppressions: Suppression[]
}

/** Runs the topologies in memory over a configuration snapshot and events; returns their outputs. */
export async function runInMemory(o: BacktestRun): Promise<RunOutput> {
  // Memory state and a commit cadence that never flushes mid-run: nothing of it touches disk.
  const config: HermesConfig = { ...o.config, runtime: { ...o.config.runtime, stateBackend: 'memory', commitEveryRecords: Number.MAX_SAFE_INTEGER, commitIntervalMs: 3_600_000 }, time: { ...o.config.time, maxFutureMs: null } }
  const topics = parseSettings(config.hermes).topics
  const env = { settings: config.hermes }
  const log = EmbeddedLog.inMemory()
  const runner = await EmbeddedRunner.open({ topologies: [pushDecisions(env), materialStats(env)], config, log, state: { kind: 'memory', maps: new Map() }, logger: o.logger })
  const put = (topic: string, key: string, value: unknown, ts: number): void => {
    log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
  }
  const s = o.snapshot
  for (const [id, m] of s.materials) put(topics.materials, id, m, 0)
  for (const st of s.stats) put(topics.stats, (st as { materialId: string }).materialId, st, 0)
  for (const [id, t] of s.tasks) put(topics.tasks, id, t, 0)
  for (const u of s.users) put(topics.users, (u as { userId: string }).userId, u, 0)
  for (const a of s.audiences) put(topics.audiences, (a as { userId: string }).userId, a, 0)
  for (const e of o.events) put(topics.events, e.userId, e, e.ts)
  try {
    await runner.run()
  } finally {
    await runner.close()
  }
  const read = <T>(topic: string): T[] => {
    const entries: LogEntry[] = []
    if (!log.hasTopic(topic)) return []
    for (let p = 0; p < log.partitions(topic); p++) for (let i = 0; i < log.endOffset(topic, p); i++) entries.push(log.read(topic, p, i) as LogEntry)
    return entries.sort((a, b) => a.seq - b.seq).flatMap((e) => (e.value === null ? [] : [JSON.parse(e.value.toString('utf8')) as T]))
  }
  return { decisions: read<Decision>(topics.decisions), suppressions: read<Suppression>(topics.suppressions) }
}

/**
 * Summarizes a run. A suppression carries no arm: it counts for the arm its user is assigned to
 * in the experiment of its task (the assignment is a stable hash, as in the pipeline).
 */
export function summarize(out: RunOutput, tasks: ReadonlyMap<string, unknown>): Summary {
  const suppressions: { [reason: string]: number } = {}
  const hours = new Map<number, { hour: number; decisions: number; suppressions: number }>()
  const arms = new Map<string, { experiment: string; arm: string; decisions: number; suppressions: number }>()
  const byTask = new Map<string, { taskId: string; decisions: number; suppressions: number }>()
  const hourOf = (ts: number) => {
    const hour = Math.floor(ts / HOUR) * HOUR
    let h = hours.get(hour)
    if (!h) hours.set(hour, (h = { hour, decisions: 0, suppressions: 0 }))
    return h
  }
  const armOf = (experiment: string, arm: string) => {
    const k = `${experiment}\u0000${arm}`
    let a = arms.get(k)
    if (!a) arms.set(k, (a = { experiment, arm, decisions: 0, suppressions: 0 }))
    return a
  }
  const taskOf = (taskId: string) => {
    let t = byTask.get(taskId)
    if (!t) byTask.set(taskId, (t = { taskId, decisions: 0, suppressions: 0 }))
    return t
  }
  for (const d of out.decisions) {
    hourOf(d.decidedAt).decisions++
    taskOf(d.taskId).decisions++
    if (d.experimentId && d.arm) armOf(d.experimentId, d.arm).decisions++
  }
  for (const s of out.suppressions) {
    suppressions[s.reason] = (suppressions[s.reason] ?? 0) + 1
    hourOf(s.ts).suppressions++
    taskOf(s.taskId).suppressions++
    const exp = (tasks.get(s.taskId) as Partial<TaskConfig> | undefined)?.experiment
    if (exp && Array.isArray(exp.arms) && exp.arms.length) armOf(exp.id, assignArm(exp.id, s.userId, exp.arms).name).suppressions++
  }
  return {
    decisions: out.decisions.length,
    suppressions,
    byHour: [...hours.values()].sort((a, b) => a.hour - b.hour),
    byArm: [...arms.values()].sort((a, b) => a.experiment.localeCompare(b.experiment) || a.arm.localeCompare(b.arm)),
    byTask: [...byTask.values()].sort((a, b) => a.taskId.localeCompare(b.taskId)),
    sample: out.decisions.slice(0, 50),
  }
}

/** Proposed changes by kind: full records; a task or material with `status: "deleted"` removes it. */
export interface Changes {
  tasks?: unknown[]
  materials?: unknown[]
  audiences?: unknown[]
  experiments?: unknown[]
}

/** The snapshot with the changes applied (records already validated). */
export function applyChanges(base: BacktestConfig, changes: Changes): BacktestConfig {
  const tasks = new Map(base.tasks)
  const materials = new Map(base.materials)
  for (const t of changes.tasks ?? []) {
    const r = t as { taskId: string; status?: string }
    if (r.status === 'deleted') tasks.delete(r.taskId)
    else tasks.set(r.taskId, t)
  }
  for (const m of changes.materials ?? []) {
    const r = m as { materialId: string; status?: string }
    if (r.status === 'deleted') materials.delete(r.materialId)
    else materials.set(r.materialId, m)
  }
  for (const e of changes.experiments ?? []) {
    const exp = e as { id: string }
    for (const [id, t] of tasks) if ((t as { experiment?: { id?: string } }).experiment?.id === exp.id) tasks.set(id, { ...(t as object), experiment: exp })
  }
  return { ...base, tasks, materials, audiences: [...base.audiences, ...(changes.audiences ?? [])] }
}

/** The result of a backtest: both summaries over the same window. */
export interface BacktestResult {
  window: { from: number; to: number }
  elapsedMs: number
  /** Events in the window, and before it for the warm-up. */
  events: number
  warmupEvents: number
  current: Summary
  proposed: Summary
  /** What the world decided in the window (its recorded outputs), for comparison. */
  recorded?: Summary
}

/**
 * The summaries of the current configuration already computed, by what they depend on (the
 * snapshot, the window and the events in it): an editor trying several changes against the same
 * configuration pays for the current run once. Holds the last few only.
 */
export class CurrentCache {
  private readonly entries = new Map<string, Summary>()
  constructor(private readonly size = 4) {}

  /** The key of a run: a hash of everything its outcome depends on. */
  static key(snapshot: BacktestConfig, window: { from: number; to: number }, events: readonly BehaviorEvent[]): string {
    const h = createHash('sha256')
    h.update(JSON.stringify([[...snapshot.tasks], [...snapshot.materials], snapshot.users, snapshot.audiences, snapshot.stats, window]))
    for (const e of events) h.update(`${e.eventId}\u0000${e.ts}\u0000`)
    return h.digest('hex')
  }

  get(key: string): Summary | undefined {
    return this.entries.get(key)
  }

  set(key: string, s: Summary): void {
    this.entries.delete(key)
    this.entries.set(key, s)
    while (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value as string)
  }
}

/** Only what was decided or suppressed from `from` on: the warm-up's outputs are history, not results. */
function fromOn(out: RunOutput, from: number): RunOutput {
  return { decisions: out.decisions.filter((d) => d.decidedAt >= from), suppressions: out.suppressions.filter((s) => s.ts >= from) }
}

/**
 * Runs the window with the current configuration and with the changes; summarizes both. With
 * `warmupMs`, the events of that much time before the window run first (both runs) so that
 * rolling counts and fatigue history are there when the window starts; only the window's
 * decisions and suppressions are counted. `recorded` gives what the world actually decided in the
 * window, when known.
 */
export async function backtest(o: { config: HermesConfig; logger: HermesLogger; snapshot: BacktestConfig; changes: Changes; events: readonly BehaviorEvent[]; window: { from: number; to: number }; warmupMs?: number; cache?: CurrentCache; recorded?: RunOutput }): Promise<BacktestResult & { currentCached: boolean }> {
  const started = performance.now()
  const start = o.window.from - (o.warmupMs ?? 0)
  const events = o.events.filter((e) => e.ts >= start && e.ts < o.window.to)
  const proposedSnapshot = applyChanges(o.snapshot, o.changes)
  const key = o.cache ? CurrentCache.key(o.snapshot, { ...o.window, from: start }, events) : ''
  let current = o.cache?.get(key)
  const currentCached = current !== undefined
  if (!current) {
    current = summarize(fromOn(await runInMemory({ config: o.config, logger: o.logger, snapshot: o.snapshot, events }), o.window.from), o.snapshot.tasks)
    o.cache?.set(key, current)
  }
  const proposed = fromOn(await runInMemory({ config: o.config, logger: o.logger, snapshot: proposedSnapshot, events }), o.window.from)
  const inWindow = (ts: number): boolean => ts >= o.window.from && ts < o.window.to
  const recorded = o.recorded ? summarize({ decisions: o.recorded.decisions.filter((d) => inWindow(d.decidedAt)), suppressions: o.recorded.suppressions.filter((x) => inWindow(x.ts)) }, o.snapshot.tasks) : undefined
  return {
    window: o.window,
    elapsedMs: Math.round(performance.now() - started),
    events: events.filter((e) => e.ts >= o.window.from).length,
    warmupEvents: events.filter((e) => e.ts < o.window.from).length,
    currentCached,
    current,
    proposed: summarize(proposed, proposedSnapshot.tasks),
    ...(recorded ? { recorded } : {}),
  }
}
