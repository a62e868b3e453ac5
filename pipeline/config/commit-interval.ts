import type { HermesConfig } from './schema.ts'

/** Commit interval when `runtime.commitIntervalMs` is unset and nothing makes a shorter one pay off. */
export const DEFAULT_COMMIT_INTERVAL_MS = 5000

/**
 * Commit interval on Kafka with exactly-once when `runtime.commitIntervalMs` is unset: outputs
 * of a transaction are readable (read_committed) only once it commits, so the interval is a floor
 * on end-to-end latency (Kafka Streams uses 100 ms there too).
 */
export const EXACTLY_ONCE_COMMIT_INTERVAL_MS = 100

/**
 * How often a runner commits (wall clock): `runtime.commitIntervalMs` when set; otherwise
 * {@link EXACTLY_ONCE_COMMIT_INTERVAL_MS} for the Kafka runner with exactly-once (v1 or v2), and
 * {@link DEFAULT_COMMIT_INTERVAL_MS} for at-least-once and for embedded mode (whose outputs are
 * readable at once, whatever the guarantee).
 */
export function commitIntervalMs(runtime: HermesConfig['runtime'], runner: 'embedded' | 'kafka'): number {
  if (runtime.commitIntervalMs !== undefined) return runtime.commitIntervalMs
  return runner === 'kafka' && isExactlyOnce(runtime.guarantee) ? EXACTLY_ONCE_COMMIT_INTERVAL_MS : DEFAULT_COMMIT_INTERVAL_MS
}

/** Whether a guarantee uses Kafka transactions (`exactly_once`, v1, or `exactly_once_v2`). */
export function isExactlyOnce(guarantee: HermesConfig['runtime']['guarantee']): boolean {
  return guarantee === 'exactly_once' || guarantee === 'exactly_once_v2'
}
