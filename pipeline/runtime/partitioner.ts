/**
 * Kafka's default partitioner for keyed records: murmur2 of the UTF-8 key bytes, made positive,
 * modulo the partition count. Embedded topics use it too, so a key lands on the same partition
 * number embedded and on Kafka. (kafkajs ships the same function built on a Long emulation; this
 * one uses 32-bit integer math and is checked against it in the tests.)
 */
export function murmur2(data: Buffer): number {
  const length = data.length
  const m = 0x5bd1e995
  const r = 24
  let h = (0x9747b28c ^ length) | 0
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = (data[i4] as number) | ((data[i4 + 1] as number) << 8) | ((data[i4 + 2] as number) << 16) | ((data[i4 + 3] as number) << 24)
    k = Math.imul(k, m)
    k ^= k >>> r
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const rest = length & 3
  const tail = length & ~3
  if (rest === 3) h ^= (data[tail + 2] as number) << 16
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8
  if (rest >= 1) {
    h ^= data[tail] as number
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** Partition of a key among `partitions`, as Kafka's default partitioner computes it. */
export function partitionFor(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}

/**
 * The partition of an output record: by key as Kafka's default partitioner, or round robin per
 * topic for records without a key (`counters` keeps the position per topic).
 */
export function outputPartition(topic: string, key: string | null, partitions: number, counters: Map<string, number>): number {
  if (key !== null) return partitionFor(key, partitions)
  const n = counters.get(topic) ?? 0
  counters.set(topic, n + 1)
  return n % partitions
}
