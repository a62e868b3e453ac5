/**
 * Reports: per task and per experiment arm, exposed users, pushes, suppressions by reason, clicks
 * and click-through with its Wilson 95% interval, over time. Users and suppressions come from the
 * `exposures` topic (every candidate that reached a decision: sent, suppressed or held out), so
 * holdout arms, whose users get no push, are reported with their users too. A click is a
 * `push_click` or `push_open` event carrying the decision's id in `attrs.decisionId`, counted once
 * per decision. The arms' figures are those of `hermes report experiments` (pipeline/cli/report.ts),
 * intervals against the control arm included.
 */
import type { Interval } from '../../pipeline/cli/report.ts'
import { experimentReport, wilson } from '../../pipeline/cli/report.ts'
import type { Exposure } from '../../operators/exposures.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'

/** One bucket of a series: pushes sent in the bucket starting at `t`, their clicks and CTR interval, users exposed in it. */
export interface Point {
  t: number
  pushes: number
  clicks: number
  /** Distinct users with an exposure in the bucket. */
  users: number
  ctr: number
  ctrLow: number
  ctrHigh: number
}

/** Figures shared by a task's and an arm's report. */
interface Figures {
  /** Distinct users exposed (an exposure or a decision): sent, suppressed or held out. */
  users: number
  pushes: number
  suppressions: { [reason: string]: number }
  clicks: number
  ctr: number
  /** Wilson 95% interval of the CTR; [0, 1] without pushes. */
  ctrLow: number
  ctrHigh: number
  series: Point[]
}

export interface TaskReport extends Figures {
  taskId: string
}

export interface ArmReport extends Figures {
  experiment: string
  arm: string
  /** Users held out (the arm is a holdout): exposures with status `held_out`. */
  heldOut: number
  /** Clicks per exposed user and its 95% interval (null without enough users). */
  clicksPerUser: number | null
  clicksPerUserInterval: Interval
  /** Against the experiment's control arm (`control`, else the first by name); null for the control. */
  vsControl: { control: string; ctr: number | null; ctrInterval: Interval; clicksPerUser: number | null; clicksPerUserInterval: Interval } | null
}

export interface ReportQuery {
  task?: string
  experiment?: string
  from?: number
  to?: number
  bucket: 'hour' | 'day'
}

const CLICK_TYPES = new Set(['push_click', 'push_open'])

/** Ids of the decisions clicked, from behavior events. */
export function clickedDecisions(events: Iterable<BehaviorEvent>): Set<string> {
  const out = new Set<string>()
  for (const e of events) {
    const id = e.attrs?.decisionId
    if (CLICK_TYPES.has(e.type) && typeof id === 'string') out.add(id)
  }
  return out
}

/** The CTR and its interval bounds ([0, 1] without pushes). */
function rates(clicks: number, pushes: number): { ctr: number; ctrLow: number; ctrHigh: number } {
  const w = wilson(clicks, pushes)
  return { ctr: pushes ? clicks / pushes : 0, ctrLow: w ? Math.max(0, w[0]) : 0, ctrHigh: w ? Math.min(1, w[1]) : 1 }
}

/** Accumulates one task's or arm's figures. */
class Tally {
  readonly users = new Set<string>()
  pushes = 0
  clicks = 0
  heldOut = 0
  readonly suppressions: { [reason: string]: number } = {}
  private readonly buckets = new Map<number, { t: number; pushes: number; clicks: number; users: Set<string> }>()
  constructor(private readonly size: number) {}

  private bucket(ts: number): { t: number; pushes: number; clicks: number; users: Set<string> } {
    const t = Math.floor(ts / this.size) * this.size
    let b = this.buckets.get(t)
    if (!b) this.buckets.set(t, (b = { t, pushes: 0, clicks: 0, users: new Set() }))
    return b
  }

  push(d: Decision, clicked: boolean): void {
    this.pushes++
    this.users.add(d.userId)
    const b = this.bucket(d.sendAt)
    b.pushes++
    b.users.add(d.userId)
    if (clicked) {
      this.clicks++
      b.clicks++
    }
  }

  exposure(e: Exposure): void {
    this.users.add(e.userId)
    this.bucket(e.ts).users.add(e.userId)
    if (e.status === 'held_out') this.heldOut++
    if (e.status !== 'sent' && e.reason) this.suppressions[e.reason] = (this.suppressions[e.reason] ?? 0) + 1
  }

