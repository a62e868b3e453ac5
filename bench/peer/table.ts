/**
 * The arithmetic of the side-by-side table (bench/peer/compare.ts): per guarantee and figure, the
 * median of each side's runs, their range, and the Hermes / Kafka Streams ratio. Pure functions, so
 * that test/bench/peer-table.test.ts can check them on fixed inputs.
 */
import type { BenchResult, Engine, Guarantee, Measurement } from './result.ts'

/** One run of one engine, as the compare command records it. */
export interface RunRecord {
  /** 1-based run number; both engines and both guarantees run once per run. */
  run: number
  engine: Engine
  guarantee: Guarantee
  result: BenchResult
}

/** A figure of the table: where it comes from in a result, and which way is better. */
export interface Figure {
  measurement: Measurement
  label: string
  unit: string
  better: 'higher' | 'lower'
  pick(r: BenchResult): number | null
}

/** The figures of the table, in order. */
export const FIGURES: readonly Figure[] = [
  { measurement: 'throughput', label: 'backlog throughput', unit: 'events/s', better: 'higher', pick: (r) => r.throughput?.eventsPerSecond ?? null },
  { measurement: 'throughput', label: 'backlog CPU', unit: '% of one core', better: 'lower', pick: (r) => r.throughput?.cpuPercent ?? null },
  { measurement: 'throughput', label: 'backlog commits', unit: 'commits', better: 'lower', pick: (r) => r.throughput?.commits ?? null },
  { measurement: 'restore', label: 'restore', unit: 'records/s', better: 'higher', pick: (r) => r.restore?.recordsPerSecond ?? null },
  { measurement: 'restore', label: 'restore time', unit: 'ms', better: 'lower', pick: (r) => r.restore?.ms ?? null },
  // Latencies count only the outputs read: a side that cannot keep the rate, or falls behind, shows it here.
  { measurement: 'latency', label: 'latency outputs read', unit: '% of rate × seconds', better: 'higher', pick: (r) => (r.latency ? Math.round((100 * r.latency.received) / (r.latency.rate * r.latency.seconds)) : null) },
  { measurement: 'latency', label: 'latency p50', unit: 'ms', better: 'lower', pick: (r) => r.latency && r.latency.received > 0 ? r.latency.p50Ms : null },
  { measurement: 'latency', label: 'latency p99', unit: 'ms', better: 'lower', pick: (r) => r.latency && r.latency.received > 0 ? r.latency.p99Ms : null },
  // A pause shows here even when it is under 1% of the run's events (results from before it was measured: none).
  { measurement: 'latency', label: 'latency p99, worst 2 s window', unit: 'ms', better: 'lower', pick: (r) => r.latency?.windowP99Ms?.length ? Math.max(...r.latency.windowP99Ms) : null },
]

/** The median: the middle value, or the mean of the two middle ones; null for no values. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Hermes / Kafka Streams; null when either side is missing or Kafka Streams' figure is 0. */
export function ratio(hermes: number | null, kafkaStreams: number | null): number | null {
  if (hermes === null || kafkaStreams === null || kafkaStreams === 0) return null
  return hermes / kafkaStreams
}

/** One line of the table. */
export interface Row {
  guarantee: Guarantee
  figure: Figure
  hermes: number[]
  kafkaStreams: number[]
  hermesMedian: number | null
  kafkaStreamsMedian: number | null
  ratio: number | null
}

/**
 * The table's lines: for each guarantee that was run and each figure that has a value on either
 * side, the values of every run in run order, their medians and the ratio of the medians.
 */
export function summarize(records: readonly RunRecord[]): Row[] {
  const rows: Row[] = []
  for (const guarantee of ['at_least_once', 'exactly_once', 'exactly_once_v2'] as const) {
    const of = (engine: Engine): RunRecord[] => records.filter((r) => r.guarantee === guarantee && r.engine === engine).sort((a, b) => a.run - b.run)
    const [h, k] = [of('hermes'), of('kafka-streams')]
    if (h.length + k.length === 0) continue
    for (const figure of FIGURES) {
      const values = (rs: RunRecord[]): number[] => rs.map((r) => figure.pick(r.result)).filter((v): v is number => v !== null)
      const [hermes, kafkaStreams] = [values(h), values(k)]
      if (hermes.length + kafkaStreams.length === 0) continue
      const [hermesMedian, kafkaStreamsMedian] = [median(hermes), median(kafkaStreams)]
      rows.push({ guarantee, figure, hermes, kafkaStreams, hermesMedian, kafkaStreamsMedian, ratio: ratio(hermesMedian, kafkaStreamsMedian) })
    }
  }
  return rows
}

/** A figure as the table shows it: integers with thousands separators, medians of halves with one decimal. */
export function formatNumber(n: number | null): string {
  if (n === null) return '–'
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })
}

/** `median (min–max, n runs)`, the spread says how noisy the machine was. */
function cell(values: readonly number[], med: number | null): string {
  if (values.length === 0) return '–'
  if (values.length === 1) return formatNumber(med)
  return `${formatNumber(med)} (${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))})`
}

const GUARANTEE_LABEL: { [g in Guarantee]: string } = { at_least_once: 'at-least-once', exactly_once: 'exactly-once', exactly_once_v2: 'exactly-once v2' }

/**
 * The table in Markdown, ready to paste into docs/performance.md. The ratio is always Hermes over
 * Kafka Streams; the last column says whether that favours Hermes (higher is better for
 * throughput, lower for latency, time and CPU).
 */
export function renderTable(rows: readonly Row[]): string {
  const lines = [
    '| guarantee | figure | Hermes, median (min–max) | Kafka Streams, median (min–max) | Hermes / Kafka Streams |',
    '|---|---|---:|---:|---:|',
  ]
  for (const r of rows) {
    const ratioText = r.ratio === null ? '–' : `${r.ratio.toFixed(2)}x (${r.figure.better} is better)`
    lines.push(`| ${GUARANTEE_LABEL[r.guarantee]} | ${r.figure.label}, ${r.figure.unit} | ${cell(r.hermes, r.hermesMedian)} | ${cell(r.kafkaStreams, r.kafkaStreamsMedian)} | ${ratioText} |`)
  }
  return `${lines.join('\n')}\n`
}
