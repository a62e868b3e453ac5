import { performance } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import { Counter, Gauge, Histogram } from 'prom-client'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { KafkaApp } from './kafka-app.ts'
import { buffered } from './source.ts'

/** Metrics of the Kafka runner, registered in the process registry next to the engine's. */
export class KafkaMetrics {
  readonly restoredRecords: Counter<'app'>
  readonly restoreRemaining: Gauge<'app'>
  readonly restoreSeconds: Histogram<'app'>
  readonly produced: Counter<'app' | 'kind'>
  readonly commits: Counter<'app' | 'outcome'>
  readonly pausedPartitions: Gauge<'app'>
  readonly bufferedRecords: Gauge<'app'>
  readonly assignedTasks: Gauge<'app'>
  readonly rebalances: Counter<'app'>
  readonly transactionAborts: Counter<'app'>

  constructor(registry: Registry) {
    const registers = [registry]
    const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
    this.restoredRecords = get('hermes_restore_records_total', () => new Counter({ name: 'hermes_restore_records_total', help: 'Changelog records restored into local state', labelNames: ['app'], registers }))
    this.restoreRemaining = get('hermes_restore_remaining_records', () => new Gauge({ name: 'hermes_restore_remaining_records', help: 'Changelog records left to restore', labelNames: ['app'], registers }))
    this.restoreSeconds = get('hermes_restore_seconds', () => new Histogram({ name: 'hermes_restore_seconds', help: 'Duration of a state restore', labelNames: ['app'], buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300], registers }))
    this.produced = get('hermes_kafka_produced_records_total', () => new Counter({ name: 'hermes_kafka_produced_records_total', help: 'Records produced to Kafka (outputs, changelogs)', labelNames: ['app', 'kind'], registers }))
    this.commits = get('hermes_kafka_commits_total', () => new Counter({ name: 'hermes_kafka_commits_total', help: 'Task commits by outcome', labelNames: ['app', 'outcome'], registers }))
    this.pausedPartitions = get('hermes_kafka_paused_partitions', () => new Gauge({ name: 'hermes_kafka_paused_partitions', help: 'Input partitions paused for backpressure', labelNames: ['app'], registers }))
    this.bufferedRecords = get('hermes_kafka_buffered_records', () => new Gauge({ name: 'hermes_kafka_buffered_records', help: 'Fetched records waiting to be processed', labelNames: ['app'], registers }))
    this.assignedTasks = get('hermes_kafka_assigned_tasks', () => new Gauge({ name: 'hermes_kafka_assigned_tasks', help: 'Tasks (sub-topology partitions) assigned to this instance', labelNames: ['app'], registers }))
    this.transactionAborts = get('hermes_kafka_transaction_aborts_total', () => new Counter({ name: 'hermes_kafka_transaction_aborts_total', help: 'Commit transactions aborted (exactly-once): their outputs are produced again', labelNames: ['app'], registers }))
    this.rebalances = get('hermes_kafka_rebalances_total', () => new Counter({ name: 'hermes_kafka_rebalances_total', help: 'Group assignments received', labelNames: ['app'], registers }))
  }
}

/** Node counters already added to the metrics, per task (tasks come and go with assignments). */
const reported = new WeakMap<object, Map<string, { in: number; out: number; errors: number; dlq: number }>>()

/** One record in this many is timed for `hermes_process_latency_seconds` (as in embedded mode). */
export const LATENCY_SAMPLE_EVERY = 64

/**
 * Observes the processing time of one sampled record (`startedAt`: `performance.now()` before
 * it), for `hermes_process_latency_seconds`.
 */
export function observeProcessLatency(m: HermesMetrics | undefined, app: string, startedAt: number): void {
  m?.processLatency.observe({ app }, (performance.now() - startedAt) / 1000)
}

/**
 * Copies the runner's state (records per node, watermarks, timers, lag, buffers, state cache and
 * size) into the metrics.
 */
export function updateRunnerMetrics(apps: readonly KafkaApp[], m: HermesMetrics, km: KafkaMetrics | undefined, commitSeconds?: number): void {
  for (const a of apps) {
    for (const t of a.app.tasks) {
      let seen = reported.get(t)
      if (!seen) reported.set(t, (seen = new Map()))
      for (const [node, s] of t.stats) {
        const r = seen.get(node) ?? { in: 0, out: 0, errors: 0, dlq: 0 }
        if (s.in > r.in) m.records.inc({ app: a.name, node, direction: 'in' }, s.in - r.in)
        if (s.out > r.out) m.records.inc({ app: a.name, node, direction: 'out' }, s.out - r.out)
        if (s.errors > r.errors) m.nodeErrors.inc({ app: a.name, node }, s.errors - r.errors)
        seen.set(node, { in: s.in, out: s.out, errors: s.errors, dlq: r.dlq })
      }
      const dlq = t.deadLettered()
      const before = seen.get('\u0000dlq')?.dlq ?? 0
      if (dlq > before) m.deadLetters.inc({ app: a.name }, dlq - before)
      seen.set('\u0000dlq', { in: 0, out: 0, errors: 0, dlq })
    }
    if (commitSeconds !== undefined) {
      m.commitLatency.observe({ app: a.name }, commitSeconds)
      km?.commits.inc({ app: a.name, outcome: 'ok' })
    }
    const wm = a.app.watermark()
    if (Number.isFinite(wm)) m.watermark.set({ app: a.name }, wm)
    for (const t of a.app.tasks) if (Number.isFinite(t.time.current)) m.taskTime.set({ app: a.name, task: t.id }, t.time.current)
    let timers = 0
    let hits = 0
    let lookups = 0
    let entries = 0
    let bytes = 0
    for (const t of a.app.tasks) {
      timers += t.timers.size()
      hits += t.state.stats.hits
      lookups += t.state.stats.hits + t.state.stats.misses
      entries += t.state.cacheSize()
      bytes += t.state.backend.approximateSize()
    }
    m.timersPending.set({ app: a.name }, timers)
    // Counted since each task opened, like the embedded runner's: no reads yet counts as all hits.
    m.cacheHitRatio.set({ app: a.name }, lookups ? hits / lookups : 1)
    m.stateEntries.set({ app: a.name }, entries)
    m.stateBytes.set({ app: a.name }, bytes)
    let paused = 0
    let waiting = 0
    for (const [tp, owners] of a.owners) {
      const b = a.source.buffers.get(tp)
      if (!b) continue
      if (b.paused) paused++
      waiting += buffered(b)
      const pos = owners[0]?.task.positions.get(tp) ?? b.fetched - buffered(b)
      m.lag.set({ app: a.name, topic: b.topic, partition: String(b.partition) }, Math.max(0, b.end - pos))
    }
    km?.pausedPartitions.set({ app: a.name }, paused)
    km?.bufferedRecords.set({ app: a.name }, waiting)
    km?.assignedTasks.set({ app: a.name }, a.app.tasks.length)
  }
}
