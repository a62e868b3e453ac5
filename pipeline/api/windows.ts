import { TopologyError } from './errors.ts'
import type { Processor, ProcessorContext, Timer } from './processor.ts'
import { Record } from './record.ts'
import type { MapStore, StoreSpec, ValueStore } from './stores.ts'
import { mapStore, valueStore } from './stores.ts'

/**
 * Window shapes. Windows are half-open `[start, end)` in event time.
 * - `tumbling`: fixed, non-overlapping windows of `sizeMs`.
 * - `hopping`: windows of `sizeMs` starting every `advanceMs` (they overlap when advance < size).
 * - `sliding`: one window per record, covering `(ts - sizeMs, ts]`: "the last sizeMs up to this record".
 * - `session`: records of a key closer than `gapMs` to each other form one session.
 */
export type WindowSpec =
  | { type: 'tumbling'; sizeMs: number }
  | { type: 'hopping'; sizeMs: number; advanceMs: number }
  | { type: 'sliding'; sizeMs: number }
  | { type: 'session'; gapMs: number }

/** How records are folded into a window's value. `merge` is required for session windows. */
export interface Aggregator<V, A> {
  init(): A
  add(acc: A, value: V, record: Record<V>): A
  merge?(a: A, b: A): A
}

/** Options of `Stream.window`. */
export interface WindowOptions<V, A> {
  window: WindowSpec
  /** How long after a window's end records are still accepted (event time). Default 0. */
  graceMs?: number
  aggregate: Aggregator<V, A>
}

/** One final window result, emitted once the watermark passes the window's end plus grace. */
export interface WindowResult<A> {
  key: string | null
  start: number
  end: number
  value: A
  /** Number of records folded in. */
  count: number
}

/** Name of the side output that receives late records. */
export const LATE_OUTPUT = 'late'

interface Slot<A> {
  start: number
  end: number
  acc: A
  count: number
}

/** @internal Validates a window spec; the builder calls it. */
export function checkWindowOptions(id: string, options: WindowOptions<unknown, unknown>): void {
  const w = options?.window
  const positive = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n > 0
  if (!w || !['tumbling', 'hopping', 'sliding', 'session'].includes(w.type)) {
    throw new TopologyError(`Window "${id}": window.type must be tumbling, hopping, sliding or session, got ${JSON.stringify(w?.type)}.`)
  }
  if (w.type === 'session' ? !positive(w.gapMs) : !positive(w.sizeMs)) {
    throw new TopologyError(`Window "${id}": ${w.type === 'session' ? 'gapMs' : 'sizeMs'} must be a positive number of milliseconds.`)
  }
  if (w.type === 'hopping' && (!positive(w.advanceMs) || w.advanceMs > w.sizeMs)) {
    throw new TopologyError(`Window "${id}": advanceMs must be positive and at most sizeMs (${w.sizeMs}).`)
  }
  if (options.graceMs !== undefined && !(typeof options.graceMs === 'number' && options.graceMs >= 0)) {
    throw new TopologyError(`Window "${id}": graceMs must be zero or a positive number of milliseconds.`)
  }
  if (!options.aggregate || typeof options.aggregate.init !== 'function' || typeof options.aggregate.add !== 'function') {
    throw new TopologyError(`Window "${id}": aggregate needs init() and add(acc, value, record).`)
  }
  if (w.type === 'session' && typeof options.aggregate.merge !== 'function') {
    throw new TopologyError(`Window "${id}": session windows merge sessions, so aggregate needs merge(a, b).`)
  }
}

/** @internal The stores a window node declares. */
export function windowStores(options: WindowOptions<unknown, unknown>): { [name: string]: StoreSpec } {
  return options.window.type === 'sliding' ? { buffer: valueStore() } : { windows: mapStore() }
}

/**
 * Field of the `windows` map store that holds a key's open windows, in the order they were opened
 * or last grown (the order in which sessions are merged). One field per key instead of one per
 * window: every session start is a new property name, which makes plain objects slow.
 */
const OPEN = 'open'

