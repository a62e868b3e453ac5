import type { TaskState } from '../state/task-state.ts'

/**
 * The event time of one task, kept as Flink keeps watermarks: per input partition, the task's
 * time being the minimum over its partitions, never moving back.
 *
 * An input partition counts when its records carry event time (not broadcast, not a source
 * declared `eventTime: false`). For each, `maxTs` is the highest event time processed from it. A
 * partition is active when it has, or may have, an unprocessed record earlier than the app clock
 * (the highest event time its app has processed in this process): then its watermark is
 * `min(maxTs, earliest known unprocessed time) - bound`. Otherwise it is idle and follows the
 * app's idle clock. The task's time is `max(previous, min over partitions)`.
 */
export class TaskTime {
  /** The task's time: timers due at or before it fire, windows ending at or before it close. */
  current = -Infinity
  /** Highest event time processed, per time-carrying input `topic:partition`. */
  readonly maxTs = new Map<string, number>()
  /** The time-carrying input partitions (`topic:partition`), in a fixed order. */
  readonly inputs: readonly string[]
  /**
   * The app clock saved with the task (see {@link TaskTime.save}), at least its partitions'
   * highest times; -Infinity when nothing was saved. Opening the task raises the app clock to it.
   */
  savedAppClock = -Infinity

  constructor(inputs: readonly string[]) {
    this.inputs = inputs
  }

  /** Takes a processed record's event time into account for its input partition. */
  observe(tp: string, eventTime: number): void {
    const prev = this.maxTs.get(tp)
    if (prev === undefined || eventTime > prev) this.maxTs.set(tp, eventTime)
  }

  /**
   * Moves the task's time to the minimum of its partitions' watermarks (if that is later): an
   * active partition's is `min(maxTs, earliest known unprocessed time) - bound`, an idle one's
   * `idleClock`. `view` says what the runner knows of the partitions (see {@link InputView}).
   * Returns whether the time moved.
   */
  advance<O>(owner: O, view: InputView<O>, appMax: number, idleClock: number, bound: number): boolean {
    let min = Infinity
    for (const tp of this.inputs) {
      const next = view.pending(owner, tp)
      const wm = next < appMax || view.behind(owner, tp) ? Math.min(this.maxTs.get(tp) ?? -Infinity, next) - bound : idleClock
      if (wm < min) min = wm
    }
    // A task with no time-carrying input follows the app.
    if (this.inputs.length === 0) min = idleClock
    if (min > this.current) {
      this.current = min
      return true
    }
    return false
  }

  /**
   * Restores the time saved by {@link TaskTime.save}, or by the previous layout (one `maxTs` per
   * app, saved in every task), whose watermark was that time minus `bound`.
   */
  load(state: TaskState, bound: number): void {
    const saved = state.getMeta<SavedTime>(TIME_META)
    if (saved && typeof saved === 'object') {
      if (typeof saved.t === 'number') this.current = saved.t
      for (const [tp, ts] of Object.entries(saved.maxTs ?? {})) if (typeof ts === 'number') this.maxTs.set(tp, ts)
      // Saved before the app clock was: the partitions' highest times are a lower bound of it.
      this.savedAppClock = typeof saved.app === 'number' ? saved.app : -Infinity
      for (const ts of this.maxTs.values()) if (ts > this.savedAppClock) this.savedAppClock = ts
      return
    }
    // Before per-task time, every task saved its app's highest event time: it stands for the
    // task's time and for each of its partitions' highest time, the bound as it is now.
    const legacy = state.getMeta<number>(LEGACY_MAX_TS_META)
    if (typeof legacy === 'number' && Number.isFinite(legacy)) {
      this.current = legacy - bound
      for (const tp of this.inputs) this.maxTs.set(tp, legacy)
      this.savedAppClock = legacy
    }
  }

  /**
   * Writes the task's time, its partitions' highest times and `appClock` (the app clock of the
   * process committing it) into the state's next commit.
   */
  save(state: TaskState, appClock = -Infinity): void {
    if (this.current === -Infinity && this.maxTs.size === 0) return
    const maxTs: { [tp: string]: number } = {}
    for (const [tp, ts] of this.maxTs) if (Number.isFinite(ts)) maxTs[tp] = ts
    const saved: SavedTime = { maxTs }
    if (Number.isFinite(this.current)) saved.t = this.current
    if (Number.isFinite(appClock)) saved.app = appClock
    state.setMeta(TIME_META, saved)
  }
}

/** What a runner knows of the input partitions of its tasks (`owner`: the task). */
export interface InputView<O> {
  /**
   * The earliest event time known to wait unprocessed on `tp` for `owner`: its next buffered
   * record's timestamp, or a record this process wrote there still on its way; Infinity: none.
   */
  pending(owner: O, tp: string): number
  /** Whether `tp` may hold records not read yet (behind since assignment, a fetch pending, a transaction open). */
  behind(owner: O, tp: string): boolean
  /**
   * The app clock `owner` is to see, if earlier than the app's: the Kafka runner may process
   * other tasks ahead of a record of ours still on its way to `owner`, and the task then takes
   * the clock of when that record was written, which is what embedded mode (handing the record
   * over at once) gives it. Infinity or absent: the app's clock.
   */
  appClock?(owner: O): number
}

/** Meta key of a task's time (`{ t, maxTs: { [topic:partition]: ms }, app }`); changelogged with the timers on Kafka. */
export const TASK_TIME_META = 'time'
const TIME_META = TASK_TIME_META
/** Meta key of the previous layout: the app's highest event time, the same in every task. */
const LEGACY_MAX_TS_META = 'maxTs'

interface SavedTime {
  t?: number
  maxTs?: { [tp: string]: number }
  /** The app clock of the process that committed the task (absent in state saved before it was). */
  app?: number
}
