/**
 * The verdict of a chaos run: the read_committed decisions and suppressions of the fault run
 * against the crash-free reference, record by record under a stable identity.
 */

/** A record as read back: its value as JSON text. */
export interface ReadRecord {
  value: string
}

/** One difference between the runs. */
export interface Difference {
  /**
   * `lost`: in the reference, missing from the fault run; `duplicated`: the same record more
   * often in the fault run; `different`: same identity, other content; `extra`: in the fault run
   * only (an identity the reference lacks, or one more copy with other content).
   */
  kind: 'lost' | 'duplicated' | 'different' | 'extra'
  id: string
  reference?: string
  fault?: string
}

/** The comparison of one topic. */
export interface TopicComparison {
  reference: number
  fault: number
  differences: Difference[]
}

/** How a decision is known across runs: its `decisionId` (a hash of user, task and trigger). */
export function decisionIdentity(value: { [k: string]: unknown }): string {
  return String(value.decisionId)
}

/**
 * How a suppression is known across runs (it has no id of its own, see operators/types.ts):
 * user, task, reason, time and triggering event. Its material is content, compared.
 */
export function suppressionIdentity(value: { [k: string]: unknown }): string {
  return [value.userId, value.taskId, value.reason, value.ts, value.triggerEventId].map(String).join('|')
}

/** JSON with keys sorted, so field order never counts as a difference; text that is not JSON stays as it is. */
export function canonical(text: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(text) as unknown))
  } catch {
    return text
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as { [k: string]: unknown })[k])]))
  return v
}

function byIdentity(records: readonly ReadRecord[], identity: (v: { [k: string]: unknown }) => string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const r of records) {
    let id: string
    try {
      id = identity(JSON.parse(r.value) as { [k: string]: unknown })
    } catch {
      id = `unparsable:${r.value}`
    }
    const list = out.get(id) ?? []
    list.push(canonical(r.value))
    out.set(id, list)
  }
  return out
}

/**
 * Compares two runs' records of one topic as multisets under `identity`: equal copies match
 * one to one; what is left is lost, duplicated, different or extra (see {@link Difference}).
 */
export function compareRecords(reference: readonly ReadRecord[], fault: readonly ReadRecord[], identity: (v: { [k: string]: unknown }) => string): TopicComparison {
  const want = byIdentity(reference, identity)
  const got = byIdentity(fault, identity)
  const differences: Difference[] = []
  for (const id of [...new Set([...want.keys(), ...got.keys()])].sort()) {
    const r = [...(want.get(id) ?? [])]
    const f: string[] = []
    const matched = new Set<string>()
    for (const v of got.get(id) ?? []) {
      const i = r.indexOf(v)
      if (i >= 0) {
        r.splice(i, 1)
        matched.add(v)
      } else f.push(v)
    }
    // Pair what is left: same identity, other content.
    while (r.length && f.length) differences.push({ kind: 'different', id, reference: r.shift() as string, fault: f.shift() as string })
    for (const v of r) differences.push({ kind: 'lost', id, reference: v })
    for (const v of f) differences.push(matched.has(v) || (want.get(id) ?? []).includes(v) ? { kind: 'duplicated', id, fault: v } : { kind: 'extra', id, fault: v })
  }
  return { reference: reference.length, fault: fault.length, differences }
}

/** Counts of each kind of difference. */
export function differenceCounts(c: TopicComparison): { [k in Difference['kind']]: number } {
  const out = { lost: 0, duplicated: 0, different: 0, extra: 0 }
  for (const d of c.differences) out[d.kind]++
  return out
}

/** Suppressions per reason, e.g. `{ 'cancelled.unless': 120, 'fatigue.user': 40 }`, reasons sorted. */
export function suppressionReasons(records: readonly ReadRecord[]): { [reason: string]: number } {
  const out: { [reason: string]: number } = {}
  for (const r of records) {
    let reason = '(unparsable)'
    try {
      reason = String((JSON.parse(r.value) as { reason?: unknown }).reason)
    } catch {
      // Counted as unparsable.
    }
    out[reason] = (out[reason] ?? 0) + 1
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)))
}
