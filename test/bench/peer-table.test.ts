import { describe, expect, it } from 'vitest'
import { parseOnly } from '../../bench/peer/only.ts'
import { parseBenchResult } from '../../bench/peer/result.ts'
import type { BenchResult, Engine, Guarantee } from '../../bench/peer/result.ts'
import { backlogEvents, liveEvent } from '../../bench/peer/workload.ts'
import { formatNumber, median, ratio, renderTable, summarize } from '../../bench/peer/table.ts'
import type { RunRecord } from '../../bench/peer/table.ts'

/** A result with the given figures; the measurements not given are null, as when not run. */
function result(engine: Engine, guarantee: Guarantee, f: { eps?: number; cpu?: number; restore?: number; p50?: number; p99?: number; received?: number }): BenchResult {
  return {
    engine,
    version: engine === 'hermes' ? 'v20.20.2' : '3.9.2',
    guarantee,
    events: 200_000,
    partitions: 4,
    commitIntervalMs: guarantee === 'exactly_once' ? 100 : 5000,
    id: 'x',
    throughput: f.eps === undefined ? null : { events: 200_000, seconds: 200_000 / f.eps, eventsPerSecond: f.eps, commits: 4, cpuPercent: f.cpu ?? 100 },
    restore: f.restore === undefined ? null : { records: f.restore, ms: 1000, recordsPerSecond: f.restore },
    latency: f.p50 === undefined ? null : { rate: 2000, seconds: 20, produced: 40_000, received: f.received ?? 40_000, p50Ms: f.p50, p99Ms: f.p99 ?? f.p50, maxMs: f.p99 ?? f.p50 },
  }
}
const rec = (run: number, engine: Engine, guarantee: Guarantee, f: Parameters<typeof result>[2]): RunRecord => ({ run, engine, guarantee, result: result(engine, guarantee, f) })

describe('median and ratio', () => {
  it('takes the middle value of an odd count and the mean of the two middle ones of an even count, in any order', () => {
    expect(median([9, 1, 5])).toBe(5)
    expect(median([8, 2, 4, 6])).toBe(5)
    expect(median([7])).toBe(7)
    expect(median([])).toBeNull()
  })

  it('does not reorder the caller’s array', () => {
    const values = [3, 1, 2]
    median(values)
    expect(values).toEqual([3, 1, 2])
  })

  it('divides Hermes by Kafka Streams, and has no ratio without both sides or over zero', () => {
    expect(ratio(8000, 40_000)).toBeCloseTo(0.2)
    expect(ratio(null, 40_000)).toBeNull()
    expect(ratio(8000, null)).toBeNull()
    expect(ratio(8000, 0)).toBeNull()
  })
})

