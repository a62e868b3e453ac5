import type { Topology } from '../api/topology.ts'
import { commitIntervalMs } from '../config/commit-interval.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { StateLocation } from '../runtime/app.ts'
import type { ErrorPolicy } from '../runtime/task.ts'
import type { ConsumerTimings } from './client.ts'
import { consumerTimings } from './client.ts'

/**
 * Options of {@link KafkaRunner.open}; everything but the first five has a default. The tuning
 * options override the `kafka` config section (tests use shorter timings); left out, the
 * config's value applies.
 */
export interface KafkaRunnerOptions {
  topologies: Topology[]
  config: HermesConfig
  state: StateLocation
  logger: HermesLogger
  metrics?: HermesMetrics
  clock?: () => number
  errorPolicy?: Partial<ErrorPolicy>
  /** Overrides `kafka.consumer` timings. */
  timings?: Partial<ConsumerTimings>
  /** Overrides `kafka.maxTaskIdleMs`. */
  maxTaskIdleMs?: number
  /** Overrides `kafka.maxBufferedPerPartition`. */
  maxBufferedPerPartition?: number
  /** Overrides `kafka.consumer.maxBytesPerPartition`. */
  maxBytesPerPartition?: number
  /** Overrides `kafka.maxPendingOutputs`. */
  maxPendingOutputs?: number
  /** Overrides `kafka.maxInFlightBatches`. */
  maxInFlightBatches?: number
  /** Overrides `kafka.maxAheadMs` (whose default is `time.maxOutOfOrdernessMs`). */
  maxAheadMs?: number
  /** Overrides `kafka.maxOutageMs`. */
  maxOutageMs?: number
}

/** The runner's tuning, each value from {@link KafkaRunnerOptions} or else the config. */
export interface KafkaRunnerSettings {
  timings: ConsumerTimings
  maxTaskIdleMs: number
  maxBufferedPerPartition: number
  maxBytesPerPartition: number
  maxPendingOutputs: number
  maxInFlightBatches: number
  maxAheadMs: number
  maxOutageMs: number
  /** `runtime.commitIntervalMs`, or its default for the Kafka runner and the guarantee. */
  commitIntervalMs: number
}

/**
 * Resolves the runner's tuning: an option given to the runner wins over the `kafka` config
 * section, which has the defaults (`pipeline/config/schema.ts`).
 */
export function resolveRunnerSettings(opts: KafkaRunnerOptions): KafkaRunnerSettings {
  const { kafka, time } = opts.config
  return {
    timings: { ...consumerTimings(kafka.consumer), ...opts.timings },
    maxTaskIdleMs: opts.maxTaskIdleMs ?? kafka.maxTaskIdleMs,
    maxBufferedPerPartition: opts.maxBufferedPerPartition ?? kafka.maxBufferedPerPartition,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? kafka.consumer.maxBytesPerPartition,
    maxPendingOutputs: opts.maxPendingOutputs ?? kafka.maxPendingOutputs,
    maxInFlightBatches: opts.maxInFlightBatches ?? kafka.maxInFlightBatches,
    maxAheadMs: opts.maxAheadMs ?? kafka.maxAheadMs ?? time.maxOutOfOrdernessMs,
    maxOutageMs: opts.maxOutageMs ?? kafka.maxOutageMs,
    commitIntervalMs: commitIntervalMs(opts.config.runtime, 'kafka'),
  }
}

/** Progress of a Kafka run. */
export interface KafkaRunStats {
  records: number
  timersFired: number
  commits: number
  elapsedMs: number
}

