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
import { applyKip447Patch, generationOf, setOffsetsGeneration } from './kafkajs-kip447.mjs'
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

/**
 * kafkajs, as released (`patched` false: the commit is accepted, no metadata is sent) or with
 * kafkajs-kip447.mjs (`patched` true: fenced; and a commit with the current generation is accepted,
 * which shows the v3 request is well formed, not merely refused).
 */
async function kafkajs(patched) {
  if (patched) applyKip447Patch()
  const { input, output, topics } = await setup()
  const groupId = unique('fence-g')
  const a = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300 })
  let memberA = ''
  a.on(a.events.GROUP_JOIN, (e) => void (memberA = e.payload.memberId))
  await a.connect()
  await a.subscribe({ topic: input, fromBeginning: true })
  // The generation is read when the record is, as a runner would keep it with the batch.
  const read = new Promise((resolve) => void a.run({ autoCommit: false, eachMessage: async ({ partition, message }) => resolve({ partition, offset: message.offset, generationId: generationOf(memberA) }) }))
  const record = await read
  const b = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300 })
  await b.connect()
  await b.subscribe({ topic: input, fromBeginning: true })
  const bJoined = new Promise((resolve) => b.on(b.events.GROUP_JOIN, resolve))
  void b.run({ autoCommit: false, eachMessage: async () => {} })
  await bJoined
  const transactionalId = unique('tx')
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const attempt = async (generationId) => {
    if (patched) setOffsetsGeneration({ transactionalId, groupId, generationId, memberId: memberA })
    const txn = await producer.transaction()
    try {
      await txn.send({ topic: output, messages: [{ key: 'k', value: 'from the zombie' }] })
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: record.partition, offset: String(Number(record.offset) + 1) }] }] })
      await txn.commit()
      return 'accepted'
    } catch (err) {
      await txn.abort().catch(() => {})
      return `fenced (${err.type ?? err.message})`
    }
  }
  const outcome = await attempt(record.generationId)
  const offset = await committed(groupId, input, record.partition)
  const name = patched ? 'kafkajs 2.2.4 + kafkajs-kip447.mjs' : 'kafkajs 2.2.4'
  const at = patched ? `at generation ${record.generationId}, group now at ${generationOf(memberA)}` : 'before B joined (the group has rebalanced since)'
  console.log(`${name}: record read ${at}; zombie commit ${outcome}; committed offset of partition ${record.partition}: ${offset}`)
  let ok = patched ? outcome.startsWith('fenced') && offset === -1 : outcome === 'accepted'
  if (patched) {
    const current = await attempt(generationOf(memberA))
    const after = await committed(groupId, input, record.partition)
    console.log(`${name}: the same commit at the current generation ${current}; committed offset: ${after}`)
    ok &&= current === 'accepted' && after === Number(record.offset) + 1
  }
  await Promise.all([a.disconnect(), b.disconnect(), producer.disconnect()])
  await admin.deleteTopics({ topics }).catch(() => {})
  return ok
}

// The unpatched kafkajs first: the patch changes kafkajs for the rest of the process.
const ok = [await platformatic(), await kafkajs(false), await kafkajs(true)]
await admin.disconnect()
process.exit(ok.every(Boolean) ? 0 : 1)
