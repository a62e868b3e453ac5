import { join, resolve } from 'node:path'
import { HermesError, describeError } from '../api/errors.ts'
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
import { isKafkaUnreachable } from './failures.ts'

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
    runner = await openWhenReachable(() => KafkaRunner.open({ ...tuning, topologies: formatted, config, state, logger, metrics }), {
      maxOutageMs: tuning.maxOutageMs ?? config.kafka.maxOutageMs,
      logger,
      ...(signal ? { signal } : {}),
    })
    if (!runner) {
      logger.info('stopped during start-up')
      return { records: 0, timersFired: 0, commits: 0, elapsedMs: 0 }
    }
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

/** Options of {@link openWhenReachable}. */
export interface OpenOptions {
  /** How long Kafka may stay unreachable before start-up gives up (`kafka.maxOutageMs`). */
  maxOutageMs: number
  logger: Pick<HermesLogger, 'warn'>
  /** Stops waiting: resolves null at once, whatever step the start-up is in. */
  signal?: AbortSignal
  clock?: () => number
  /** Longest pause between attempts (default 5 s, as the consumers retry). */
  maxDelayMs?: number
}

/**
 * Opens something that needs Kafka (the runner), retrying while Kafka cannot be reached (a broker
 * down or restarting: connection refused, no broker answering; see {@link isKafkaUnreachable}), as
 * a Kafka Streams instance keeps trying during an outage, for up to `maxOutageMs`. Any other
 * failure is thrown at once (a bad topic, refused credentials). Resolves null when `signal`
 * aborts first, also in the middle of an attempt: a stop never waits for a start-up step (reading
 * broadcast topics, joining a group) to finish; that attempt is closed once it settles.
 * @throws HermesError IO_ERROR naming `kafka.maxOutageMs` and the last failure once Kafka has
 * been unreachable that long.
 */
export async function openWhenReachable<T extends { close(): Promise<void> }>(open: () => Promise<T>, o: OpenOptions): Promise<T | null> {
  const clock = o.clock ?? Date.now
  const started = clock()
  const aborted = new Promise<null>((resolve) => {
    if (o.signal?.aborted) resolve(null)
    o.signal?.addEventListener('abort', () => resolve(null), { once: true })
  })
  for (let attempt = 1, delay = Math.min(250, o.maxDelayMs ?? 5000); ; attempt++, delay = Math.min(delay * 2, o.maxDelayMs ?? 5000)) {
    if (o.signal?.aborted) return null
    const opening = open()
    let outcome: { ok: T } | { err: unknown } | null
    try {
      outcome = await Promise.race([opening.then((ok) => ({ ok })), aborted])
    } catch (err) {
      outcome = { err }
    }
    if (outcome === null) {
      // Stopped mid-attempt: whatever the attempt opened is closed when it gets there.
      opening.then((r) => r.close(), () => {}).catch(() => {})
      return null
    }
    if ('ok' in outcome) return outcome.ok
    const err = outcome.err
    if (!isKafkaUnreachable(err)) throw err
    const down = clock() - started
    if (down + delay > o.maxOutageMs) {
      throw new HermesError('IO_ERROR', `Kafka could not be reached for ${Math.round(down / 1000)} s at start-up (${attempt} attempts; kafka.maxOutageMs: ${o.maxOutageMs}); last failure: ${describeError(err)}. Check kafka.brokers and that the brokers are up.`, { cause: err, retriable: true })
    }
    o.logger.warn({ attempt, retryInMs: delay, err: describeError(err) }, 'Kafka unreachable at start-up; retrying')
    let timer: NodeJS.Timeout | undefined
    const waited = await Promise.race([new Promise<'slept'>((r) => (timer = setTimeout(() => r('slept'), delay))), aborted])
    clearTimeout(timer)
    if (waited === null) return null
  }
}
