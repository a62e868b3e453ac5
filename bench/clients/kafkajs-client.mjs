/**
 * kafkajs 2.2.4 (the project's client) for the three measurements. Each function resolves to the
 * records/s it measured; timing starts at the first record (consume) or the first send (produce).
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { BATCH, keyOf, transform, TXN_SEND, unique, valueOf } from './workload.mjs'

const kafka = (brokers) => new Kafka({ clientId: unique('kafkajs'), brokers, logLevel: logLevel.NOTHING })

/**
 * Produces `count` records to `topic`, acks=all, idempotent, BATCH records per send. kafkajs numbers
 * a request when it sends it and takes the numbers back if it fails, even when later requests used
 * the next ones (src/producer/sendMessages.js), so its sends are awaited one after another
 * (`maxInFlightRequests: 1`, as the Hermes runner does).
 */
export async function produce({ brokers, topic, count }) {
  const producer = kafka(brokers).producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const ts = Date.now()
  const start = performance.now()
  for (let i = 0; i < count; i += BATCH) {
    const messages = []
    for (let j = i; j < Math.min(count, i + BATCH); j++) messages.push({ key: keyOf(j), value: valueOf(j, ts) })
    await producer.send({ topic, acks: -1, messages })
  }
  const seconds = (performance.now() - start) / 1000
  await producer.disconnect()
  return count / seconds
}

/** Reads a backlog of `count` records from the start with a new group (eachBatch, no processing). */
export async function consume({ brokers, topic, count }) {
  const consumer = kafka(brokers).consumer({ groupId: unique('g'), maxBytes: 50 << 20 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let seen = 0
  let start = 0
  let bytes = 0
  const done = new Promise((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (start === 0) start = performance.now()
        for (const m of batch.messages) bytes += m.value.length
        seen += batch.messages.length
        if (seen >= count) resolve(performance.now())
      },
    })
  })
  const end = await done
  await consumer.disconnect()
  if (bytes === 0) throw new Error('consumed no bytes')
  return count / ((end - start) / 1000)
}

/**
 * Consume-transform-produce under exactly-once: a transactional producer; every `commitMs` the
 * records transformed since the last commit are sent in one transaction together with the input
 * offsets (`sendOffsets`), then committed. kafkajs' `sendOffsets` sends TxnOffsetCommit v0/v1,
 * which carry no consumer-group generation or member id (no KIP-447), so this is the EOS-v1 pattern.
 * Processing waits while a commit is in flight (eachBatch awaits it).
 */
export async function eos({ brokers, input, output, count, commitMs }) {
  const client = kafka(brokers)
  const groupId = unique('eos')
  const producer = client.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  const consumer = client.consumer({ groupId, maxBytes: 50 << 20, readUncommitted: false })
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topic: input, fromBeginning: true })
  let pending = []
  const offsets = new Map()
  let seen = 0
  let start = 0
  let last = 0
  let commits = 0
  const commit = async () => {
    const txn = await producer.transaction()
    try {
      // In TXN_SEND-record sends: one send of everything read in 100 ms can exceed the broker's
      // message.max.bytes (1 MiB) for one partition's batch.
      for (let i = 0; i < pending.length; i += TXN_SEND) await txn.send({ topic: output, messages: pending.slice(i, i + TXN_SEND) })
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [...offsets].map(([partition, offset]) => ({ partition, offset })) }] })
      await txn.commit()
    } catch (err) {
      await txn.abort()
      throw err
    }
    pending = []
    commits++
    last = performance.now()
  }
  const done = new Promise((resolve, reject) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        try {
          if (start === 0) last = start = performance.now()
          for (const m of batch.messages) pending.push({ key: m.key, value: transform(m.value.toString()) })
          seen += batch.messages.length
          offsets.set(batch.partition, String(BigInt(batch.lastOffset()) + 1n))
          if (seen >= count) {
            await commit()
            resolve(performance.now())
          } else if (performance.now() - last >= commitMs) {
            await commit()
            await heartbeat()
          }
        } catch (err) {
          reject(err)
        }
      },
    })
  })
  const end = await done
  await consumer.disconnect()
  await producer.disconnect()
  return { rate: count / ((end - start) / 1000), commits, groupId }
}
