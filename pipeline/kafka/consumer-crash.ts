import type { Logger } from '../api/processor.ts'
import { describeKafkaError } from './client.ts'
import { isKafkaUnreachable } from './failures.ts'

/**
 * What a crash of one of Hermes' kafkajs consumers (the input consumer, a broadcast reader) calls for:
 * - `kafkajs-restarts`: kafkajs deemed the error retriable and restarts the consumer itself;
 * - `restart`: kafkajs gave up, but only because the cluster was unreachable (connection errors;
 *   after a broker restart "Failed to find group coordinator" or a coordinator still loading,
 *   which kafkajs does not retry): Hermes starts the consumer again, or it would stay
 *   disconnected while the run goes on (nothing fetched any more, /readyz never true again);
 * - `fail`: anything else (a bug in a handler, a refused request), which a restart would hide.
 */
export type ConsumerCrashAction = 'kafkajs-restarts' | 'restart' | 'fail'

/** The payload of a kafkajs consumer's CRASH event. */
export interface ConsumerCrash {
  error: unknown
  restart: boolean
}

/** Coordinator errors kafkajs gives up on after a broker restart, while the broker is reachable again or about to be. */
const COORDINATOR_AWAY = /group coordinator|coordinator is loading/i

/** The one crash policy of Hermes' consumers; see {@link ConsumerCrashAction}. */
export function consumerCrashAction(crash: ConsumerCrash): ConsumerCrashAction {
  if (crash.restart) return 'kafkajs-restarts'
  const message = (crash.error as { message?: string } | null)?.message ?? ''
  return isKafkaUnreachable(crash.error) || COORDINATOR_AWAY.test(message) ? 'restart' : 'fail'
}

/** Options of {@link CrashRestarts}. */
export interface CrashRestartsOptions {
  logger: Logger
  /** Consumer group, for the logs. */
  group: string
  /** Connects, subscribes and runs the consumer again. */
  start: () => Promise<void>
  /** Disconnects the consumer after a failed start, before the next attempt. */
  disconnect: () => Promise<void>
  /** Wait before each start attempt. */
  delayMs: number
}

/**
 * Applies {@link consumerCrashAction} to one consumer: on a `restart` crash, starts it again after
 * `delayMs`, and keeps trying every `delayMs` until a start works or {@link CrashRestarts.stop}.
 * (An outage is still bounded elsewhere: `kafka.maxOutageMs` through the failing commits.)
 */
export class CrashRestarts {
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  /** A start is under way (from the timer). */
  private starting = false

  constructor(private readonly o: CrashRestartsOptions) {}

  /** Logs a crash and acts on it; returns what the policy said. */
  onCrash(crash: ConsumerCrash, what: string): ConsumerCrashAction {
    const action = consumerCrashAction(crash)
    this.o.logger.warn({ group: this.o.group, err: describeKafkaError(crash.error), restart: crash.restart, action }, what)
    if (action === 'restart') this.later()
    return action
  }

  /**
   * Disconnects the consumer and starts it again (as after a `restart` crash), for a consumer that
   * went silent without crashing (see KafkaSource's watchdog). Nothing when a restart is already
   * due or after {@link CrashRestarts.stop}. The disconnect is waited for at most `delayMs`: a
   * consumer stuck in kafkajs may never finish it, and the start is what matters.
   */
  restartNow(): void {
    if (this.stopped || this.timer || this.starting) return
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>((r) => (timer = setTimeout(r, this.o.delayMs)))
    void Promise.race([this.o.disconnect().catch(() => {}), waited]).then(() => {
      clearTimeout(timer)
      this.later()
    })
  }

  /** No restart after this (the consumer is being stopped). */
  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private later(): void {
    if (this.stopped || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.stopped) return
      this.o.logger.info({ group: this.o.group }, 'starting the crashed consumer again')
      this.starting = true
      this.o.start().then(
        () => void (this.starting = false),
        (err: unknown) => {
          this.starting = false
          this.o.logger.warn({ group: this.o.group, err: describeKafkaError(err) }, 'consumer could not start again; retrying')
          void this.o.disconnect().catch(() => {})
          this.later()
        },
      )
    }, this.o.delayMs)
  }
}
