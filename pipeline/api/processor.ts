import type { Record } from './record.ts'
import type { BroadcastStore, MapStore, ValueStore, WindowStore } from './stores.ts'

/** A timer as delivered to {@link Processor.onTimer}. */
export interface Timer {
  /** Key the timer was registered under; the stores are scoped to it during `onTimer`. */
  readonly key: string | null
  /** When it fires: event time (watermark) or wall-clock time, in epoch ms. */
  readonly time: number
  readonly domain: 'event' | 'processing'
  /** Name given at registration (default `''`); timers are unique per (key, time, name). */
  readonly name: string
  /** JSON-serializable payload given at registration, or `null`. */
  readonly payload: unknown
}

/**
 * Per-key timers. Event-time timers fire, in (time, key, name) order, once the watermark reaches
 * their time; processing-time timers fire once the wall clock does. Both survive restarts.
 * Registering the same (key, time, name) again replaces the payload. A time that is no point in
 * time (NaN, infinite, beyond the Date range) throws a `TimerTimeError`: the task dead-letters
 * the input that asked for it (whatever `errors.process` says, since it is bad data that would
 * stop the run again at every restart) and goes on.
 */
export interface TimerService {
  registerEventTime(time: number, name?: string, payload?: unknown): void
  deleteEventTime(time: number, name?: string): void
  registerProcessingTime(time: number, name?: string, payload?: unknown): void
  deleteProcessingTime(time: number, name?: string): void
}

/** The logging surface operators get (a pino child logger bound to the node). */
export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
}

/**
 * What an operator may do. Handed to {@link Processor.init}; valid until `close`.
 *
 * Store accessors throw a `HermesError` (`STATE_ERROR`) naming the declared stores when asked for
 * a store that the node did not declare. Keyed stores and timers act on the key of the record or
 * timer being processed; using them inside `processBroadcast` throws.
 */
export interface ProcessorContext<Out = unknown> {
  /** Stable id of the node. */
  readonly nodeId: string
  /** Id of the task running this instance (`<subtopology>_<partition>`). */
  readonly taskId: string
  /** Input partition served by this task. */
  readonly partition: number
  /** Emits a record downstream on the main output. */
  forward(record: Record<Out>): void
  /** Emits a record on the named side output (for example `late`). */
  forwardTo(output: string, record: Record<unknown>): void
  /**
   * Sends a record to the dead-letter topic with a reason; nothing is lost and the run goes on.
   * The input being processed (or a copy of it made with `withValue`, `withKey`, ...) is written
   * as it was read: its key, value bytes, headers and timestamp, so it can be replayed unchanged.
   * Any other record (made by the operator, or kept from an earlier input) is written as the
   * JSON of its value, unless its value is a Buffer (such as {@link inputBytes} kept from an
   * earlier input), which is written as it is.
   */
  deadLetter(record: Record<unknown>, reason: string): void
  /**
   * The value bytes of the input record being processed, exactly as read; null in `onTimer` and
   * for a record with a null value. For an operator that may dead-letter an input later (a
   * configuration record waiting for another): keep them, and dead-letter a record whose value is
   * these bytes, so the dead letter is the input as it was read.
   */
  inputBytes(): Buffer | null
  valueStore<V>(name: string): ValueStore<V>
  mapStore<V>(name: string): MapStore<V>
  windowStore(name: string): WindowStore
  broadcastStore<V>(name: string): BroadcastStore<V>
  readonly timers: TimerService
  /** Current event-time watermark (`-Infinity` before the first record). */
  watermark(): number
  /** Key of the record or timer being processed. */
  currentKey(): string | null
  /**
   * Runs `fn` with keyed stores and timers scoped to `key` instead of the current key, then
   * restores it. Allowed everywhere, including `processBroadcast` (which has no key of its own);
   * useful for per-partition bookkeeping under a reserved key. Returns what `fn` returns.
   */
  withKey<T>(key: string, fn: () => T): T
  /**
   * Calls `fn(key)` for every key of this task that has a value in the keyed store `store`, in
   * key order, with stores and timers scoped to that key (like Flink's `applyToKeyedState`).
   * Synchronous and proportional to the keys of the partition: meant for rare fan-outs such as
   * a scheduled campaign, not for every record.
   * @throws HermesError when the node did not declare `store`.
   */
  forEachKey(store: string, fn: (key: string) => void): void
  /** Wall-clock time from the runtime's clock (controllable in tests). */
  wallClock(): number
  /** Adds to the counter `hermes_operator_events_total{node, event, ...labels}`. */
  count(event: string, labels?: { [name: string]: string }, amount?: number): void
  /** The operator's logger: every entry carries the node id (`node`) and the task (`task`). */
  readonly log: Logger
}

/**
 * A stateful operator: one instance per task (input partition), created by its factory.
 * Lifecycle: `init` once, then `process` / `processBroadcast` / `onTimer` in any interleaving
 * (never concurrently), then `close`. All methods are synchronous; emit only through the context.
 */
export interface Processor<In = unknown, Out = unknown> {
  init?(ctx: ProcessorContext<Out>): void
  /** Handles one keyed record. */
  process(record: Record<In>): void
  /** Handles one record of a connected broadcast stream (config, rules). */
  processBroadcast?(record: Record<unknown>): void
  /** Handles a timer this instance registered. */
  onTimer?(timer: Timer): void
  close?(): void
}

/** Creates one processor instance per task. */
export type ProcessorFactory<In = unknown, Out = unknown> = () => Processor<In, Out>
