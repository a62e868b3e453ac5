/**
 * A digest of the decision flow's outputs key by key, the same in embedded and Kafka mode when they
 * wrote the same records: per key, its values in the order written (a key's records share a
 * partition, so that order is the one both modes promise), keys sorted. The order across keys is
 * left out: Kafka interleaves partitions by when records arrive. bench/decisions.bench.ts and
 * decisions-kafka.bench.ts print it for decisions and suppressions.
 */
import { createHash } from 'node:crypto'

export interface KeyedValue {
  key: string | null
  value: string | Buffer | null
}

/** 16 hex digits over every key's values, keys in sorted order. */
export function perKeyDigest(records: Iterable<KeyedValue>): string {
  const byKey = new Map<string, string[]>()
  for (const r of records) {
    const k = r.key ?? '\u0000null'
    let list = byKey.get(k)
    if (!list) byKey.set(k, (list = []))
    list.push(r.value === null ? '\u0000null' : r.value.toString())
  }
  const h = createHash('sha256')
  for (const k of [...byKey.keys()].sort()) {
    h.update(JSON.stringify(k))
    for (const v of byKey.get(k) as string[]) h.update(`\n${v.length}:${v}`)
    h.update('\n\n')
  }
  return h.digest('hex').slice(0, 16)
}
