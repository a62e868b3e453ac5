/**
 * Decision-flow benchmark on Kafka: the push-decisions and material-stats topologies in one
 * process (as `hermes run` runs them), over a backlog of the synthetic world's behavior events on
 * the broker, the same world and events as bench/decisions.bench.ts (embedded). Prints behavior
 * events/s, CPU % of one core, commits and peak RSS, and the main thread's time on a CPU, waiting
 * for one and asleep (/proc/<pid>/schedstat). Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/decisions-kafka.bench.ts [--users 5000] [--days 1] [--packed-seconds-per-hour N] [--guarantee at_least_once|exactly_once|exactly_once_v2]
 *     [--max-ahead-ms N] [--commit-interval-ms N] [--fetch-wait-ms N] [--backend rocksdb|memory] [--brokers 127.0.0.1:9092]
 *     [--json-out FILE] [--keep-topics] [--progress]
 *
 * The configuration topics (materials, tasks, profiles, memberships) and the behavior events are
 * produced first, to topics and applications named after this run, as the Kafka decision test
 * does (test/kafka/decisions.kafka.test.ts); then one runner works through them until idle for
 * 300 ms with everything committed. The time runs from opening the runner (topic checks, group
 * joins, the configuration's records) to its return, so it includes start-up, as
 * scripts/kafka/bench.ts does. `time.idleTimeoutMs` is 0: the events are weeks old, and time
 * that followed the wall clock once caught up would fire every pending timer at the end. The
 * runner's other settings are config/default.yaml's, consumer timings included, as `hermes run`
 * has them (`kafka.maxAheadMs` 2 s; `kafka.consumer.maxWaitTimeMs` 100 ms, which `--fetch-wait-ms`
 * sets; scripts/kafka/bench.ts uses 20 ms, which gave the same main-thread CPU per event here,
 * docs/performance.md). Its run
 * deletes its topics and groups at the end unless `--keep-topics`. The broker is never stopped.
 *
 * The world's event time is sparse (5,000 users: 0.2 events per second of event time, against the
 * 2 s of `kafka.maxAheadMs`), so nearly every event waits for its own repartitioned records to come
 * back. `--packed-seconds-per-hour N` packs each hour of the events into N seconds of event time
 * (scripts/hermes-workload.ts `packEvents`; at 1, 765 events per second of event time for 5,000 users;
 * at 0.0255, 30k, the target's rate, whose stream holds 60k events within the 2 s: here the whole
 * day fits in 0.6 s), as the embedded bench does with the same option; `outputsDigest`
 * (bench/decisions-outputs.ts) is the embedded bench's, key by key, when both modes wrote the same
 * decisions and suppressions. They do at 1 and denser (0.255, 0.1, 0.0255 checked), where the
 * day's events end before material-stats first publishes (`stats.publishIntervalMs`, 60 s of
 * event time); unpacked or at 10 they need not: Kafka applies the published stats to the
 * decisions when they arrive, embedded mode in timestamp order (test/kafka/decisions.kafka.test.ts,
 * which publishes none meanwhile).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import { loadConfig } from '../pipeline/config/load.ts'
import { KafkaAdmin } from '../pipeline/kafka/admin.ts'
import type { TopicSpec } from '../pipeline/kafka/admin.ts'
import { runKafka } from '../pipeline/kafka/run.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import { benchEvents, buildWorld, configRecords, eventTimeDensity } from '../scripts/hermes-workload.ts'
import { readTopics } from '../test/kafka/helpers.ts'
import materialStats from '../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../topologies/push-decisions.ts'
import { perKeyDigest } from './decisions-outputs.ts'
import { trackPeakRss } from './harness.ts'
import { parseSchedstat, schedShares } from './peer/scale-summary.ts'
import type { SchedTimes } from './peer/scale-summary.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '5000' },
    days: { type: 'string', default: '1' },
    'packed-seconds-per-hour': { type: 'string' },
    guarantee: { type: 'string', default: 'at_least_once' },
    'max-ahead-ms': { type: 'string' },
    'commit-interval-ms': { type: 'string' },
    'fetch-wait-ms': { type: 'string' },
    progress: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'rocksdb' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'json-out': { type: 'string' },
    'keep-topics': { type: 'boolean', default: false },
  },
})
const USERS = Number(args.users)
const DAYS = Number(args.days)
const PACKED = args['packed-seconds-per-hour'] === undefined ? undefined : Number(args['packed-seconds-per-hour'])
const GUARANTEE = args.guarantee as string
const BROKERS = (args.brokers as string).split(',')
const PARTITIONS = 4
const HOUR = 3_600_000
const DAY = 24 * HOUR
// The embedded bench's start: the same world, the same events.
const START = Date.UTC(2026, 10, 2)

const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
const topics = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [k, `${v}-${id}`])) as { [k in keyof typeof TOPICS]: string }
const settings = { topics, applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` } }
const dir = mkdtempSync(join(tmpdir(), 'hermes-decisions-kafka-'))
const config = loadConfig({
  dir: 'config',
  environment: {},
  overrides: {
    observability: { http: { enabled: false } },
    kafka: { brokers: BROKERS, ...(args['max-ahead-ms'] ? { maxAheadMs: Number(args['max-ahead-ms']) } : {}), ...(args['fetch-wait-ms'] ? { consumer: { maxWaitTimeMs: Number(args['fetch-wait-ms']) } } : {}) },
    runtime: { guarantee: GUARANTEE, stateDir: dir, stateBackend: args.backend, ...(args['commit-interval-ms'] ? { commitIntervalMs: Number(args['commit-interval-ms']) } : {}) },
    time: { idleTimeoutMs: 0 },
    topics: { defaultPartitions: PARTITIONS },
  },
})
const kafka = new Kafka({ clientId: 'hermes-decisions-bench', brokers: BROKERS, logLevel: logLevel.NOTHING })
const quiet = createLogger({ level: 'warn' })

/** A record to produce: key, JSON value, the time it carries. */
interface Out {
  key: string
  value: object
  ts: number
}

