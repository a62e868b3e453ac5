// End-to-end smoke test of a local Kafka started by scripts/kafka/start.sh,
// using the repo's kafkajs. Exits non-zero on any failure.
//
// Usage (from the repo root so node_modules/kafkajs resolves):
//   node scripts/kafka/smoke.mjs [--brokers 127.0.0.1:9092] [--replication-factor 1]
//                                [--messages 1000] [--partitions 4] [--keep-topics] [--timeout 120]
//
// Checks: topic creation, idempotent producer, consumer group round trip,
// transactional produce + sendOffsets (commit), aborted transaction invisible
// to a read_committed consumer.
import { Kafka, logLevel, Partitioners, CompressionTypes } from 'kafkajs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const BROKERS = opt('brokers', process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RF = Number(opt('replication-factor', '1'));
const N = Number(opt('messages', '1000'));
const PARTITIONS = Number(opt('partitions', '4'));
const KEEP = args.includes('--keep-topics');

const run = `${Date.now().toString(36)}-${process.pid}`;
const SRC = `hermes-smoke-src-${run}`;
const OUT = `hermes-smoke-out-${run}`;
const GROUP = `hermes-smoke-group-${run}`;
const TXN_GROUP = `hermes-smoke-txn-group-${run}`;

// Collect everything kafkajs logs at WARN+ so incompatibilities are visible.
const logged = [];
const logCreator = () => ({ namespace, level, label, log }) => {
  if (level <= logLevel.WARN) {
    const { message, ...rest } = log;
    logged.push(`${label} [${namespace}] ${message} ${JSON.stringify(rest)}`);
  }
};

const kafka = new Kafka({
  clientId: 'hermes-kafka-smoke',
  brokers: BROKERS,
  logLevel: logLevel.WARN,
  logCreator,
  // No client-level `retry`: a client-level retry with finite retries makes every
  // idempotent producer log "Limiting retries ... may invalidate EoS guarantees".
});

