import type { Registry } from 'prom-client'
import { Counter, Gauge, Histogram } from 'prom-client'

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
    this.rebalances = get('hermes_kafka_rebalances_total', () => new Counter({ name: 'hermes_kafka_rebalances_total', help: 'Group assignments received', labelNames: ['app'], registers }))
  }
}