/** Creates the topic (with its cleanup, as the runner requires for configuration inputs) and produces the records. */
async function produce(spec: TopicSpec, records: readonly Out[]): Promise<void> {
  const admin = new KafkaAdmin(kafka, quiet, 1)
  await admin.connect()
  await admin.ensureTopics([spec]).finally(() => admin.disconnect())
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    for (let i = 0; i < records.length; i += 5000) {
      const messages = records.slice(i, i + 5000).map((r) => ({ key: r.key, value: JSON.stringify(r.value), timestamp: String(r.ts), partition: partitionFor(r.key, spec.partitions) }))
      await producer.send({ topic: spec.topic, messages })
    }
  } finally {
    await producer.disconnect()
  }
}

async function cleanup(): Promise<void> {
  if (args['keep-topics']) return
  const admin = kafka.admin()
  await admin.connect()
  try {
    const names = (await admin.listTopics()).filter((t) => t.includes(id))
    if (names.length) await admin.deleteTopics({ topics: names, timeout: 30_000 }).catch((e: Error) => process.stderr.write(`could not delete topics: ${e.message}\n`))
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(id))
    if (groups.length) await admin.deleteGroups(groups).catch(() => process.stderr.write(`could not delete groups ${groups.join(', ')}\n`))
  } finally {
    await admin.disconnect()
  }
}

