import { HermesError, describeError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'

/**
 * Kafka errors that the same write meets again however often it is retried (the record or the
 * request is refused, not the cluster unavailable).
 */
const NON_RETRIABLE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP', 'INVALID_REQUIRED_ACKS', 'TOPIC_AUTHORIZATION_FAILED', 'UNSUPPORTED_FOR_MESSAGE_FORMAT', 'INVALID_TOPIC_EXCEPTION', 'POLICY_VIOLATION'])

/** Failures in a row with one of the non-retriable Kafka errors after which the run ends. */
export const NON_RETRIABLE_REPEATS = 3

/** Liveness fails once failures have lasted this long with no commit (or `kafka.maxOutageMs`, if shorter). */
export const LIVENESS_FAILING_MS = 60_000

/** The Kafka error type in an error's cause chain that retrying cannot heal, if any. */
export function nonRetriableType(err: unknown): string | undefined {
  const seen = new Set<unknown>()
  let e = err as { type?: string; cause?: unknown; originalError?: unknown } | undefined
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e)
    if (e.type && NON_RETRIABLE.has(e.type)) return e.type
    e = (e.originalError ?? e.cause) as typeof e
  }
  return undefined
}


/**
 * The runner's view of Kafka failures. After a failure the tasks go back to their last commit and
 * the work is redone, so a failure ends only when a commit succeeds (or nothing is left to redo),
 * never merely because a later step did not fail: a commit failing every cycle is one failure
 * that lasts. {@link OutageTracker.failed} gives up once it has lasted `maxOutageMs`, or at once
 * when Kafka refused a write with a non-retriable error {@link NON_RETRIABLE_REPEATS} times in a row.
 */
export class OutageTracker {
  private failingSince = -1
  private refused = 0
  private last = ''
  private fatal: string | null = null

  constructor(
    private readonly clock: () => number,
    private readonly maxOutageMs: number,
  ) {}

  /** When the current failure began (-1: not failing). */
  get since(): number {
    return this.failingSince
  }

  /**
   * Records a failure the runner is about to recover from.
   * @throws HermesError PRODUCE_ERROR when Kafka refused the same kind of write
   * {@link NON_RETRIABLE_REPEATS} times in a row; IO_ERROR when failures have lasted `maxOutageMs`.
   * Both name the last failure (task, topic and partition, Kafka error, as far as it says).
   */
  failed(err: unknown): void {
    const now = this.clock()
    if (this.failingSince < 0) this.failingSince = now
    this.last = describeError(err)
    const kind = nonRetriableType(err)
    this.refused = kind ? this.refused + 1 : 0
    if (this.refused >= NON_RETRIABLE_REPEATS) {
      throw new HermesError('PRODUCE_ERROR', `Kafka refused the same write ${this.refused} times in a row (${kind}), which no retry can heal; stopping. ${this.last}`, { cause: err })
    }
    if (now - this.failingSince > this.maxOutageMs) {
      throw new HermesError('IO_ERROR', `Kafka kept failing for ${Math.round((now - this.failingSince) / 1000)} s with no commit succeeding (kafka.maxOutageMs: ${this.maxOutageMs}); last failure: ${this.last}`, { cause: err, retriable: true })
    }
  }

  /** The failure is over: a commit succeeded, or everything redone is committed. */
  recovered(): void {
    this.failingSince = -1
    this.refused = 0
  }

  /** The run ended with this error. */
  ended(err: unknown): void {
    this.fatal = describeError(err)
  }

  /** For `/healthz`: see {@link KafkaRunner.liveness}. */
  liveness(): { live: true } | { live: false; reason: string } {
    if (this.fatal !== null) return { live: false, reason: this.fatal }
    if (this.failingSince >= 0) {
      const failing = this.clock() - this.failingSince
      if (failing > Math.min(this.maxOutageMs, LIVENESS_FAILING_MS)) return { live: false, reason: `no commit has succeeded for ${Math.round(failing / 1000)} s of Kafka failures; last: ${this.last}` }
    }
    return { live: true }
  }
}

/** kafkajs error names that mean no broker (or group coordinator) answered, as opposed to a broker that refused something. */
const UNREACHABLE_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError', 'KafkaJSLockTimeout', 'KafkaJSGroupCoordinatorNotFound'])

/** Socket errors of a broker that is down or restarting. */
const UNREACHABLE_CODES = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)\b/

/**
 * Whether an error, anywhere in its cause chain, says that Kafka could not be reached: a broker
 * that is down or restarting, which a later attempt may find back. kafkajs wraps an exhausted
 * connection retry in a `KafkaJSNonRetriableError`, so the wrapper alone says nothing; the
 * connection error under it does.
 */
export function isKafkaUnreachable(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e = err as { name?: string; message?: string; code?: string; cause?: unknown; originalError?: unknown } | undefined
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e)
    if (e.name && UNREACHABLE_NAMES.has(e.name)) return true
    if (UNREACHABLE_CODES.test(`${e.code ?? ''} ${e.message ?? ''}`)) return true
    e = (e.originalError ?? e.cause) as typeof e
  }
  return false
}