describe('summarize', () => {
  const runs: RunRecord[] = [
    rec(2, 'hermes', 'at_least_once', { eps: 9000, cpu: 80, restore: 60_000, p50: 30, p99: 90 }),
    rec(1, 'hermes', 'at_least_once', { eps: 7000, cpu: 70, restore: 50_000, p50: 20, p99: 80 }),
    rec(3, 'hermes', 'at_least_once', { eps: 8000, cpu: 75, restore: 70_000, p50: 25, p99: 400 }),
    rec(1, 'kafka-streams', 'at_least_once', { eps: 41_000, cpu: 140, restore: 100_000, p50: 210, p99: 250 }),
    rec(2, 'kafka-streams', 'at_least_once', { eps: 35_000, cpu: 125, restore: 120_000, p50: 200, p99: 260 }),
    rec(3, 'kafka-streams', 'at_least_once', { eps: 39_000, cpu: 146, restore: 110_000, p50: 220, p99: 240 }),
    rec(1, 'hermes', 'exactly_once', { eps: 4000 }),
    rec(2, 'hermes', 'exactly_once', { eps: 3600 }),
    rec(1, 'kafka-streams', 'exactly_once', { eps: 36_000 }),
  ]
  const rows = summarize(runs)
  const row = (g: Guarantee, label: string) => rows.find((r) => r.guarantee === g && r.figure.label === label)

  it('gives each side’s values in run order, their medians and the ratio of the medians', () => {
    const t = row('at_least_once', 'backlog throughput')
    expect(t?.hermes).toEqual([7000, 9000, 8000])
    expect(t?.kafkaStreams).toEqual([41_000, 35_000, 39_000])
    expect(t?.hermesMedian).toBe(8000)
    expect(t?.kafkaStreamsMedian).toBe(39_000)
    expect(t?.ratio).toBeCloseTo(8000 / 39_000)
    expect(row('at_least_once', 'latency p99')?.hermesMedian).toBe(90)
    expect(row('at_least_once', 'latency p99')?.ratio).toBeCloseTo(90 / 250)
    expect(row('at_least_once', 'restore')?.ratio).toBeCloseTo(60_000 / 110_000)
    // 40,000 read of 2,000/s × 20 s
    expect(row('at_least_once', 'latency outputs read')?.hermes).toEqual([100, 100, 100])
  })

  it('takes the mean of the middle two for an even number of runs, and lists guarantees in table order', () => {
    expect(row('exactly_once', 'backlog throughput')?.hermesMedian).toBe(3800)
    expect(row('exactly_once', 'backlog throughput')?.ratio).toBeCloseTo(3800 / 36_000)
    expect(rows[0]?.guarantee).toBe('at_least_once')
    expect(rows[rows.length - 1]?.guarantee).toBe('exactly_once')
  })

  it('leaves out figures no run measured, and latencies of runs that read no output', () => {
    expect(row('exactly_once', 'restore')).toBeUndefined()
    expect(row('exactly_once', 'latency p50')).toBeUndefined()
    const none = summarize([rec(1, 'hermes', 'at_least_once', { p50: -1, received: 0 }), rec(1, 'kafka-streams', 'at_least_once', { p50: 200 })])
    const p50 = none.find((r) => r.figure.label === 'latency p50')
    expect(p50?.hermes).toEqual([])
    expect(p50?.ratio).toBeNull()
    expect(none.find((r) => r.figure.label === 'latency outputs read')?.ratio).toBe(0)
  })
})

describe('renderTable', () => {
  it('prints one Markdown line per guarantee and figure, with median, range and ratio', () => {
    const table = renderTable(
      summarize([
        rec(1, 'hermes', 'at_least_once', { eps: 7000 }),
        rec(2, 'hermes', 'at_least_once', { eps: 8900 }),
        rec(1, 'kafka-streams', 'at_least_once', { eps: 35_000 }),
        rec(2, 'kafka-streams', 'at_least_once', { eps: 41_000 }),
      ]),
    )
    const lines = table.trimEnd().split('\n')
    expect(lines[0]).toBe('| guarantee | figure | Hermes, median (min–max) | Kafka Streams, median (min–max) | Hermes / Kafka Streams |')
    expect(lines[2]).toBe('| at-least-once | backlog throughput, events/s | 7,950 (7,000–8,900) | 38,000 (35,000–41,000) | 0.21x (higher is better) |')
    expect(lines).toHaveLength(2 + 3) // throughput, CPU and commits
  })

  it('shows a lone run without a range, half values with one decimal, and a dash where a side is missing', () => {
    const table = renderTable(summarize([rec(1, 'hermes', 'exactly_once', { eps: 3700 })]))
    expect(table).toContain('| exactly-once | backlog throughput, events/s | 3,700 | – | – |')
    expect(renderTable(summarize([rec(1, 'hermes', 'exactly_once_v2', { eps: 9100 })]))).toContain('| exactly-once v2 | backlog throughput, events/s | 9,100 | – | – |')
    expect(formatNumber(12.5)).toBe('12.5')
    expect(formatNumber(null)).toBe('–')
  })
})

