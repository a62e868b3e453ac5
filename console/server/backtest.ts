/**
 * Backtests: a window of the recorded world replayed through both topologies with the embedded
 * runner, in memory (replay.ts), once with the configuration in force and once with the proposed
 * changes, each run summarized the same way. Both runs resume from the same snapshot of the
 * history before the window, replayed once (the world's own configuration, events, feedback, material stats and
 * click model as they were), so the difference between them is the change and nothing else, and
 * the run of the unchanged configuration gives what the world recorded.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { TaskConfig } from '../../operators/config.ts'
import { assignArm } from '../../operators/scoring.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import type { History } from './replay-history.ts'
import type { Replayer, WindowConfig } from './replay.ts'

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

/** The outputs of one run. */
export interface RunOutput {
  decisions: Decision[]
  suppressions: Suppression[]
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

/** The configuration with the changes applied (records already validated). */
export function applyChanges(base: WindowConfig, changes: Changes): WindowConfig {
  const tasks = new Map(base.tasks)
  const materials = new Map(base.materials)
  const audiences = new Map(base.audiences)
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
  for (const a of changes.audiences ?? []) {
    const m = a as { userId: string; segmentId: string; member?: boolean }
    const id = `${m.segmentId}:${m.userId}`
    if (m.member === false) audiences.delete(id)
    else audiences.set(id, a)
  }
  return { tasks, materials, audiences }
}

/** How the run of the current configuration agrees with what the world recorded in the window. */
export interface Agreement {
  recorded: number
  current: number
  /** Decision ids in both. */
  same: number
}

/** The result of a backtest: both summaries over the same window. */
export interface BacktestResult {
  window: { from: number; to: number }
  elapsedMs: number
  /** Behavior events in the window, and before it (the replayed history). */
  events: number
  warmupEvents: number
  current: Summary
  proposed: Summary
  /** What the world decided in the window (its recorded outputs), for comparison. */
  recorded?: Summary
  /** Decision ids of the current run against the recorded ones. */
  agreement?: Agreement
}

/**
 * The runs of the current configuration, done or under way, by what they depend on (the history,
 * the window and the configuration): an editor trying several changes against the same
 * configuration pays for the current run once, and a backtest asked for while the console runs it
 * in the background (at start, for the default window) waits for that run instead of another.
 * Holds the last few only.
 */
export class CurrentCache {
  private readonly entries = new Map<string, Promise<RunOutput>>()
  constructor(private readonly size = 4) {}

  /** The key of a run: a hash of everything its outcome depends on. */
  static key(history: History, config: WindowConfig, window: { from: number; to: number }, warmupMs: number | undefined): string {
    const h = createHash('sha256')
    h.update(JSON.stringify([[...config.tasks], [...config.materials], [...config.audiences], window, warmupMs ?? null, history.length]))
    for (const b of history) h.update(`${b.length}\u0000`)
    return h.digest('hex')
  }

  get(key: string): Promise<RunOutput> | undefined {
    return this.entries.get(key)
  }

  set(key: string, run: Promise<RunOutput>): void {
    this.entries.delete(key)
    this.entries.set(key, run)
    // A failed run is not kept: the next backtest tries again.
    run.catch(() => {
      if (this.entries.get(key) === run) this.entries.delete(key)
    })
    while (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value as string)
  }
}

/** What the run of the current configuration over a window needs. */
export interface CurrentRunOptions {
  replayer: Replayer
  history: History
  current: WindowConfig
  window: { from: number; to: number }
  warmupMs?: number
  cache?: CurrentCache
}

/** The run of the current configuration over the window: from the cache, or started now (and cached). */
export function currentRun(o: CurrentRunOptions): { run: Promise<RunOutput>; cached: boolean } {
  const key = CurrentCache.key(o.history, o.current, o.window, o.warmupMs)
  const cached = o.cache?.get(key)
  if (cached) return { run: cached, cached: true }
  const run = (async () => o.replayer.window(o.history, o.window, o.current, await o.replayer.take(o.history, o.window.from, o.warmupMs)))()
  o.cache?.set(key, run)
  return { run, cached: false }
}

/** Options of {@link backtest}. */
export interface BacktestOptions {
  replayer: Replayer
  /** The recorded inputs, in the runs that processed them (replay.ts). */
  history: History
  /** The configuration in force now. */
  current: WindowConfig
  changes: Changes
  window: { from: number; to: number }
  /** Only this much history before the window (default: all of it, which reproduces the world). */
  warmupMs?: number
  cache?: CurrentCache
  /** What the world recorded (all of it; the window is cut here). */
  recorded?: RunOutput
  /** The behavior-events topic: events are counted from the history. */
  eventsTopic: string
}

/**
 * Replays the window with the current configuration and with the changes, from the same replay
 * of the history before it; summarizes both, and what the world recorded in the window.
 */
export async function backtest(o: BacktestOptions): Promise<BacktestResult & { currentCached: boolean }> {
  const started = performance.now()
  const c = currentRun(o)
  const currentCached = c.cached
  const current = await c.run
  const proposedConfig = applyChanges(o.current, o.changes)
  const proposed = await o.replayer.window(o.history, o.window, proposedConfig, await o.replayer.take(o.history, o.window.from, o.warmupMs))
  const since = o.warmupMs === undefined ? -Infinity : o.window.from - o.warmupMs
  const inWindow = (ts: number): boolean => ts >= o.window.from && ts < o.window.to
  const rec = o.recorded ? { decisions: o.recorded.decisions.filter((d) => inWindow(d.decidedAt)), suppressions: o.recorded.suppressions.filter((x) => inWindow(x.ts)) } : undefined
  let events = 0
  let warmupEvents = 0
  for (const b of o.history) {
    for (const r of b) {
      if (r.topic !== o.eventsTopic) continue
      if (inWindow(r.ts)) events++
      else if (r.ts < o.window.from && r.ts >= since) warmupEvents++
    }
  }
  const agreement = rec ? agreementOf(rec.decisions, current.decisions) : undefined
  return {
    window: o.window,
    elapsedMs: Math.round(performance.now() - started),
    events,
    warmupEvents,
    currentCached,
    current: summarize(current, o.current.tasks),
    proposed: summarize(proposed, proposedConfig.tasks),
    ...(rec ? { recorded: summarize(rec, o.current.tasks), agreement } : {}),
  }
}

function agreementOf(recorded: readonly Decision[], current: readonly Decision[]): Agreement {
  const ids = new Set(recorded.map((d) => d.decisionId))
  return { recorded: recorded.length, current: current.length, same: current.filter((d) => ids.has(d.decisionId)).length }
}