  /** A suppression with no exposure to count it (a world without the exposures topic). */
  suppression(s: Suppression): void {
    this.suppressions[s.reason] = (this.suppressions[s.reason] ?? 0) + 1
  }

  figures(): Figures {
    const series = [...this.buckets.values()].sort((a, b) => a.t - b.t).map((b) => ({ t: b.t, pushes: b.pushes, clicks: b.clicks, users: b.users.size, ...rates(b.clicks, b.pushes) }))
    return { users: this.users.size, pushes: this.pushes, suppressions: this.suppressions, clicks: this.clicks, ...rates(this.clicks, this.pushes), series }
  }
}

/**
 * The report over decisions, exposures, suppressions and click events. The window applies to
 * `sendAt` of decisions and `ts` of exposures and suppressions. Suppressions by reason are
 * counted from the exposures; from the suppressions only when there are no exposures at all (a
 * world recorded before the exposures topic existed).
 */
export function buildReport(o: { decisions: readonly Decision[]; exposures: readonly Exposure[]; suppressions: readonly Suppression[]; events: readonly BehaviorEvent[]; query: ReportQuery }): { tasks: TaskReport[]; arms: ArmReport[] } {
  const q = o.query
  const size = q.bucket === 'day' ? 86_400_000 : 3_600_000
  const inWindow = (ts: number): boolean => (q.from === undefined || ts >= q.from) && (q.to === undefined || ts < q.to)
  const wanted = (taskId: string, experimentId: string | null | undefined): boolean => (q.task === undefined || taskId === q.task) && (q.experiment === undefined || experimentId === q.experiment)
  const decisions = o.decisions.filter((d) => inWindow(d.sendAt) && wanted(d.taskId, d.experimentId))
  const exposures = o.exposures.filter((e) => inWindow(e.ts) && wanted(e.taskId, e.experimentId))
  const clicked = clickedDecisions(o.events)
  const tasks = new Map<string, Tally>()
  const arms = new Map<string, { experiment: string; arm: string; tally: Tally }>()
  const taskOf = (id: string): Tally => {
    let t = tasks.get(id)
    if (!t) tasks.set(id, (t = new Tally(size)))
    return t
  }
  const armOf = (experiment: string, arm: string): Tally => {
    const k = `${experiment}\u0000${arm}`
    let a = arms.get(k)
    if (!a) arms.set(k, (a = { experiment, arm, tally: new Tally(size) }))
    return a.tally
  }
  for (const d of decisions) {
    const c = clicked.has(d.decisionId)
    taskOf(d.taskId).push(d, c)
    if (d.experimentId && d.arm) armOf(d.experimentId, d.arm).push(d, c)
  }
  for (const e of exposures) {
    taskOf(e.taskId).exposure(e)
    if (e.experimentId && e.arm) armOf(e.experimentId, e.arm).exposure(e)
  }
  if (!o.exposures.length && q.experiment === undefined) for (const s of o.suppressions) if (inWindow(s.ts) && wanted(s.taskId, undefined)) taskOf(s.taskId).suppression(s)
  // Users, clicks per user and the differences to the control arm: `hermes report experiments`' own figures.
  const byExperiment = new Map(experimentReport({ decisions: decisions as unknown as Array<{ [k: string]: unknown }>, exposures: exposures as unknown as Array<{ [k: string]: unknown }>, events: o.events as unknown as Array<{ [k: string]: unknown }> }).map((r) => [r.experimentId, r]))
  return {
    tasks: [...tasks].map(([taskId, t]) => ({ taskId, ...t.figures() })).sort((a, b) => a.taskId.localeCompare(b.taskId)),
    arms: [...arms.values()]
      .map(({ experiment, arm, tally }) => {
        const r = byExperiment.get(experiment)
        const row = r?.arms.find((a) => a.arm === arm)
        return {
          experiment,
          arm,
          ...tally.figures(),
          heldOut: tally.heldOut,
          clicksPerUser: row?.clicksPerUser ?? null,
          clicksPerUserInterval: row?.clicksPerUserInterval ?? null,
          vsControl: row?.vsControl && r ? { control: r.control, ...row.vsControl } : null,
        }
      })
      .sort((a, b) => a.experiment.localeCompare(b.experiment) || a.arm.localeCompare(b.arm)),
  }
}
