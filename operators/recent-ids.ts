/**
 * A bounded, expiring set of recent ids per key (decision ids per user), held in one value
 * store entry: what makes decisions idempotent. A redelivered trigger, a replayed range or a
 * timer fired again yields a candidate whose decision id is already here, and nothing is
 * produced for it a second time, neither a decision nor a suppression.
 *
 * Bounded twice, so its cost per key never grows with the key's history: entries older than
 * `ttlMs` (event time) are dropped whenever the set is written, and at most `maxIds` are kept
 * (the oldest go first). Ids are kept as their first {@link ID_CHARS} characters: decision ids
 * are hex digests, and 64 bits among a few hundred ids of one user never collide in practice.
 * Written only when a candidate is born or decided, never per event.
 */
import type { ValueStore } from '../pipeline/api/index.ts'

/** Characters of an id that are kept (64 bits of a hex digest). */
export const ID_CHARS = 16

/** The stored set: ids and the event time each was added at, oldest first. */
export interface RecentIds {
  ids: string[]
  ts: number[]
}

/** Bounds of a {@link RecentIds} set. */
export interface RecentIdsOptions {
  /** Event time an id is remembered for. */
  ttlMs: number
  /** Most ids kept per key; the oldest are forgotten first. */
  maxIds: number
}

/** Whether `id` was added less than `ttlMs` before `now`. */
export function hasRecentId(set: RecentIds | undefined, id: string, now: number, options: RecentIdsOptions): boolean {
  if (!set) return false
  const short = id.slice(0, ID_CHARS)
  const from = now - options.ttlMs
  for (let i = set.ids.length - 1; i >= 0; i--) if (set.ids[i] === short && (set.ts[i] as number) > from) return true
  return false
}

/** The set with `id` added at `now`, expired entries dropped and at most `maxIds` kept. */
export function addRecentId(set: RecentIds | undefined, id: string, now: number, options: RecentIdsOptions): RecentIds {
  const from = now - options.ttlMs
  const ids: string[] = []
  const ts: number[] = []
  if (set) {
    // Newest entries win the cap: keep the last maxIds - 1 that are still live.
    for (let i = 0; i < set.ids.length; i++) {
      if ((set.ts[i] as number) <= from) continue
      ids.push(set.ids[i] as string)
      ts.push(set.ts[i] as number)
    }
  }
  ids.push(id.slice(0, ID_CHARS))
  ts.push(now)
  const over = ids.length - Math.max(1, options.maxIds)
  if (over > 0) {
    ids.splice(0, over)
    ts.splice(0, over)
  }
  return { ids, ts }
}

/**
 * Checks and records an id in a value store scoped to the current key: returns false when the id
 * is already there (a duplicate), else adds it and returns true.
 */
export function claimId(store: ValueStore<RecentIds>, id: string, now: number, options: RecentIdsOptions): boolean {
  const set = store.get()
  if (hasRecentId(set, id, now, options)) return false
  store.put(addRecentId(set, id, now, options))
  return true
}
