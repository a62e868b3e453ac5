/**
 * The arithmetic of bench/peer/scale.ts (N processes of one application against one): per
 * guarantee, the median throughput of each process count, its range, and the ratio of the
 * medians; and the machine's CPU use from /proc/stat, which says whether the processes had the
 * cores to themselves. Pure functions, so that test/bench/scale-summary.test.ts can check them on
 * fixed inputs.
 */
import type { Guarantee } from './result.ts'
import { formatNumber, median } from './table.ts'

/** One process of a run, as its own JSON result says (`scripts/kafka/bench.ts --until-signal`). */
export interface ScaleProcess {
  /** CPU time of the process over its life, in percent of one core. */
  cpuPercent: number
  commits: number
  /** Its life, from start-up to the stop the driver sent. */
  seconds: number
  /**
   * Its main thread over the run (spawn to the last output), from /proc/<pid>/schedstat: on a CPU,
   * runnable but waiting for one, asleep; in percent of the run. Null where there is no /proc.
   */
  mainThread?: { cpuPercent: number; runQueuePercent: number; asleepPercent: number } | null
}

/** One run: `processes` processes of one application worked through the backlog. */
export interface ScaleRun {
  /** 1-based; every process count and guarantee runs once per run. */
  run: number
  guarantee: Guarantee
  processes: number
  events: number
  /** From spawning the processes until the driver read the backlog's last output. */
  seconds: number
  eventsPerSecond: number
  /** From the first output read to the last: the work, without start-up and the group's first join. */
  processingSeconds: number
  /** From spawning until the group had `processes` members (null: never seen, e.g. a fast run). */
  joinedSeconds: number | null
  /** Every process' own figures (empty when a process wrote none). */
  perProcess: ScaleProcess[]
  /** The whole machine's CPU use over the run, in percent of one core (200 = both of 2 cores busy). */
  machineBusyPercent: number | null
  loadBefore: number
  loadAfter: number
}

/** One line of the table: a guarantee and process count. */
export interface ScaleRow {
  guarantee: Guarantee
  processes: number
  eventsPerSecond: number[]
  eventsPerSecondMedian: number | null
  /** Events over the processing span (first output to last). */
  processingPerSecond: number[]
  processingPerSecondMedian: number | null
  /** CPU of the run's processes together, in percent of one core. */
  cpuPercent: number[]
  cpuPercentMedian: number | null
  machineBusyPercent: number[]
  /** Per run, the mean over its processes of their main thread's shares (runs where every process has them). */
  mainThread: Array<{ cpuPercent: number; runQueuePercent: number; asleepPercent: number }>
  /** This row's median throughput over the one-process row's of the same guarantee. */
  ratio: number | null
  /** The same over processing spans. */
  processingRatio: number | null
}

/** a / b; null when either is missing or b is 0. */
export function ratioOf(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null
  return a / b
}

/**
 * The table's lines: per guarantee that was run (table order) and per process count (ascending),
 * every run's values in run order, their medians and the ratio to one process.
 */
export function summarizeScale(runs: readonly ScaleRun[]): ScaleRow[] {
  const rows: ScaleRow[] = []
  for (const guarantee of ['at_least_once', 'exactly_once', 'exactly_once_v2'] as const) {
    const of = runs.filter((r) => r.guarantee === guarantee).sort((a, b) => a.run - b.run)
    const counts = [...new Set(of.map((r) => r.processes))].sort((a, b) => a - b)
    const perSecond = (r: ScaleRun): number => Math.round(r.events / r.processingSeconds)
    const base = of.filter((r) => r.processes === 1)
    const [baseEps, baseProcessing] = [median(base.map((r) => r.eventsPerSecond)), median(base.map(perSecond))]
    for (const processes of counts) {
      const rs = of.filter((r) => r.processes === processes)
      const eventsPerSecond = rs.map((r) => r.eventsPerSecond)
      const processingPerSecond = rs.map(perSecond)
      const cpuPercent = rs.filter((r) => r.perProcess.length === processes).map((r) => r.perProcess.reduce((n, p) => n + p.cpuPercent, 0))
      const [eventsPerSecondMedian, processingPerSecondMedian] = [median(eventsPerSecond), median(processingPerSecond)]
      rows.push({
        guarantee,
        processes,
        eventsPerSecond,
        eventsPerSecondMedian,
        processingPerSecond,
        processingPerSecondMedian,
        cpuPercent,
        cpuPercentMedian: median(cpuPercent),
        machineBusyPercent: rs.map((r) => r.machineBusyPercent).filter((v): v is number => v !== null),
        mainThread: rs.flatMap((r) => {
          const m = r.perProcess.map((p) => p.mainThread ?? null)
          if (m.length !== processes || m.some((x) => x === null)) return []
          const mean = (k: 'cpuPercent' | 'runQueuePercent' | 'asleepPercent'): number => Math.round(m.reduce((n, x) => n + (x as { [q in typeof k]: number })[k], 0) / m.length)
          return [{ cpuPercent: mean('cpuPercent'), runQueuePercent: mean('runQueuePercent'), asleepPercent: mean('asleepPercent') }]
        }),
        ratio: ratioOf(eventsPerSecondMedian, baseEps),
        processingRatio: ratioOf(processingPerSecondMedian, baseProcessing),
      })
    }
  }
  return rows
}

