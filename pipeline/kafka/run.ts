import { join, resolve } from 'node:path'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { HermesMetrics } from '../observability/metrics.ts'
import { queryKey } from '../observability/key-query.ts'
import { maybeStartObservabilityServer } from '../observability/server.ts'
import { safeUrl } from '../registry/client.ts'
import { avroTopics, withTopicFormats } from '../registry/formats.ts'
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
 * What `/readyz` says before the runner exists: the start-up step a Kafka run is in (the
 * registry wait alone may take `schemaRegistry.startupTimeoutMs`, 5 minutes by default).
 */
export function startupReason(step: 'registry' | 'kafka', config: HermesConfig): string {
  if (step === 'registry') return `waiting for the schema registry at ${safeUrl(config.schemaRegistry.url)}`
  return `connecting to Kafka at ${config.kafka.brokers.join(',')} (creating topics, reading broadcast topics, joining the consumer groups)`
}

/**
 * `hermes run` with `runtime.mode: kafka`: runs the topologies against the cluster in the `kafka`
 * config section until stopped, with the same topology code and outputs as embedded mode. Each
 * topology is a consumer group named after it; run more processes to share the partitions.
 * Serves metrics and health from the first moment, before the registry and Kafka answer: `/healthz`
 * is live, and `/readyz` answers 503 with the step it waits for (the registry, Kafka), then the
 * runner's own reason until the first assignment's state is restored.
 */
export async function runKafka(options: KafkaRunOptions): Promise<KafkaRunStats> {
  const { topologies, config, logger, signal, stopWhenIdleMs, onProgress, ...rest } = options
  const { metrics: givenMetrics, state: givenState, ...tuning } = rest
  const metrics = givenMetrics ?? new HermesMetrics()
  const state: StateLocation =
    givenState ?? (config.runtime.stateBackend === 'rocksdb' ? { kind: 'rocksdb', dir: join(resolve(config.runtime.stateDir), 'state') } : { kind: 'memory', maps: new Map() })
  logger.info({ brokers: config.kafka.brokers, guarantee: config.runtime.guarantee, topologies: topologies.map((t) => t.name) }, 'starting on Kafka')
  let runner: KafkaRunner | null = null
  // Set before each start-up step; the server answers with it until the runner exists.
  let starting = startupReason('kafka', config)
  const server = await maybeStartObservabilityServer({
    http: config.observability.http,
    registry: metrics.registry,
    health: {
      // A start-up step that never ends is not a reason to restart the process: each one has its
      // own deadline (schemaRegistry.startupTimeoutMs, the Kafka client's retries) and fails the
      // run. Once running, the runner says (commits failing for too long, a fatal error).
      live: () => runner?.liveness() ?? { live: true },
      ready: () => runner?.readiness() ?? { ready: false, reason: starting },
    },
    beforeScrape: () => runner?.updateMetrics(),
    // Interactive queries (the console's explain): the state of the tasks assigned here.
    query: async (key) => (runner ? queryKey(runner.apps.map((a) => a.app), key) : null),
    logger,
  })
  const onAbort = (): void => runner?.stop()
  signal?.addEventListener('abort', onAbort)
  try {
    // Avro topics: wait for the schema registry (with backoff) and swap in the wire-format serdes.
    if (avroTopics(topologies, config).length > 0) starting = startupReason('registry', config)
    const formatted = await withTopicFormats(topologies, config, logger, signal)
    starting = startupReason('kafka', config)
    runner = await KafkaRunner.open({ ...tuning, topologies: formatted, config, state, logger, metrics })
    if (signal?.aborted) runner.stop()
    const runOptions: Parameters<KafkaRunner['run']>[0] = {}
    if (stopWhenIdleMs !== undefined) runOptions.stopWhenIdleMs = stopWhenIdleMs
    if (onProgress) runOptions.onProgress = onProgress
    const stats = await runner.run(runOptions)
    logger.info({ ...stats }, 'Kafka run stopped')
    return stats
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await runner?.close()
    await server?.close()
  }
}
