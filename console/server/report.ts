/**
 * Reports: pushes, suppressions by reason, clicks and click-through with Wilson 95% intervals,
 * per task and per experiment arm, over time. A click is a `push_click` or `push_open` event
 * carrying the decision's id in `attrs.decisionId` (as the material-stats topology counts
 * them), counted once per decision.
 */
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'

const Z = 1.959963984540054

/** The Wilson score interval of `k` successes in `n` trials at 95%; [0, 1] when n is 0. */
export function wilson(k: number, n: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 }
  const p = k / n
  const z2 = Z * Z
  const denom = 1 + z2 / n
  const center = (p + z2 / (2 * n)) / denom
  const half = (Z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) }
}

/** One point of a series: pushes sent in the bucket starting at `t`, and how many were clicked. */
export interface Point {
  t: number
  pushes: number
  clicks: number
}

export interface TaskReport {
  taskId: string
  pushes: number
  suppressions: { [reason: string]: number }
  clicks: number
  ctr: number
  ctrLow: number
  ctrHigh: number
  series: Point[]
}

export interface ArmReport {
  experiment: string
  arm: string
  /** Distinct users pushed in this arm. */
  users: number
  pushes: number
  clicks: number
  ctr: number
  ctrLow: number
  ctrHigh: number
  series: Point[]
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

/** The report over decisions, suppressions and clicks (the window applies to `sendAt` and suppression `ts`). */
export function buildReport(o: { decisions: readonly Decision[]; suppressions: readonly Suppression[]; clicked: ReadonlySet<string>; query: ReportQuery }): { tasks: TaskReport[]; arms: ArmReport[] } {
  const q = o.query
  const size = q.bucket === 'day' ? 86_400_000 : 3_600_000
  const inWindow = (ts: number): boolean => (q.from === undefined || ts >= q.from) && (q.to === undefined || ts < q.to)
  const decisions = o.decisions.filter((d) => inWindow(d.sendAt) && (q.task === undefined || d.taskId === q.task) && (q.experiment === undefined || d.experimentId === q.experiment))
  const tasks = new Map<string, TaskReport & { buckets: Map<number, Point> }>()
  const arms = new Map<string, ArmReport & { buckets: Map<number, Point>; userSet: Set<string> }>()
  const taskOf = (taskId: string) => {
    let t = tasks.get(taskId)
    if (!t) tasks.set(taskId, (t = { taskId, pushes: 0, suppressions: {}, clicks: 0, ctr: 0, ctrLow: 0, ctrHigh: 1, series: [], buckets: new Map() }))
    return t
  }
  const add = (buckets: Map<number, Point>, ts: number, clicked: boolean): void => {
    const t = Math.floor(ts / size) * size
    let p = buckets.get(t)
    if (!p) buckets.set(t, (p = { t, pushes: 0, clicks: 0 }))
    p.pushes++
    if (clicked) p.clicks++
  }
  for (const d of decisions) {
    const clicked = o.clicked.has(d.decisionId)
    const t = taskOf(d.taskId)
    t.pushes++
    if (clicked) t.clicks++
    add(t.buckets, d.sendAt, clicked)
    if (d.experimentId && d.arm) {
      const k = `${d.experimentId}\u0000${d.arm}`
      let a = arms.get(k)
      if (!a) arms.set(k, (a = { experiment: d.experimentId, arm: d.arm, users: 0, pushes: 0, clicks: 0, ctr: 0, ctrLow: 0, ctrHigh: 1, series: [], buckets: new Map(), userSet: new Set() }))
      a.pushes++
      a.userSet.add(d.userId)
      if (clicked) a.clicks++
      add(a.buckets, d.sendAt, clicked)
    }
  }
  if (q.experiment === undefined) {
    for (const s of o.suppressions) {
      if (!inWindow(s.ts) || (q.task !== undefined && s.taskId !== q.task)) continue
      const t = taskOf(s.taskId)
      t.suppressions[s.reason] = (t.suppressions[s.reason] ?? 0) + 1
    }
  }
  const rates = (r: { pushes: number; clicks: number; ctr: number; ctrLow: number; ctrHigh: number }): void => {
    const w = wilson(r.clicks, r.pushes)
    r.ctr = r.pushes ? r.clicks / r.pushes : 0
    r.ctrLow = w.low
    r.ctrHigh = w.high
  }
  const series = (b: Map<number, Point>): Point[] => [...b.values()].sort((x, y) => x.t - y.t)
  return {
    tasks: [...tasks.values()]
      .map(({ buckets, ...t }) => {
        rates(t)
        return { ...t, series: series(buckets) }
      })
      .sort((a, b) => a.taskId.localeCompare(b.taskId)),
    arms: [...arms.values()]
      .map(({ buckets, userSet, ...a }) => {
        rates(a)
        return { ...a, users: userSet.size, series: series(buckets) }
      })
      .sort((a, b) => a.experiment.localeCompare(b.experiment) || a.arm.localeCompare(b.arm)),
  }
}