try {
  const world = buildWorld({ users: USERS, seed: 7 })
  const config0 = configRecords(world, topics)
  const of = (topic: string, ts: (v: object) => number = () => 0): Out[] => config0.filter((r) => r.topic === topic).map((r) => ({ key: r.key, value: r.value, ts: ts(r.value) }))
  // As the Kafka decision test: materials (no time) and tasks (a day before the events, since
  // time.minTimestampMs refuses 0) on one partition each, broadcast topics being merged by time;
  // compacted, as the runner wants broadcast topics.
  await produce({ topic: topics.materials, partitions: 1, cleanup: 'compact' }, of(topics.materials))
  await produce({ topic: topics.tasks, partitions: 1, cleanup: 'compact' }, of(topics.tasks).map((r) => ({ ...r, value: { ...r.value, ts: START - DAY }, ts: START - DAY })))
  await produce({ topic: topics.users, partitions: PARTITIONS, cleanup: 'compact' }, of(topics.users))
  await produce({ topic: topics.audiences, partitions: PARTITIONS, cleanup: 'forever' }, of(topics.audiences))
  const generated = benchEvents(world, START, DAYS, PACKED)
  const events: Out[] = generated.map((e) => ({ key: e.userId as string, value: e, ts: e.ts as number }))
  await produce({ topic: topics.events, partitions: PARTITIONS }, events)

  const peakRss = trackPeakRss()
  const cpu0 = process.cpuUsage()
  // The main thread's own CPU time, as the embedded bench reports it (Node 22.19+; @types/node predates it).
  const threadCpu = (process as unknown as { threadCpuUsage(prev?: NodeJS.CpuUsage): NodeJS.CpuUsage }).threadCpuUsage.bind(process)
  const thread0 = threadCpu()
  // The main thread's time on a CPU, runnable without one, and asleep (waiting for the broker).
  const sched = (): SchedTimes | null => {
    try {
      return parseSchedstat(readFileSync(`/proc/${process.pid}/schedstat`, 'utf8'))
    } catch {
      return null // not Linux
    }
  }
  const sched0 = sched()
  const t0 = performance.now()
  const env = { settings }
  // --progress: a line every 10 s on stderr, since an exactly-once run can take many minutes here.
  let lastProgress = 0
  const onProgress = (p: { records: number; commits: number; elapsedMs: number }): void => {
    if (p.elapsedMs - lastProgress < 10_000) return
    lastProgress = p.elapsedMs
    process.stderr.write(`progress: ${Math.round(p.elapsedMs / 1000)} s, ${p.records} records processed, ${p.commits} commits\n`)
  }
  const stats = await runKafka({ topologies: [pushDecisions(env), materialStats(env)], config, logger: quiet, stopWhenIdleMs: 300, ...(args.progress ? { onProgress } : {}) })
  const seconds = (performance.now() - t0) / 1000
  const sched1 = sched()
  const thread = threadCpu(thread0)
  const cpu = process.cpuUsage(cpu0)
  const peakRssMiB = peakRss()

  const got = await readTopics([topics.decisions, topics.suppressions], { brokers: BROKERS, timeoutMs: 120_000 })
  const result = {
    benchmark: 'decision flow: push-decisions + material-stats, on Kafka',
    guarantee: GUARANTEE,
    maxAheadMs: config.kafka.maxAheadMs ?? null,
    commitIntervalMs: config.runtime.commitIntervalMs ?? null,
    fetchWaitMs: config.kafka.consumer.maxWaitTimeMs,
    backend: args.backend,
    users: USERS,
    days: DAYS,
    packedSecondsPerHour: PACKED ?? null,
    eventsPerSecondOfEventTime: eventTimeDensity(generated),
    behaviorEvents: events.length,
    recordsProcessed: stats.records,
    timersFired: stats.timersFired,
    commits: stats.commits,
    decisions: got.get(topics.decisions)?.length ?? 0,
    suppressions: got.get(topics.suppressions)?.length ?? 0,
    outputsDigest: { decisions: perKeyDigest(got.get(topics.decisions) ?? []), suppressions: perKeyDigest(got.get(topics.suppressions) ?? []) },
    runSeconds: +seconds.toFixed(2),
    eventsPerSecond: Math.round(events.length / seconds),
    cpuPercent: Math.round((cpu.user + cpu.system) / 1e4 / seconds),
    mainThreadCpuUsPerEvent: +((thread.user + thread.system) / events.length).toFixed(1),
    peakRssMiB,
    mainThread: sched0 && sched1 ? schedShares(sched0, sched1, seconds * 1000) : null,
    loadAverage: +(loadavg()[0] as number).toFixed(1),
    node: process.version,
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  if (args['json-out']) writeFileSync(args['json-out'], `${JSON.stringify(result, null, 2)}\n`)
} finally {
  await cleanup()
  rmSync(dir, { recursive: true, force: true })
}
