import { describe, expect, it } from 'vitest'
import { busyPercent, parseProcStat, parseSchedstat, ratioOf, renderScaleTable, schedShares, summarizeScale } from '../../bench/peer/scale-summary.ts'
import type { ScaleRun } from '../../bench/peer/scale-summary.ts'
import type { Guarantee } from '../../bench/peer/result.ts'

/** A run of `processes` processes over 100k events; the processing span is the whole time less 2 s of start-up. */
function run(n: number, guarantee: Guarantee, processes: number, eps: number, cpu: number[] = [], busy: number | null = 190): ScaleRun {
  const seconds = 100_000 / eps
  return {
    run: n,
    guarantee,
    processes,
    events: 100_000,
    seconds,
    eventsPerSecond: eps,
    processingSeconds: seconds - 2,
    joinedSeconds: processes === 1 ? 3 : 5,
    perProcess: cpu.map((c) => ({ cpuPercent: c, commits: 10, seconds })),
    machineBusyPercent: busy,
    loadBefore: 4,
    loadAfter: 5,
  }
}

describe('summarizeScale', () => {
  const runs = [
    run(2, 'at_least_once', 2, 9000, [90, 80]),
    run(1, 'at_least_once', 1, 5000, [95]),
    run(1, 'at_least_once', 2, 8000, [85, 85]),
    run(2, 'at_least_once', 1, 4000, [97]),
    run(3, 'at_least_once', 1, 6000, [99]),
    run(3, 'at_least_once', 2, 10_000, [70]), // one process wrote no result: left out of the CPU sum
    run(1, 'exactly_once_v2', 2, 1500, [], null),
  ]
  const rows = summarizeScale(runs)

  it('has one row per guarantee and process count, in table order, values in run order', () => {
    expect(rows.map((r) => [r.guarantee, r.processes])).toEqual([
      ['at_least_once', 1],
      ['at_least_once', 2],
      ['exactly_once_v2', 2],
    ])
    expect(rows[0]?.eventsPerSecond).toEqual([5000, 4000, 6000])
    expect(rows[1]?.eventsPerSecond).toEqual([8000, 9000, 10_000])
  })

  it('divides each count’s median by the one-process median of the same guarantee', () => {
    expect(rows[0]?.eventsPerSecondMedian).toBe(5000)
    expect(rows[0]?.ratio).toBe(1)
    expect(rows[1]?.eventsPerSecondMedian).toBe(9000)
    expect(rows[1]?.ratio).toBeCloseTo(1.8)
    // No one-process run of that guarantee: no ratio.
    expect(rows[2]?.ratio).toBeNull()
  })

  it('computes the processing-span throughput from the events and the span, and its ratio', () => {
    // 5000 events/s from start: 20 s in all, 18 s processing.
    expect(rows[0]?.processingPerSecond).toEqual([Math.round(100_000 / 18), Math.round(100_000 / 23), Math.round(100_000 / (100_000 / 6000 - 2))])
    const one = rows[0]?.processingPerSecondMedian as number
    const two = rows[1]?.processingPerSecondMedian as number
    expect(two).toBe(Math.round(100_000 / (100_000 / 9000 - 2)))
    expect(rows[1]?.processingRatio).toBeCloseTo(two / one)
  })

  it('sums the processes’ CPU per run, only for runs where every process reported', () => {
    expect(rows[1]?.cpuPercent).toEqual([170, 170])
    expect(rows[1]?.cpuPercentMedian).toBe(170)
    expect(rows[2]?.cpuPercent).toEqual([])
    expect(rows[2]?.machineBusyPercent).toEqual([])
  })

  it('renders the medians, ranges and ratios as a Markdown table', () => {
    const table = renderScaleTable(rows)
    expect(table).toContain('| at-least-once | 2 | 9,000 (8,000–10,000) | 1.80x |')
    expect(table).toContain('| exactly-once v2 | 2 | 1,500 | – |')
    expect(table.trim().split('\n')).toHaveLength(2 + 3)
  })
})

describe('main threads', () => {
  const withThreads = (r: ScaleRun, shares: Array<[number, number, number] | null>): ScaleRun => ({
    ...r,
    perProcess: r.perProcess.map((p, i) => {
      const s = shares[i]
      return { ...p, mainThread: s ? { cpuPercent: s[0], runQueuePercent: s[1], asleepPercent: s[2] } : null }
    }),
  })
  const rows = summarizeScale([
    withThreads(run(1, 'at_least_once', 2, 8000, [50, 50]), [[30, 60, 10], [20, 50, 30]]),
    withThreads(run(2, 'at_least_once', 2, 8000, [50, 50]), [[40, 40, 20], null]), // one without /proc: left out
    withThreads(run(1, 'at_least_once', 1, 5000, [90]), [[90, 5, 5]]),
  ])

  it('averages the processes of a run, keeps only runs where every process has them, and shows the medians', () => {
    expect(rows[0]?.mainThread).toEqual([{ cpuPercent: 90, runQueuePercent: 5, asleepPercent: 5 }])
    expect(rows[1]?.mainThread).toEqual([{ cpuPercent: 25, runQueuePercent: 55, asleepPercent: 20 }])
    expect(renderScaleTable(rows)).toMatch(/\| 25 \/ 55 \/ 20 \|\n$/)
  })

  it('reads /proc/<pid>/schedstat and splits the wall time into on CPU, run queue and asleep', () => {
    const t = parseSchedstat('3000000000 1000000000 4711\n')
    expect(t).toEqual({ cpuNs: 3e9, waitNs: 1e9 })
    // 10 s: 3 s on a CPU, 1 s runnable, 6 s asleep.
    expect(schedShares({ cpuNs: 0, waitNs: 0 }, t, 10_000)).toEqual({ cpuPercent: 30, runQueuePercent: 10, asleepPercent: 60 })
    expect(() => parseSchedstat('12 x 3')).toThrow(/three numbers/)
  })
})

describe('ratioOf', () => {
  it('has no ratio without both sides or over zero', () => {
    expect(ratioOf(9, 5)).toBeCloseTo(1.8)
    expect(ratioOf(null, 5)).toBeNull()
    expect(ratioOf(9, null)).toBeNull()
    expect(ratioOf(9, 0)).toBeNull()
  })
})

describe('machine CPU from /proc/stat', () => {
  const stat = (user: number, idle: number, iowait = 0): string => `cpu  ${user} 0 ${user / 4} ${idle} ${iowait} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2\n`

  it('counts idle and iowait as idle and the other fields as busy, from the first line only', () => {
    expect(parseProcStat(stat(400, 1000, 100))).toEqual({ busy: 500, total: 1600 })
  })

  it('gives the busy share between two readings in percent of one core', () => {
    // 2 cores: 300 busy ticks of 400 = 75% of the machine = 150% of one core.
    expect(busyPercent({ busy: 100, total: 1000 }, { busy: 400, total: 1400 }, 2)).toBe(150)
    expect(busyPercent({ busy: 100, total: 1000 }, { busy: 100, total: 1000 }, 2)).toBeNull()
  })

  it('refuses text without a cpu line', () => {
    expect(() => parseProcStat('intr 1 2\n')).toThrow(/no "cpu" line/)
  })
})