/** `median (min–max)`, or the one value, or – for none. */
function cell(values: readonly number[]): string {
  if (values.length === 0) return '–'
  if (values.length === 1) return formatNumber(values[0] as number)
  return `${formatNumber(median(values))} (${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))})`
}

const LABEL: { [g in Guarantee]: string } = { at_least_once: 'at-least-once', exactly_once: 'exactly-once', exactly_once_v2: 'exactly-once v2' }

/** The table in Markdown, ready to paste into docs/performance.md. */
export function renderScaleTable(rows: readonly ScaleRow[]): string {
  const lines = [
    '| guarantee | processes | events/s from start, median (min–max) | vs one process | events/s while processing | vs one process | CPU of the processes, % of one core | machine busy, % of one core | main thread: on CPU / run queue / asleep, % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  const shares = (m: ScaleRow['mainThread']): string => {
    if (m.length === 0) return '–'
    const med = (k: 'cpuPercent' | 'runQueuePercent' | 'asleepPercent'): string => formatNumber(median(m.map((x) => x[k])))
    return `${med('cpuPercent')} / ${med('runQueuePercent')} / ${med('asleepPercent')}`
  }
  const x = (r: number | null): string => (r === null ? '–' : `${r.toFixed(2)}x`)
  for (const r of rows) {
    lines.push(`| ${LABEL[r.guarantee]} | ${r.processes} | ${cell(r.eventsPerSecond)} | ${x(r.ratio)} | ${cell(r.processingPerSecond)} | ${x(r.processingRatio)} | ${cell(r.cpuPercent)} | ${cell(r.machineBusyPercent)} | ${shares(r.mainThread)} |`)
  }
  return `${lines.join('\n')}\n`
}

/** CPU time of the whole machine, in clock ticks, from the `cpu` line of /proc/stat. */
export interface CpuTimes {
  busy: number
  total: number
}

/**
 * Parses /proc/stat's first line (`cpu  user nice system idle iowait irq softirq steal ...`):
 * idle and iowait are idle, the rest busy (guest time is already counted in user).
 * @throws Error when the text has no `cpu` line.
 */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l))
  if (!line) throw new Error('/proc/stat: no "cpu" line')
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = f.reduce((n, v) => n + v, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  return { busy: total - idle, total }
}

/** The machine's CPU use between two readings, in percent of one core (`cores` × 100 at most). */
export function busyPercent(before: CpuTimes, after: CpuTimes, cores: number): number | null {
  const total = after.total - before.total
  if (total <= 0) return null
  return Math.round(((after.busy - before.busy) / total) * 100 * cores)
}

/** A thread's scheduler times, from /proc/<pid>/schedstat (the main thread's, for a process id). */
export interface SchedTimes {
  /** Time on a CPU, ns. */
  cpuNs: number
  /** Time runnable but waiting for a CPU (the run queue), ns. */
  waitNs: number
}

/**
 * Parses /proc/<pid>/schedstat (`<ns on cpu> <ns on the run queue> <timeslices>`). What a thread
 * does not spend on either it spends asleep: for the runner's main thread, waiting for the broker
 * or a timer. So a main thread short of CPU shows run-queue time, one that waits shows neither.
 * @throws Error when the text is not three numbers.
 */
export function parseSchedstat(text: string): SchedTimes {
  const f = text.trim().split(/\s+/).map(Number)
  if (f.length !== 3 || f.some((v) => !Number.isFinite(v))) throw new Error(`schedstat: expected three numbers, got ${JSON.stringify(text)}`)
  return { cpuNs: f[0] as number, waitNs: f[1] as number }
}

/** Shares of `wallMs` between two readings: on a CPU, waiting for one, and asleep (the rest), in percent. */
export function schedShares(before: SchedTimes, after: SchedTimes, wallMs: number): { cpuPercent: number; runQueuePercent: number; asleepPercent: number } {
  const cpu = (after.cpuNs - before.cpuNs) / 1e6
  const wait = (after.waitNs - before.waitNs) / 1e6
  const pct = (ms: number): number => Math.round((100 * ms) / wallMs)
  return { cpuPercent: pct(cpu), runQueuePercent: pct(wait), asleepPercent: Math.max(0, pct(wallMs - cpu - wait)) }
}
