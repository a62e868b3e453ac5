/**
 * The chaos run's source of behavior events: sends them in time order at a steady rate, each to
 * the partition Hermes expects for its user, timestamped with its event time. A send that fails
 * is retried only after reading the partition's end, so an event is never written twice (the
 * comparison would otherwise count the producer's duplicates against Hermes).
 */
import type { Kafka, Producer } from 'kafkajs'
import { Partitioners } from 'kafkajs'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { sleep } from './process.ts'

/** A record to produce: its key, JSON value and Kafka timestamp. */
export interface OutgoingRecord {
  key: string
  value: string
  ts: number
}

/** Produces `records` to `topic` at `perSecond`, in ticks of 100 ms; pause() and resume() bracket a broker restart. */
export class SteadyProducer {
  /** Records acknowledged so far. */
  sent = 0
  private producer: Producer | null = null
  private paused = false
  private tick: Promise<void> = Promise.resolve()
  private readonly ends = new Map<number, number>()

  constructor(
    private readonly kafka: Kafka,
    private readonly o: { topic: string; partitions: number; records: readonly OutgoingRecord[]; perSecond: number },
  ) {}

  /** Produces everything; resolves when the last record is acknowledged. */
  async run(): Promise<void> {
    const admin = this.kafka.admin()
    await admin.connect()
    for (const r of await admin.fetchTopicOffsets(this.o.topic)) this.ends.set(r.partition, Number(r.high))
    await admin.disconnect()
    const perTick = Math.max(1, Math.round(this.o.perSecond / 10))
    const started = Date.now()
    for (let i = 0, n = 0; i < this.o.records.length; i += perTick, n++) {
      // Steady: tick n starts at started + n * 100 ms, whatever the earlier ticks took.
      const wait = started + n * 100 - Date.now()
      if (wait > 0) await sleep(wait)
      while (this.paused) await sleep(50)
      this.tick = this.send(this.o.records.slice(i, i + perTick))
      await this.tick
    }
    await this.producer?.disconnect().catch(() => {})
    this.producer = null
  }

  /** Stops after the batch on its way (resolves once it is acknowledged). */
  async pause(): Promise<void> {
    this.paused = true
    await this.tick.catch(() => {})
    await this.producer?.disconnect().catch(() => {})
    this.producer = null
  }

  /** Carries on (a new connection: the broker may have restarted). */
  resume(): void {
    this.paused = false
  }

  private async connect(): Promise<Producer> {
    if (this.producer) return this.producer
    const p = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    await p.connect()
    this.producer = p
    return p
  }

  /** One send per partition; after a failure, what the partition's end shows was written counts as sent. */
  private async send(batch: readonly OutgoingRecord[]): Promise<void> {
    const byPartition = new Map<number, OutgoingRecord[]>()
    for (const r of batch) {
      const p = partitionFor(r.key, this.o.partitions)
      const list = byPartition.get(p) ?? []
      list.push(r)
      byPartition.set(p, list)
    }
    for (const [partition, records] of byPartition) {
      const before = this.ends.get(partition) ?? 0
      for (let attempt = 1; ; attempt++) {
        try {
          const producer = await this.connect()
          await producer.send({ topic: this.o.topic, messages: records.map((r) => ({ key: r.key, value: r.value, timestamp: String(r.ts), partition })) })
          break
        } catch (err) {
          await this.producer?.disconnect().catch(() => {})
          this.producer = null
          if (attempt >= 60) throw new Error(`producing to ${this.o.topic}:${partition} failed ${attempt} times: ${String(err)}`, { cause: err })
          await sleep(500)
          const end = await this.endOf(partition).catch(() => -1)
          // A record batch is written whole or not at all.
          if (end === before + records.length) break
          if (end !== before && end !== -1) throw new Error(`${this.o.topic}:${partition} ends at ${end} after a failed send; expected ${before} or ${before + records.length}: another writer?`)
        }
      }
      this.ends.set(partition, before + records.length)
      this.sent += records.length
    }
  }

  private async endOf(partition: number): Promise<number> {
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      return Number((await admin.fetchTopicOffsets(this.o.topic)).find((r) => r.partition === partition)?.high ?? -1)
    } finally {
      await admin.disconnect()
    }
  }
}
