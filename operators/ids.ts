import { hash } from 'node:crypto'

/**
 * Deterministic decision id: a hash of (userId, taskId, trigger), where the trigger is the
 * triggering event id or the schedule fire time. Replays produce the same ids, so gateways can
 * deduplicate.
 */
export function decisionId(userId: string, taskId: string, trigger: string): string {
  // The Task Center and then the Matching Center ask for the same id of each candidate, one
  // right after the other: the last one is kept.
  if (userId === lastId.userId && taskId === lastId.taskId && trigger === lastId.trigger) return lastId.id
  // One-shot `hash`: the same digest as createHash().update().digest(), without a Hash object per id.
  const id = hash('sha256', `${userId}\u0000${taskId}\u0000${trigger}`, 'hex').slice(0, 32)
  lastId = { userId, taskId, trigger, id }
  return id
}

let lastId = { userId: '', taskId: '', trigger: '', id: '' }

/** A stable 32-bit hash of a string (FNV-1a), for experiment buckets and spreading. */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A stable number in [0, 1) from a string. */
export function unitHash(text: string): number {
  return hash32(text) / 4294967296
}

/** Mulberry32: a small, fast, seedable PRNG, the same on every machine and run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
