import { join, resolve } from 'node:path'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { HermesMetrics } from '../observability/metrics.ts'
import { maybeStartObservabilityServer } from '../observability/server.ts'
import { withTopicFormats } from '../registry/formats.ts'
import type { StateLocation } from '../runtime/app.ts'
import type { KafkaRunStats, KafkaRunnerOptions } from './runner.ts'
import { KafkaRunner } from './runner.ts'

/** Overrides of the `kafka` config section's tuning (tests use shorter timings). */
export type KafkaTuning = Pick<KafkaRunnerOptions, 'errorPolicy' | 'timings' | 'maxTaskIdleMs' | 'maxBufferedPerPartition' | 'maxBytesPerPartition' | 'maxPendingOutputs' | 'maxInFlightBatches' | 'maxAheadMs' | 'maxOutageMs'>

/**
 * Options of {@link runKafka}. The runner's tuning comes from the `kafka` config section; the
 * {@link KafkaTuning} options override it.
 */
export interface KafkaRunOptions extends KafkaTuning {
  topologies: Topology[]
  config: HermesConfig
  logger: HermesLogger
  /** Stops the run (SIGINT/SIGTERM): it commits what it did and returns. */
  signal?: AbortSignal
  metrics?: HermesMetrics
  /** Default: RocksDB under `<runtime.stateDir>/state`, or memory with `stateBackend: memory`. */
  state?: StateLocation
  /** Return once idle this long with everything committed (tests, one-off replays); default: run until stopped. */
  stopWhenIdleMs?: number
  onProgress?: (stats: KafkaRunStats) => void
}

/**
 * `hermes run` with `runtime.mode: kafka`: runs the topologies against the cluster in the `kafka`
 * config section until stopped, with the same topology code and outputs as embedded mode. Each
 * topology is a consumer group named after it; run more processes to share the partitions.
 * Serves metrics and health like embedded mode (`/readyz` is not ready until the first
 * assignment's state is restored).
 */
export async function runKafka(options: KafkaRunOptions): Promise<KafkaRunStats> {
  const { topologies, config, logger, signal, stopWhenIdleMs, onProgress, ...rest } = options
  const { metrics: givenMetrics, state: givenState, ...tuning } = rest
  const metrics = givenMetrics ?? new HermesMetrics()
  const state: StateLocation =
    givenState ?? (config.runtime.stateBackend === 'rocksdb' ? { kind: 'rocksdb', dir: join(resolve(config.runtime.stateDir), 'state') } : { kind: 'memory', maps: new Map() })
  logger.info({ brokers: config.kafka.brokers, guarantee: config.runtime.guarantee, topologies: topologies.map((t) => t.name) }, 'starting on Kafka')
  // Avro topics: wait for the schema registry (with backoff) and swap in the wire-format serdes.
  const formatted = await withTopicFormats(topologies, config, logger, signal)
  const runner = await KafkaRunner.open({ ...tuning, topologies: formatted, config, state, logger, metrics })
  const server = await maybeStartObservabilityServer({
    http: config.observability.http,
    registry: metrics.registry,
    health: {
      live: () => true,
      ready: () => runner.readiness(),
    },
    beforeScrape: () => runner.updateMetrics(),
    logger,
  })
  const onAbort = (): void => runner.stop()
  if (signal?.aborted) runner.stop()
  signal?.addEventListener('abort', onAbort)
  try {
    const runOptions: Parameters<KafkaRunner['run']>[0] = {}
    if (stopWhenIdleMs !== undefined) runOptions.stopWhenIdleMs = stopWhenIdleMs
    if (onProgress) runOptions.onProgress = onProgress
    const stats = await runner.run(runOptions)
    logger.info({ ...stats }, 'Kafka run stopped')
    return stats
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await runner.close()
    await server?.close()
  }
}
