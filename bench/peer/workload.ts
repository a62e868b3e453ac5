/**
 * The workload of the Kafka bench (scripts/kafka/bench.ts) and its Kafka Streams peer
 * (bench/peer/src/main/java/hermes/peer/Workload.java generates the same events): behavior events
 * of 5,000 users over six types, keyed by user and placed by Kafka's murmur2 partitioner.
 */
import type { Kafka } from 'kafkajs'
import { Partitioners } from 'kafkajs'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'

/** A behavior event as the bench produces it (JSON: `{"eventId","userId","type","ts"}`). */
export interface BenchEvent {
  eventId: string
  userId: string
  type: string
  ts: number
}

/** The event types, in the order event i takes them (`TYPES[i % 6]`). */
export const TYPES = ['view', 'click', 'search', 'cart', 'chat', 'buy'] as const

const USERS = 5000

/** User of event i: 7919 is prime to 5000, so consecutive events go to different users. */
const userOf = (i: number): string => `u${(i * 7919) % USERS}`

/**
 * The backlog of the throughput measurement: `events` events 10 ms apart, ending about an hour
 * before `nowMs`. Recent event times, because the broker's time-based retention deletes records
 * with old timestamps.
 */
export function backlogEvents(events: number, nowMs: number): BenchEvent[] {
  const start = Math.floor((nowMs - events * 10) / 3_600_000 - 1) * 3_600_000
  return Array.from({ length: events }, (_, i) => ({ eventId: `e${i}`, userId: userOf(i), type: TYPES[i % 6] as string, ts: start + i * 10 }))
}

/** Event n of the latency measurement, at time `ts` (the wall clock when it is produced). */
export function liveEvent(n: number, ts: number): BenchEvent {
  return { eventId: `l${n}`, userId: userOf(n), type: TYPES[n % 6] as string, ts }
}

/**
 * Produces `events` to `topic` (its `partitions` partitions) with an idempotent producer, 5,000 per
 * awaited send, each value encoded by `encode` (JSON, or Avro through the schema registry).
 */
export async function produceEvents(options: {
  kafka: Kafka
  topic: string
  partitions: number
  events: readonly BenchEvent[]
  encode: (e: BenchEvent) => Buffer | Promise<Buffer>
}): Promise<void> {
  const { kafka, topic, partitions, events, encode } = options
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    for (let i = 0; i < events.length; i += 5000) {
      const slice = events.slice(i, i + 5000)
      const values = await Promise.all(slice.map((e) => encode(e)))
      await producer.send({ topic, messages: slice.map((e, j) => ({ key: e.userId, value: values[j] as Buffer, timestamp: String(e.ts), partition: partitionFor(e.userId, partitions) })) })
    }
  } finally {
    await producer.disconnect()
  }
}
