import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The metrics of one Hermes process, in their own prom-client registry. Hot-path counters are
 * kept as plain numbers by the tasks and copied in here at each commit and scrape, so a record
 * costs no label lookup.
 */
export class HermesMetrics {
  readonly registry = new Registry()
  readonly records: Counter<'app' | 'node' | 'direction'>
  readonly nodeErrors: Counter<'app' | 'node'>
  readonly deadLetters: Counter<'app'>
  readonly operatorEvents: Counter<string>
  readonly processLatency: Histogram<'app'>
  readonly commitLatency: Histogram<'app'>
  readonly cacheHitRatio: Gauge<'app'>
  readonly stateEntries: Gauge<'app'>
  readonly stateBytes: Gauge<'app'>
  readonly watermark: Gauge<'app'>
  readonly taskTime: Gauge<'app' | 'task'>
  readonly timersPending: Gauge<'app'>
  readonly lag: Gauge<'app' | 'topic' | 'partition'>

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry]
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'hermes_process_' })
    this.records = new Counter({ name: 'hermes_node_records_total', help: 'Records into and out of each node', labelNames: ['app', 'node', 'direction'], registers })
    this.nodeErrors = new Counter({ name: 'hermes_node_errors_total', help: 'Records that failed at a node', labelNames: ['app', 'node'], registers })
    this.deadLetters = new Counter({ name: 'hermes_dead_letters_total', help: 'Records sent to the dead-letter topic', labelNames: ['app'], registers })
    this.operatorEvents = new Counter({
      name: 'hermes_operator_events_total',
      help: 'Events counted by operators through ctx.count()',
      labelNames: ['app', 'node', 'event', 'reason', 'policy', 'arm', 'outcome'],
      registers,
    })
    this.processLatency = new Histogram({
      name: 'hermes_process_latency_seconds',
      help: 'Time to process one record through its sub-topology (sampled)',
      labelNames: ['app'],
      buckets: [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1],
      registers,
    })
    this.commitLatency = new Histogram({
      name: 'hermes_commit_latency_seconds',
      help: 'Duration of a commit (log flush, state flush, offsets)',
      labelNames: ['app'],
      buckets: [1e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    })
    this.cacheHitRatio = new Gauge({ name: 'hermes_state_cache_hit_ratio', help: 'Share of state reads served by the write-back cache', labelNames: ['app'], registers })
    this.stateEntries = new Gauge({ name: 'hermes_state_cache_entries', help: 'Keyed entries held in the write-back caches', labelNames: ['app'], registers })
    this.stateBytes = new Gauge({ name: 'hermes_state_bytes', help: 'Estimated live bytes of task state on disk (RocksDB)', labelNames: ['app'], registers })
    this.watermark = new Gauge({ name: 'hermes_watermark_ms', help: 'Lowest event time of the app\'s tasks (epoch ms): the one holding output back', labelNames: ['app'], registers })
    this.taskTime = new Gauge({ name: 'hermes_task_time_ms', help: 'Event time of each task (epoch ms): the minimum of its input partitions\' watermarks', labelNames: ['app', 'task'], registers })
    this.timersPending = new Gauge({ name: 'hermes_timers_pending', help: 'Registered timers not yet fired', labelNames: ['app'], registers })
    this.lag = new Gauge({ name: 'hermes_consumer_lag', help: 'Records not yet consumed per input partition', labelNames: ['app', 'topic', 'partition'], registers })
  }
}
