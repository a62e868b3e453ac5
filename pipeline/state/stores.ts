import { HermesError } from '../api/errors.ts'
import type { BroadcastStore, MapStore, StoreSpec, ValueStore, WindowEvent, WindowStore } from '../api/stores.ts'
import type { TaskState } from './task-state.ts'
import { WindowEvents } from './window-events.ts'

/** What a store view needs from the task running it. */
export interface StoreScope {
  /** Key of the record or timer being processed. */
  currentKey(): string
  /** Event time used for TTL: the time of the record or timer being processed. */
  eventTime(): number
  /** Whether broadcast stores may be written now (inside `processBroadcast`). */
  broadcastWritable(): boolean
  nodeId: string
}

interface Stamped {
  v: unknown
  t: number
}

type FieldMap = { [field: string]: unknown }

function hasFields(fields: FieldMap): boolean {
  for (const _ in fields) return true
  return false
}

function unwrap(raw: unknown, spec: StoreSpec, scope: StoreScope): unknown {
  if (raw === undefined || spec.ttlMs === undefined) return raw
  const s = raw as Stamped
  return s.t + spec.ttlMs <= scope.eventTime() ? undefined : s.v
}

function wrap(value: unknown, spec: StoreSpec, scope: StoreScope): unknown {
  return spec.ttlMs === undefined ? value : { v: value, t: scope.eventTime() }
}

/** Whether a stored raw value has expired at `now` (used by sweeps). */
export function isExpired(raw: unknown, spec: StoreSpec, now: number): boolean {
  if (spec.kind === 'window') return (raw as WindowEvents).newest() + (spec.retentionMs as number) <= now
  return spec.ttlMs !== undefined && (raw as Stamped).t + spec.ttlMs <= now
}

/** Value store view over the task state. */
export function createValueStore<V>(state: TaskState, name: string, spec: StoreSpec, scope: StoreScope): ValueStore<V> {
  const idx = state.indexOf(name)
  return {
    get: () => unwrap(state.getAt(idx, scope.currentKey()), spec, scope) as V | undefined,
    put: (value: V) => {
      if (value === undefined) throw new HermesError('STATE_ERROR', `store ${name}: put(undefined) is not allowed; use delete()`)
      state.setAt(idx, scope.currentKey(), wrap(value, spec, scope))
    },
    delete: () => state.setAt(idx, scope.currentKey(), undefined),
  }
}

/**
 * The fields of a map to change: a null-prototype object, which V8 keeps as a dictionary, so a
 * field with a new name (a decision id, as most maps are keyed) is one hash insert. Added to an
 * ordinary object, every new name made V8 build a hidden class and a transition for it: 10-30x
 * slower per field in isolation, and the map stores' puts were 2% of the decision flow's main
 * thread (docs/performance.md, "Decision flow embedded, fifth round"). A map read from disk
 * (JSON.parse gives ordinary objects) is copied once, at its first change; the copy keeps the
 * field order, so it is written as the same JSON.
 */
function ownFields(m: FieldMap | undefined): FieldMap {
  if (m === undefined) return Object.create(null) as FieldMap
  if (Object.getPrototypeOf(m) === null) return m
  const copy = Object.create(null) as FieldMap
  for (const k of Object.keys(m)) copy[k] = m[k]
  return copy
}

/** Map store view: one JSON object of fields per key. */
export function createMapStore<V>(state: TaskState, name: string, spec: StoreSpec, scope: StoreScope): MapStore<V> {
  const idx = state.indexOf(name)
  const read = (): FieldMap | undefined => unwrap(state.getAt(idx, scope.currentKey()), spec, scope) as FieldMap | undefined
  const write = (fields: FieldMap): void => state.setAt(idx, scope.currentKey(), wrap(fields, spec, scope))
  /** After a delete: a map left without fields is removed. */
  const writeOrRemove = (fields: FieldMap): void => state.setAt(idx, scope.currentKey(), hasFields(fields) ? wrap(fields, spec, scope) : undefined)
  return {
    get: (field) => {
      const m = read()
      return m && Object.hasOwn(m, field) ? (m[field] as V) : undefined
    },
    has: (field) => {
      const m = read()
      return !!m && Object.hasOwn(m, field)
    },
    put: (field, value) => {
      if (value === undefined) throw new HermesError('STATE_ERROR', `store ${name}: put(field, undefined) is not allowed; use delete(field)`)
      // The cached object belongs to this store: change it in place and mark it dirty.
      const m = ownFields(read())
      // defineProperty, not assignment: a field named "__proto__" must stay a plain field.
      if (field === '__proto__') Object.defineProperty(m, field, { value, enumerable: true, writable: true, configurable: true })
      else m[field] = value
      write(m)
    },
    delete: (field) => {
      const m = read()
      if (!m || !Object.hasOwn(m, field)) return
      delete m[field]
      writeOrRemove(m)
    },
    entries: () => Object.entries(read() ?? {}) as Array<[string, V]>,
    size: () => Object.keys(read() ?? {}).length,
    clear: () => state.setAt(idx, scope.currentKey(), undefined),
  }
}

/**
 * Window store view: the key's events ({@link WindowEvents}, sorted by time), pruned to the
 * retention. The cached value is changed in place and set again, so a commit writes it once
 * however many events the key got since the last one.
 */
export function createWindowStore(state: TaskState, name: string, spec: StoreSpec, scope: StoreScope): WindowStore {
  const idx = state.indexOf(name)
  const retention = spec.retentionMs as number
  const read = (): WindowEvents | undefined => state.getAt(idx, scope.currentKey()) as WindowEvents | undefined
  return {
    add: (timestamp, amount = 1, tag) => {
      if (!Number.isFinite(timestamp)) throw new HermesError('STATE_ERROR', `store ${name}: add() needs a finite timestamp`)
      const events = read() ?? WindowEvents.empty()
      events.add(timestamp, amount, tag, retention)
      state.setAt(idx, scope.currentKey(), events)
    },
    sum: (from, to, tag) => read()?.sum(from, to, tag) ?? 0,
    latest: (tag) => read()?.latest(tag),
    events: () => read()?.events() ?? [],
    forEach: (fn) => read()?.forEach(fn),
    clear: () => state.setAt(idx, scope.currentKey(), undefined),
  }
}

/** Broadcast store view: the task's full in-memory copy; writes only inside processBroadcast. */
export function createBroadcastStore<V>(state: TaskState, name: string, scope: StoreScope): BroadcastStore<V> {
  const map = state.broadcastMap(name)
  const guard = (op: string): void => {
    if (!scope.broadcastWritable()) {
      throw new HermesError('STATE_ERROR', `node ${scope.nodeId}: broadcast store "${name}" can only be written in processBroadcast (tried ${op}); every task must see the same broadcast state`)
    }
  }
  // The entries as of the last change: operators list them for every record (the Task Center
  // walks its tasks per event), and broadcast state changes rarely. Only this view writes the map
  // once the state is open, so put and delete are where it goes stale. Each call gets its own
  // array (a caller may sort it); the pairs are shared, hence frozen.
  let listed: Array<[string, V]> | null = null
  return {
    get: (id) => map.get(id) as V | undefined,
    has: (id) => map.has(id),
    put: (id, value) => {
      guard('put')
      map.set(id, value)
      listed = null
      state.markBroadcastDirty(name, id)
    },
    delete: (id) => {
      guard('delete')
      map.delete(id)
      listed = null
      state.markBroadcastDirty(name, id)
    },
    entries: () => (listed ??= Array.from(map, (e) => Object.freeze(e) as [string, V])).slice(),
    size: () => map.size,
  }
}
