// One-shot readiness probe used by start.sh: performs a real Metadata request
// with kafkajs and checks that the expected number of brokers is registered.
//
// Usage: node scripts/kafka/probe.mjs <bootstrap host:port[,host:port...]> [expectedBrokers]
// Exit codes: 0 ready, 1 not (yet) ready, 3 kafkajs could not be loaded.
let Kafka, logLevel;
try {
  ({ Kafka, logLevel } = await import('kafkajs'));
} catch (err) {
  console.error(`probe: cannot load kafkajs (${err.message}); run npm install in the repo root`);
  process.exit(3);
}

const brokers = (process.argv[2] ?? '127.0.0.1:9092').split(',').filter(Boolean);
const expected = Number(process.argv[3] ?? brokers.length);

const kafka = new Kafka({
  clientId: 'hermes-kafka-probe',
  brokers,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin({ retry: { retries: 0 } });
const timer = setTimeout(() => {
  console.error('probe: timed out');
  process.exit(1);
}, 8000);
timer.unref();

try {
  await admin.connect();
  const { brokers: live, controller, clusterId } = await admin.describeCluster();
  if (live.length < expected) {
    console.error(`probe: ${live.length}/${expected} brokers registered`);
    process.exitCode = 1;
  } else if (controller == null || controller < 0) {
    console.error('probe: no active controller reported yet');
    process.exitCode = 1;
  } else {
    console.log(`clusterId=${clusterId} brokers=${live.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',')}`);
  }
} catch (err) {
  console.error(`probe: ${err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => {});
}
