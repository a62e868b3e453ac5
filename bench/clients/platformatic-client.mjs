/**
 * @platformatic/kafka (needs Node >= 22.22) for the three measurements, same contract as
 * kafkajs-client.mjs: each function resolves to the records/s it measured.
 */
import { Consumer, Producer, stringSerializers } from '@platformatic/kafka'
import { BATCH, keyOf, transform, TXN_SEND, unique, valueOf } from './workload.mjs'

/**
 * Produces `count` records, acks=all, idempotent, BATCH records per send, `window` sends pending at
 * once: for an idempotent producer the client keeps one produce request in flight per connection
 * and queues the others behind it.
 */
export async function produce({ brokers, topic, count, window = 1 }) {
  const producer = new Producer({ clientId: unique('plt'), bootstrapBrokers: brokers, idempotent: true, acks: -1, serializers: stringSerializers })
  const ts = Date.now()
  const start = performance.now()
  const inFlight = new Set()
  for (let i = 0; i < count; i += BATCH) {
    const messages = []
    for (let j = i; j < Math.min(count, i + BATCH); j++) messages.push({ topic, key: keyOf(j), value: valueOf(j, ts) })
    const p = producer.send({ messages }).finally(() => inFlight.delete(p))
    inFlight.add(p)
    if (inFlight.size >= window) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - start) / 1000
  await producer.close()
  return count / seconds
}

/** Reads a backlog of `count` records from the start with a new group (stream API, 'data' events). */
export async function consume({ brokers, topic, count }) {
  const consumer = new Consumer({ clientId: unique('plt'), groupId: unique('g'), bootstrapBrokers: brokers, maxBytes: 50 << 20 })
  // highWaterMark: messages the stream buffers before it stops fetching (the library's default 1,024).
  const highWaterMark = Number(process.env.BENCH_PLT_HWM ?? 1024)
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, highWaterMark })
  let seen = 0
  let start = 0
  let bytes = 0
  const end = await new Promise((resolve, reject) => {
    stream.on('error', reject)
    stream.on('data', (m) => {
      if (start === 0) start = performance.now()
      bytes += m.value.length
      if (++seen === count) resolve(performance.now())
    })
  })
  await stream.close()
  await consumer.close(true)
  if (bytes === 0) throw new Error('consumed no bytes')
  return count / ((end - start) / 1000)
}

/**
 * Consume-transform-produce under exactly-once: every `commitMs`, one transaction holds the records
 * transformed since the last commit and the input offsets. `addConsumer` + `addOffset` send
 * TxnOffsetCommit with the consumer's group id, generation id and member id (KIP-447): a zombie
 * from an older generation is refused by the group coordinator.
 */
export async function eos({ brokers, input, output, count, commitMs }) {
  const groupId = unique('eos')
  const producer = new Producer({ clientId: unique('plt'), bootstrapBrokers: brokers, transactionalId: unique('tx'), idempotent: true, serializers: stringSerializers })
  const consumer = new Consumer({ clientId: unique('plt'), groupId, bootstrapBrokers: brokers, maxBytes: 50 << 20, isolationLevel: 1 })
  const stream = await consumer.consume({ topics: [input], mode: 'earliest', autocommit: false })
  let pending = []
  const lastOf = new Map()
  let seen = 0
  let start = 0
  let last = 0
  let commits = 0
  const commit = async () => {
    const txn = await producer.beginTransaction()
    try {
      await txn.addConsumer(consumer)
      for (let i = 0; i < pending.length; i += TXN_SEND) await txn.send({ messages: pending.slice(i, i + TXN_SEND) })
      for (const m of lastOf.values()) await txn.addOffset(m)
      await txn.commit()
    } catch (err) {
      await txn.abort()
      throw err
    }
    pending = []
    lastOf.clear()
    commits++
    last = performance.now()
  }
  for await (const m of stream) {
    if (start === 0) last = start = performance.now()
    pending.push({ topic: output, key: m.key.toString(), value: transform(m.value.toString()) })
    lastOf.set(m.partition, m)
    if (++seen >= count) break
    if (performance.now() - last >= commitMs) await commit()
  }
  await commit()
  const end = performance.now()
  // `break` has already destroyed the stream (for-await calls its return()).
  if (!stream.destroyed) await stream.close()
  await consumer.close(true)
  await producer.close()
  return { rate: count / ((end - start) / 1000), commits, groupId }
}