const t0 = Date.now();
const TIMEOUT_S = Number(opt('timeout', '120'));
setTimeout(() => {
  console.error(`SMOKE FAILED: did not finish within ${TIMEOUT_S}s`);
  process.exit(1);
}, TIMEOUT_S * 1000).unref();
const step = (msg) => console.log(`[smoke +${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}`);
const assert = (cond, msg) => {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
};
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout after ${ms}ms: ${what}`)), ms).unref())]);

const admin = kafka.admin();
const cleanup = [];

async function waitForTopics(topics, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics });
      if (md.topics.every((t) => t.partitions.length === PARTITIONS && t.partitions.every((p) => p.leader >= 0))) return md;
      lastErr = new Error('not all partitions have leaders yet');
    } catch (err) {
      if (!['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'].includes(err.type)) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics} not ready after ${timeoutMs}ms: ${lastErr?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function consumeAll({ groupId, topic, expected, readUncommitted = false, idleMs = 0 }) {
  // maxWaitTimeInMs bounds how long disconnect() waits for an in-flight empty fetch.
  const consumer = kafka.consumer({ groupId, readUncommitted, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 250 });
  cleanup.push(() => consumer.disconnect());
  const seen = new Map();
  const perPartition = new Map();
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      seen.set(message.value.toString(), partition);
      perPartition.set(partition, (perPartition.get(partition) ?? 0) + 1);
      if (seen.size >= expected && idleMs === 0) resolveDone();
    },
  });
  if (idleMs > 0) {
    // Wait until `expected` messages arrived, then a bit longer to catch extras.
    const t = Date.now();
    while (seen.size < expected && Date.now() - t < 30000) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, idleMs));
  } else {
    await withTimeout(done, 30000, `consuming ${expected} messages from ${topic} (got ${seen.size})`);
  }
  await consumer.disconnect();
  return { seen, perPartition };
}

try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  step(`connected: cluster ${cluster.clusterId}, brokers ${cluster.brokers.map((b) => b.nodeId).join(',')}`);

  // 1. Topics.
  // kafkajs 2.2.4 quirk: createTopics({ waitForLeaders: true }) only retries
  // LEADER_NOT_AVAILABLE, but on a multi-broker KRaft cluster the broker it asks
  // may not have the new topic in its metadata cache yet and answers
  // UNKNOWN_TOPIC_OR_PARTITION, which kafkajs treats as fatal (kafkajs#1563).
  // So create without waiting and poll metadata ourselves.
  const created = await admin.createTopics({
    waitForLeaders: false,
    topics: [
      { topic: SRC, numPartitions: PARTITIONS, replicationFactor: RF },
      { topic: OUT, numPartitions: PARTITIONS, replicationFactor: RF },
    ],
  });
  assert(created, 'createTopics returned false');
  if (!KEEP) cleanup.push(() => admin.deleteTopics({ topics: [SRC, OUT] }));
  const md = await waitForTopics([SRC, OUT]);
  const parts = md.topics.find((t) => t.name === SRC).partitions;
  assert(parts.length === PARTITIONS, `expected ${PARTITIONS} partitions, got ${parts.length}`);
  assert(parts.every((p) => p.replicas.length === RF), `expected RF ${RF}: ${JSON.stringify(parts.map((p) => p.replicas))}`);
  step(`created ${SRC} and ${OUT}: ${PARTITIONS} partitions, RF ${RF} (replicas ${JSON.stringify(parts.map((p) => p.replicas))})`);

  // 2. Idempotent producer, N keyed messages.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  cleanup.push(() => producer.disconnect());
  await producer.connect();
  const batch = Array.from({ length: N }, (_, i) => ({ key: `k${i % 97}`, value: `m${i}` }));
  for (let i = 0; i < N; i += 250) {
    await producer.send({ topic: SRC, acks: -1, compression: CompressionTypes.None, messages: batch.slice(i, i + 250) });
  }
  await producer.disconnect();
  const offsets = await admin.fetchTopicOffsets(SRC);
  const total = offsets.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  assert(total === N, `expected ${N} records on ${SRC}, offsets say ${total}`);
  step(`idempotent producer wrote ${N} messages (per partition: ${offsets.map((o) => `${o.partition}=${o.high}`).join(' ')})`);

  // 3. Consumer group round trip.
  const { seen, perPartition } = await consumeAll({ groupId: GROUP, topic: SRC, expected: N });
  assert(seen.size === N, `consumer saw ${seen.size}/${N} distinct messages`);
  assert(perPartition.size === PARTITIONS, `messages came from ${perPartition.size}/${PARTITIONS} partitions`);
  step(`consumer group ${GROUP} read back all ${N} messages`);

  // 4. Transactions: consume-transform-produce style commit with sendOffsets.
  const txProducer = kafka.producer({
    transactionalId: `hermes-smoke-tx-${run}`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  cleanup.push(() => txProducer.disconnect());
  await txProducer.connect();

  const txn = await txProducer.transaction();
  try {
    await txn.send({ topic: OUT, messages: Array.from({ length: 10 }, (_, i) => ({ key: `t${i}`, value: `committed-${i}` })) });
    await txn.sendOffsets({
      consumerGroupId: TXN_GROUP,
      topics: [{ topic: SRC, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) }],
    });
    await txn.commit();
  } catch (err) {
    await txn.abort().catch(() => {});
    throw err;
  }
  step('transaction #1 (10 messages + sendOffsets) committed');

  const txn2 = await txProducer.transaction();
  await txn2.send({ topic: OUT, messages: Array.from({ length: 5 }, (_, i) => ({ key: `a${i}`, value: `aborted-${i}` })) });
  await txn2.abort();
  step('transaction #2 (5 messages) aborted');

  const txn3 = await txProducer.transaction();
  await txn3.send({ topic: OUT, messages: [{ key: 'z', value: 'committed-after-abort' }] });
  await txn3.commit();
  step('transaction #3 (1 message) committed');
  await txProducer.disconnect();

  const committed = await admin.fetchOffsets({ groupId: TXN_GROUP, topics: [SRC] });
  const got = committed[0].partitions.map((p) => `${p.partition}=${p.offset}`).sort().join(' ');
  const want = offsets.map((o) => `${o.partition}=${o.high}`).sort().join(' ');
  assert(got === want, `sendOffsets: group ${TXN_GROUP} committed offsets ${got}, expected ${want}`);
  step(`sendOffsets committed group offsets: ${got}`);

  const rc = await consumeAll({ groupId: `${GROUP}-rc`, topic: OUT, expected: 11, idleMs: 1500 });
  const values = [...rc.seen.keys()];
  assert(values.filter((v) => v.startsWith('committed')).length === 11, `read_committed saw ${values.length} values: ${values}`);
  assert(!values.some((v) => v.startsWith('aborted')), `read_committed consumer saw aborted records: ${values}`);
  step('read_committed consumer saw 11 committed and 0 aborted transactional messages');

  const ru = await consumeAll({ groupId: `${GROUP}-ru`, topic: OUT, expected: 16, readUncommitted: true, idleMs: 500 });
  assert(ru.seen.size === 16, `read_uncommitted consumer saw ${ru.seen.size}/16 values`);
  step('read_uncommitted consumer saw all 16 transactional messages (incl. aborted)');

  console.log(`SMOKE OK in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
} catch (err) {
  console.error(`SMOKE FAILED: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  await admin.disconnect().catch(() => {});
  if (logged.length) {
    console.log(`kafkajs logged ${logged.length} warning/error line(s):`);
    for (const l of logged) console.log(`  ${l}`);
  } else {
    console.log('kafkajs logged no warnings or errors');
  }
}
