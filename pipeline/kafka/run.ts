import { join, resolve } from 'node:path'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { HermesMetrics } from '../observability/metrics.ts'
import { maybeStartObservabilityServer } from '../observability/server.ts'
import type { StateLocation } from '../runtime/app.ts'
import type { ErrorPolicy } from '../runtime/task.ts'
import type { ConsumerTimings } from './client.ts'
import type { KafkaRunStats, KafkaRunnerOptions } from './runner.ts'
import { KafkaRunner } from './runner.ts'

/** Options of {@link runKafka}; the tuning ones are those of {@link KafkaRunnerOptions}. */
export interface KafkaRunOptions {
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
  errorPolicy?: Partial<ErrorPolicy>
  timings?: Partial<ConsumerTimings>
  maxTaskIdleMs?: number
  maxBufferedPerPartition?: number
  /** See {@link KafkaRunnerOptions.maxAheadMs}. */
  maxAheadMs?: number
}

/**
 * `hermes run` with `runtime.mode: kafka`: runs the topologies against the cluster in the `kafka`
 * config section until stopped, with the same topology code and outputs as embedded mode. Each
 * topology is a consumer group named after it; run more processes to share the partitions.
 * Serves metrics and health like embedded mode (`/readyz` is not ready until the first
 * assignment's state is restored).
 */
export async function runKafka(options: KafkaRunOptions): Promise<KafkaRunStats> {
  const { config, logger } = options
  const metrics = options.metrics ?? new HermesMetrics()
  const state: StateLocation =
    options.state ?? (config.runtime.stateBackend === 'rocksdb' ? { kind: 'rocksdb', dir: join(resolve(config.runtime.stateDir), 'state') } : { kind: 'memory', maps: new Map() })
  logger.info({ brokers: config.kafka.brokers, guarantee: config.runtime.guarantee, topologies: options.topologies.map((t) => t.name) }, 'starting on Kafka')
  const runner = await KafkaRunner.open({
    topologies: options.topologies,
    config,
    state,
    logger,
    metrics,
    ...(options.errorPolicy ? { errorPolicy: options.errorPolicy } : {}),
    ...(options.timings ? { timings: options.timings } : {}),
    ...(options.maxTaskIdleMs !== undefined ? { maxTaskIdleMs: options.maxTaskIdleMs } : {}),
    ...(options.maxBufferedPerPartition !== undefined ? { maxBufferedPerPartition: options.maxBufferedPerPartition } : {}),
    ...(options.maxAheadMs !== undefined ? { maxAheadMs: options.maxAheadMs } : {}),
  })
  const server = await maybeStartObservabilityServer({
    http: config.observability.http,
    registry: metrics.registry,
    health: {
      live: () => true,
      ready: () => (runner.apps.every((a) => a.joined && !a.pendingAssignment) ? { ready: true } : { ready: false, reason: 'joining the group or restoring state' }),
    },
    beforeScrape: () => runner.updateMetrics(),
    logger,
  })
  const onAbort = (): void => runner.stop()
  if (options.signal?.aborted) runner.stop()
  options.signal?.addEventListener('abort', onAbort)
  try {
    const runOptions: Parameters<KafkaRunner['run']>[0] = {}
    if (options.stopWhenIdleMs !== undefined) runOptions.stopWhenIdleMs = options.stopWhenIdleMs
    if (options.onProgress) runOptions.onProgress = options.onProgress
    const stats = await runner.run(runOptions)
    logger.info({ ...stats }, 'Kafka run stopped')
    return stats
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await runner.close()
    await server?.close()
  }
}
