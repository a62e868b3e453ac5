/**
 * The workload shared by every client of the comparison: string keys over 5,000 users and JSON
 * values of about 200 bytes, the shape of Hermes' behavior events. Plain ESM JavaScript, not
 * TypeScript: the project's `tsc` includes `bench/`, and the clients compared here are installed in
 * `bench/clients/node_modules` only, so typed imports of them would break the project's typecheck.
 */

/** Partitions of every topic the bench creates (the setup: one broker, 4 partitions). */
export const PARTITIONS = 4

/** Records sent per produce call, the same for every client. */
export const BATCH = 5000

/**
 * Records per send inside a transaction. Smaller than BATCH: the loop keeps each record's key, so
 * everything read from one input partition goes to one output partition, and 5,000 transformed
 * records (~1.1 MiB) exceed the broker's default message.max.bytes for one partition's batch.
 */
export const TXN_SEND = 2000

/** Key of record i: 7919 is prime to 5,000, so consecutive records go to different users. */
export const keyOf = (i) => `u${(i * 7919) % 5000}`

const TYPES = ['view', 'click', 'search', 'cart', 'chat', 'buy']

/**
 * Value of record i: a behavior event padded to about 200 bytes. Built per call (not cached) so
 * that each client pays for the same encoding work a real producer does.
 */
export function valueOf(i, ts) {
  return JSON.stringify({
    eventId: `e${i}`,
    userId: keyOf(i),
    type: TYPES[i % 6],
    ts,
    itemId: `item-${(i * 31) % 100000}`,
    page: 'home/feed/recommend',
    device: { os: 'android', version: '14.2.1', app: '7.42.0' },
    session: `s${(i * 131) % 1000003}`,
  })
}

/** The transform of the consume-transform-produce loop: parse, enrich, re-encode (same for all clients). */
export function transform(value) {
  const e = JSON.parse(value)
  e.seen = true
  return JSON.stringify(e)
}

/** A name unique to this process and moment, so that runs never share topics or groups on the shared broker. */
export const unique = (what) => `bench-clients-${what}-${process.pid}-${Date.now().toString(36)}`