describe('parseOnly', () => {
  it('runs everything when nothing is named, and only the named ones of each kind otherwise', () => {
    expect(parseOnly('')).toEqual({ guarantees: ['at_least_once', 'exactly_once', 'exactly_once_v2'], engines: ['hermes', 'kafka-streams'], measurements: ['throughput', 'restore', 'latency'] })
    expect(parseOnly('exactly_once,latency')).toEqual({ guarantees: ['exactly_once'], engines: ['hermes', 'kafka-streams'], measurements: ['latency'] })
  })

  it('brings throughput along with restore, which restores what the throughput run built', () => {
    expect(parseOnly('restore').measurements).toEqual(['throughput', 'restore'])
  })

  it('names an unknown word and the accepted ones', () => {
    expect(() => parseOnly('exactly-once')).toThrow('--only: unknown "exactly-once"; use a comma-separated list of at_least_once, exactly_once, exactly_once_v2, hermes, kafka-streams, throughput, restore, latency')
  })
})

describe('parseBenchResult', () => {
  it('reads a result and names the file and the field of a bad one', () => {
    const good = result('kafka-streams', 'exactly_once', { eps: 30_000 })
    expect(parseBenchResult(JSON.stringify(good), 'a.json')).toEqual(good)
    expect(() => parseBenchResult(JSON.stringify({ ...good, guarantee: 'exactly_once_v3' }), 'b.json')).toThrow(/^b\.json: not a bench result: guarantee: /)
    expect(() => parseBenchResult('{', 'c.json')).toThrow(/^c\.json: not JSON/)
  })

  it('keeps the warm-up and the p99 per window of a latency run, and still reads results from before them', () => {
    const old = result('hermes', 'at_least_once', { p50: 11, p99: 121 })
    const windowed = { ...old, latency: { ...(old.latency as NonNullable<BenchResult['latency']>), warmupSeconds: 5, windowMs: 2000, windowP99Ms: [19, 64, -1] } }
    expect(parseBenchResult(JSON.stringify(windowed), 'w.json')).toEqual(windowed)
    expect(parseBenchResult(JSON.stringify(old), 'o.json').latency?.windowP99Ms).toBeUndefined()
    expect(() => parseBenchResult(JSON.stringify({ ...windowed, latency: { ...windowed.latency, windowP99Ms: [1.5] } }), 'x.json')).toThrow(/^x\.json: not a bench result: latency\.windowP99Ms\.0: /)
  })
})

describe('the worst window of a latency run', () => {
  it('is the largest p99 of its windows, and absent for runs without windows', () => {
    const withWindows = (engine: Engine, run: number, windows: number[]): RunRecord => {
      const r = result(engine, 'at_least_once', { p50: 10, p99: 40 })
      return { run, engine, guarantee: 'at_least_once', result: { ...r, latency: { ...(r.latency as NonNullable<BenchResult['latency']>), windowP99Ms: windows } } }
    }
    const rows = summarize([withWindows('hermes', 1, [19, 64, -1, 31]), withWindows('hermes', 2, [20, 30]), rec(1, 'kafka-streams', 'at_least_once', { p50: 90, p99: 383 })])
    const worst = rows.find((r) => r.figure.label === 'latency p99, worst 2 s window')
    expect(worst?.hermes).toEqual([64, 30])
    expect(worst?.kafkaStreams).toEqual([])
    expect(worst?.ratio).toBeNull()
  })
})

describe('the shared workload', () => {
  it('generates the events the Java peer generates (Workload.java): users by 7919 mod 5000, types in turn, 10 ms apart', () => {
    const now = Date.UTC(2026, 11, 6, 19, 30)
    const events = backlogEvents(4, now)
    // floor((now - 40 ms) / 1 h - 1) h: the hour before the one that started before now.
    expect(events[0]).toEqual({ eventId: 'e0', userId: 'u0', type: 'view', ts: Date.UTC(2026, 11, 6, 18) })
    expect(events[3]).toEqual({ eventId: 'e3', userId: 'u3757', type: 'cart', ts: Date.UTC(2026, 11, 6, 18) + 30 })
    expect(liveEvent(7, 123)).toEqual({ eventId: 'l7', userId: 'u433', type: 'click', ts: 123 })
  })
})