/** @internal Creates the processor behind `Stream.window`. */
export function windowProcessor<V, A>(options: WindowOptions<V, A>): Processor<V, WindowResult<A>> {
  const grace = options.graceMs ?? 0
  const agg = options.aggregate
  const w = options.window
  let ctx!: ProcessorContext<WindowResult<A>>
  let slots!: MapStore<unknown>
  let buffer!: ValueStore<Array<[number, V]>>

  const emit = (slot: Slot<A>): void => {
    ctx.forward(
      new Record({ key: ctx.currentKey(), timestamp: slot.end - 1, value: { key: ctx.currentKey(), start: slot.start, end: slot.end, value: slot.acc, count: slot.count } }),
    )
  }

  /** Starts of the fixed windows (tumbling, hopping) that contain `ts`. */
  const fixedStarts = (ts: number): number[] => {
    if (w.type === 'tumbling') return [Math.floor(ts / w.sizeMs) * w.sizeMs]
    if (w.type !== 'hopping') return []
    const starts: number[] = []
    for (let s = Math.floor(ts / w.advanceMs) * w.advanceMs; s > ts - w.sizeMs; s -= w.advanceMs) starts.push(s)
    return starts.reverse()
  }

  /** The open windows of the current key; the caller saves them back after changing them. */
  const openSlots = (): Array<Slot<A>> => (slots.get(OPEN) as Array<Slot<A>> | undefined) ?? migrateFieldPerWindow()

  /** Moves state written with one field per window start (earlier versions) into {@link OPEN}. */
  const migrateFieldPerWindow = (): Array<Slot<A>> => {
    const list = slots.entries().map(([, slot]) => slot as Slot<A>)
    if (list.length) {
      slots.clear()
      slots.put(OPEN, list)
    }
    return list
  }

  const save = (list: Array<Slot<A>>): void => {
    if (list.length) slots.put(OPEN, list)
    else slots.clear()
  }

  const addToFixed = (record: Record<V>, size: number, wm: number): void => {
    const starts = fixedStarts(record.timestamp)
    const lastEnd = (starts[starts.length - 1] as number) + size
    if (lastEnd - 1 + grace <= wm) return ctx.forwardTo(LATE_OUTPUT, record)
    const list = openSlots()
    for (const start of starts) {
      const end = start + size
      if (end - 1 + grace <= wm) continue // this one already closed; the later ones take the record
      let slot = list.find((s) => s.start === start)
      if (!slot) {
        slot = { start, end, acc: agg.init(), count: 0 }
        list.push(slot)
        ctx.timers.registerEventTime(end - 1 + grace, 'window', start)
      }
      slot.acc = agg.add(slot.acc, record.value, record)
      slot.count++
    }
    save(list)
  }

  /** Merges every session within gap of the record into one, which moves to the end of the list. */
  const addToSession = (record: Record<V>, gap: number): void => {
    /** When a session's result is due: its last record + gap - 1, plus grace. */
    const closeOf = (slot: Slot<A>): number => slot.end - 1 + gap - 1 + grace
    const ts = record.timestamp
    const list = openSlots()
    const absorbed: Array<Slot<A>> = []
    let kept = 0
    for (const slot of list) {
      if (ts > slot.start - gap && ts < slot.end - 1 + gap) absorbed.push(slot)
      else list[kept++] = slot
    }
    list.length = kept
    let merged: Slot<A> = { start: ts, end: ts + 1, acc: agg.add(agg.init(), record.value, record), count: 1 }
    for (const slot of absorbed) {
      merged = {
        start: Math.min(merged.start, slot.start),
        end: Math.max(merged.end, slot.end),
        acc: (agg.merge as (a: A, b: A) => A)(slot.acc, merged.acc),
        count: slot.count + merged.count,
      }
    }
    list.push(merged)
    save(list)
    // Most records fall inside a session without moving its end: its timer then stays as it is.
    const closeAt = closeOf(merged)
    let timerIsCurrent = false
    for (const slot of absorbed) {
      if (closeOf(slot) !== closeAt) ctx.timers.deleteEventTime(closeOf(slot), 'window')
      else timerIsCurrent = slot.start === merged.start
    }
    if (!timerIsCurrent) ctx.timers.registerEventTime(closeAt, 'window', merged.start)
  }

  return {
    init(c) {
      ctx = c
      if (w.type === 'sliding') buffer = c.valueStore('buffer')
      else slots = c.mapStore('windows')
    },
    process(record) {
      const ts = record.timestamp
      const wm = ctx.watermark()
      if (w.type === 'tumbling' || w.type === 'hopping') return addToFixed(record, w.sizeMs, wm)
      if (ts + grace <= wm) return ctx.forwardTo(LATE_OUTPUT, record)
      if (w.type === 'session') return addToSession(record, w.gapMs)
      const list = buffer.get() ?? []
      // Keep the buffer sorted by time; records mostly arrive in order, so insert from the back.
      let i = list.length
      while (i > 0 && (list[i - 1] as [number, V])[0] > ts) i--
      list.splice(i, 0, [ts, record.value])
      buffer.put(list)
      ctx.timers.registerEventTime(ts + grace, 'window', ts)
    },
    onTimer(timer: Timer) {
      if (w.type === 'sliding') {
        const t = timer.payload as number
        const list = buffer.get() ?? []
        let acc = agg.init()
        let count = 0
        for (const [ts, value] of list) {
          if (ts > t - w.sizeMs && ts <= t) {
            acc = agg.add(acc, value, new Record({ key: ctx.currentKey(), value, timestamp: ts }))
            count++
          }
        }
        emit({ start: t - w.sizeMs + 1, end: t + 1, acc, count })
        // Timers fire in time order and later records are not late, so every window still to
        // come ends after t: records at or before t - size are no longer needed.
        const horizon = t - w.sizeMs
        const kept = list.filter(([ts]) => ts > horizon)
        if (kept.length) buffer.put(kept)
        else buffer.delete()
        return
      }
      const list = openSlots()
      const i = list.findIndex((s) => s.start === timer.payload)
      if (i < 0) return
      const slot = list[i] as Slot<A>
      list.splice(i, 1)
      save(list)
      emit(slot)
    },
  }
}
