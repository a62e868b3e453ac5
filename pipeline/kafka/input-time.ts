import type { Logger } from '../api/processor.ts'
import type { Task } from '../runtime/task.ts'
import type { InputView } from '../runtime/task-time.ts'
import type { InFlightTimes } from './in-flight.ts'
import type { PartitionBuffer } from './source.ts'
import { buffered } from './source.ts'

/** What {@link KafkaInputView} and {@link IdleClock} read of an app. */
export interface AppInputs {
  readonly name: string
  readonly source: { readonly buffers: ReadonlyMap<string, PartitionBuffer> } | undefined
  readonly inFlight: InFlightTimes
}

/**
 * What the tasks' time knows of their Kafka input partitions (see pipeline/runtime/task-time.ts):
 * the timestamp of the next buffered record (on a repartition topic, the event time keyBy
 * wrote; on a user topic, the producer's timestamp, which a record's time field may differ
 * from), records of ours still on their way, and whether more may come that is not fetched yet.
 */
export class KafkaInputView implements InputView<Task> {
  constructor(private readonly app: AppInputs) {}

  pending(_task: Task, tp: string): number {
    const inFlight = this.app.inFlight
    const b = this.app.source?.buffers.get(tp)
    const head = b && b.head < b.records.length ? (b.records[b.head] as { timestamp: number }).timestamp : Infinity
    // Records of ours arriving in the order written: the next one is the buffered head, or the
    // oldest still on its way (see InFlightTimes.nextFor). Otherwise any of them may come first.
    if (inFlight.ordered) return head !== Infinity ? head : inFlight.nextFor(tp)
    const ts = inFlight.minFor(tp)
    return head < ts ? head : ts
  }

  appClock(task: Task): number {
    let c = Infinity
    for (const tp of task.time.inputs) {
      const at = this.app.inFlight.clockFor(tp)
      if (at < c) c = at
    }
    return c
  }

  behind(_task: Task, tp: string): boolean {
    const b = this.app.source?.buffers.get(tp)
    // Not set up yet: nothing is known of it.
    if (!b) return true
    return isBehind(b)
  }
}

/**
 * Whether a partition may hold records not fetched yet: behind since it was assigned, a fetch
 * known to have more (below the last high watermark seen), or transactional records waiting
 * for their commit marker.
 */
export function isBehind(b: PartitionBuffer): boolean {
  return b.fetched < b.initialEnd || b.fetched < b.end || b.filter.held() > 0
}

/**
 * The wall-clock part of an app's idle clock on Kafka (`time.idleTimeoutMs`): once every input
 * partition assigned to the app has been caught up (nothing buffered, nothing behind, nothing
 * of ours on its way) for the timeout, idle partitions follow `wall clock - timeout`, so a held
 * push goes out about that long after its time with no further traffic. Logged at info when an
 * app starts and stops following the wall clock.
 */
export class IdleClock {
  private idleSince = -1
  private following = false

  constructor(
    private readonly timeoutMs: number | null,
    private readonly logger: Logger,
  ) {}

  /** Whether the app currently follows the wall clock. */
  get followsWallClock(): boolean {
    return this.following
  }

  /**
   * The time idle partitions may follow at `now` (-Infinity: none); `settled` says whether the
   * app has joined its group and set up its assignment.
   */
  update(app: AppInputs, now: number, settled: boolean): number {
    const timeout = this.timeoutMs
    if (timeout === null || timeout <= 0) return -Infinity
    if (!settled || !caughtUp(app)) {
      this.idleSince = -1
      if (this.following) {
        this.following = false
        this.logger.info({ app: app.name }, 'event time stops following the wall clock: records to process')
      }
      return -Infinity
    }
    if (this.idleSince < 0) this.idleSince = now
    if (now - this.idleSince < timeout) return -Infinity
    if (!this.following) {
      this.following = true
      this.logger.info({ app: app.name, idleTimeoutMs: timeout }, 'event time follows the wall clock: every input partition caught up')
    }
    return now - timeout
  }

  /** Forgets the idle period (tasks reset after a failure). */
  reset(): void {
    this.idleSince = -1
  }
}

function caughtUp(app: AppInputs): boolean {
  if (!app.source || app.inFlight.size() > 0) return false
  for (const b of app.source.buffers.values()) if (buffered(b) > 0 || isBehind(b)) return false
  return true
}
