/**
 * KIP-447 check: is a transactional offset commit made with an old consumer-group generation
 * refused by the broker? EOS v2 (one transactional producer per process, as Kafka Streams does
 * since 2.6) is only safe if it is, because the transactional id no longer fences a zombie.
 *   node fencing.mjs [--brokers 127.0.0.1:9092]       (Node >= 22.22, for @platformatic/kafka)
 * Scenario, for each client: consumer A (group G) reads a record; consumer B joins G, so the group
 * moves to a new generation and A's record now belongs to an old one; a producer then commits, in a
 * transaction, an output record and A's offset. A client that sends the generation and member id
 * with TxnOffsetCommit (v3+) gets ILLEGAL_GENERATION (fenced); one that sends only the group id
 * (v0-v2) is accepted. Prints one line per client and exits 1 if a result differs from what the
 * client's source says (platformatic: fenced; kafkajs: accepted).
 */
import { Consumer, Producer } from '@platformatic/kafka'
import { Kafka, logLevel } from 'kafkajs'
import { unique } from './workload.mjs'

const i = process.argv.indexOf('--brokers')
const brokers = (i >= 0 ? process.argv[i + 1] : '127.0.0.1:9092').split(',')
const kafka = new Kafka({ clientId: unique('fence'), brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()

async function setup() {
  const input = unique('fence-in')
  const output = unique('fence-out')
  await admin.createTopics({ waitForLeaders: true, topics: [input, output].map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })) })
  const p = kafka.producer()
  await p.connect()
  await p.send({ topic: input, messages: Array.from({ length: 20 }, (_, n) => ({ key: `k${n}`, value: `v${n}` })) })
  await p.disconnect()
  return { input, output, topics: [input, output] }
}

/** The committed offset of `groupId` on partition `partition` of `topic` (-1 when none). */
async function committed(groupId, topic, partition) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Number(t.partitions.find((p) => p.partition === partition).offset)
}

async function platformatic() {
  const { input, output, topics } = await setup()
  const groupId = unique('fence-g')
  const opts = { bootstrapBrokers: brokers, groupId, sessionTimeout: 10000, heartbeatInterval: 300 }
  const a = new Consumer({ clientId: unique('a'), ...opts })
  const streamA = await a.consume({ topics: [input], mode: 'earliest', autocommit: false })
  const record = await new Promise((resolve) => streamA.once('data', resolve))
  const oldGeneration = record.metadata.consumer.generationId
  const b = new Consumer({ clientId: unique('b'), ...opts })
  // consume() resolves once B is in the group, that is after the rebalance to a new generation.
  const streamB = await b.consume({ topics: [input], mode: 'earliest', autocommit: false })
  const producer = new Producer({ clientId: unique('zombie'), bootstrapBrokers: brokers, transactionalId: unique('tx'), idempotent: true })
  const txn = await producer.beginTransaction()
  let outcome
  try {
    await txn.addConsumer(a)
    await txn.send({ messages: [{ topic: output, key: Buffer.from('k'), value: Buffer.from('from the zombie') }] })
    await txn.addOffset(record)
    await txn.commit()
    outcome = 'accepted'
  } catch (err) {
    // The broker's per-partition error codes are in the AggregateError's `errors` (apiId: ILLEGAL_GENERATION, ...).
    outcome = `fenced (${[...new Set((err.errors ?? [err]).map((e) => e.apiId ?? e.message))].join(', ')})`
    await txn.abort().catch(() => {})
  }
  const offset = await committed(groupId, input, record.partition)
  console.log(`@platformatic/kafka: record read at generation ${oldGeneration}, group now at ${b.generationId}; zombie commit ${outcome}; committed offset of partition ${record.partition}: ${offset}`)
  await Promise.all([streamA.close(), streamB.close()])
  await Promise.all([a.close(true), b.close(true), producer.close()])
  await admin.deleteTopics({ topics }).catch(() => {})
  return outcome.startsWith('fenced') && offset === -1
}

async function kafkajs() {
  const { input, output, topics } = await setup()
  const groupId = unique('fence-g')
  let generation = 0
  const joined = (c) => new Promise((resolve) => c.on(c.events.GROUP_JOIN, () => resolve(++generation)))
  const a = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300 })
  await a.connect()
  await a.subscribe({ topic: input, fromBeginning: true })
  const aJoined = joined(a)
  const read = new Promise((resolve) => void a.run({ autoCommit: false, eachMessage: async ({ partition, message }) => resolve({ partition, offset: message.offset }) }))
  const record = await read
  await aJoined
  const b = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300 })
  await b.connect()
  await b.subscribe({ topic: input, fromBeginning: true })
  const bJoined = joined(b)
  void b.run({ autoCommit: false, eachMessage: async () => {} })
  await bJoined
  const producer = kafka.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const txn = await producer.transaction()
  let outcome
  try {
    await txn.send({ topic: output, messages: [{ key: 'k', value: 'from the zombie' }] })
    await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: record.partition, offset: String(Number(record.offset) + 1) }] }] })
    await txn.commit()
    outcome = 'accepted'
  } catch (err) {
    outcome = `fenced (${err.type ?? err.message})`
    await txn.abort().catch(() => {})
  }
  const offset = await committed(groupId, input, record.partition)
  console.log(`kafkajs 2.2.4: record read before B joined (the group has rebalanced since); zombie commit ${outcome}; committed offset of partition ${record.partition}: ${offset}`)
  await Promise.all([a.disconnect(), b.disconnect(), producer.disconnect()])
  await admin.deleteTopics({ topics }).catch(() => {})
  return outcome === 'accepted'
}

const ok = [await platformatic(), await kafkajs()]
await admin.disconnect()
process.exit(ok.every(Boolean) ? 0 : 1)
