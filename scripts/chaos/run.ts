/**
 * A fault run you can repeat: `npx tsx scripts/chaos/run.ts --seed 42 [--events 30000] [--kills 10] [--guarantee exactly_once_v2]`.
 *
 * On a Kafka broker of its own (port 29092 by default, data under /tmp/hermes-chaos-<seed>), with
 * exactly-once, it runs the decision flow (push-decisions and material-stats, as `hermes run` runs
 * them) twice over the same seeded input: a crash-free reference, then a fault run in which a steady
 * producer sends the events while the instance is SIGKILLed at seeded moments, the broker restarts
 * once, and the work fails over to a second instance and back. It then reads both runs'
 * push-decisions and push-suppressions (read_committed) and compares them record by record.
 * Exit 0: equal; 1: something lost, duplicated, different or extra; 2: the run itself failed.
 * See docs/chaos.md.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { readTopicFromKafka } from '../../pipeline/kafka/topic-io.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import type { BrokerOptions } from './broker.ts'
import { brokerList, startBroker, stopBroker } from './broker.ts'
import { compareRecords, decisionIdentity, suppressionIdentity } from './compare.ts'
import type { ReadRecord } from './compare.ts'
import { phaseApplications, phaseConfig, phaseTopics } from './flow-config.ts'
import { groupMembers, waitFor } from './group.ts'
import type { Instance } from './process.ts'
import { killInstances, sleep, startInstance } from './process.ts'
import { SteadyProducer } from './producer.ts'
import type { OutgoingRecord } from './producer.ts'
import type { RunOutputs } from './report.ts'
import { verdict } from './report.ts'
import { describeStep, faultSchedule } from './schedule.ts'
import type { FaultStep } from './schedule.ts'
import { chaosInput } from './world.ts'

const PARTITIONS = 4
const INSTANCE = join('scripts', 'chaos', 'instance.ts')
const quiet = createLogger({ level: 'silent' })

interface Options {
  seed: number
  events: number
  users: number
  rate: number
  kills: number
  brokerRestarts: number
  port: number
  controllerPort: number
  dir: string
  keep: boolean
  /** Log level of the instances (their logs are kept per life). */
  logLevel: string
  guarantee: 'exactly_once' | 'exactly_once_v2'
}

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a whole number, got "${v}"`)
  return Number(v)
}

function parseOptions(argv: string[]): Options {
  const program = new Command('chaos')
    .description('fault run: SIGKILLs, a broker restart and a failover, compared with a crash-free run (docs/chaos.md)')
    .option('--seed <n>', 'seed of the input and the fault schedule (default: random, printed)', int('seed'))
    .option('--events <n>', 'behavior events (a simulated day)', int('events'), 4000)
    .option('--users <n>', 'users', int('users'), 400)
    .option('--rate <n>', 'events per second the producer sends during the fault run', int('rate'), 40)
    .option('--kills <n>', 'SIGKILLs of the running instance', int('kills'), 10)
    .option('--broker-restarts <n>', 'broker restarts (more than one: to look for a stall after a restart)', int('broker-restarts'), 1)
    .option('--port <n>', 'port of the chaos broker (never the shared 9092)', int('port'), 29_092)
    .option('--controller-port <n>', 'controller port of the chaos broker', int('controller-port'), 39_092)
    .option('--dir <dir>', 'work directory: broker data, state, logs, report (default /tmp/hermes-chaos-<seed>)')
    .option('--keep', 'keep the broker data and the state directories at the end')
    .option('--log-level <level>', 'log level of the Hermes instances (their logs: <dir>/logs)', 'warn')
    .addOption(new Option('--guarantee <g>', 'exactly-once protocol of every instance, reference included').choices(['exactly_once', 'exactly_once_v2']).default('exactly_once'))
    .parse(argv)
  const o = program.opts<Partial<Options> & { dir?: string }>()
  const seed = o.seed ?? randomBytes(4).readUInt32BE(0)
  if (o.port === 9092) throw new Error('--port 9092 is the shared broker; the chaos run needs one of its own')
  return { seed, events: o.events as number, users: o.users as number, rate: o.rate as number, kills: o.kills as number, brokerRestarts: o.brokerRestarts as number, port: o.port as number, controllerPort: o.controllerPort as number, dir: o.dir ?? `/tmp/hermes-chaos-${seed}`, keep: o.keep === true, logLevel: o.logLevel ?? 'warn', guarantee: o.guarantee ?? 'exactly_once' }
}

const t0 = Date.now()
const say = (line: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)

/** Creates a phase's input topics as the runner requires them (memberships kept forever, profiles compacted). */
async function createInputs(kafka: Kafka, phase: string): Promise<void> {
  const t = phaseTopics(phase)
  const admin = new KafkaAdmin(kafka, quiet, 1)
  await admin.connect()
  try {
    await admin.ensureTopics([
      { topic: t.events, partitions: PARTITIONS },
      { topic: t.users, partitions: PARTITIONS, cleanup: 'compact' },
      { topic: t.audiences, partitions: PARTITIONS, cleanup: 'forever' },
      // One partition each: the tasks come after the materials they name.
      { topic: t.materials, partitions: 1, cleanup: 'compact' },
      { topic: t.tasks, partitions: 1, cleanup: 'compact' },
    ])
  } finally {
    await admin.disconnect()
  }
}

/** Produces the configuration records of a phase, keyed and partitioned as Hermes reads them. */
async function produceConfig(kafka: Kafka, records: ReturnType<typeof chaosInput>['config']): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    const partitions = (topic: string): number => (topic.startsWith('config.materials') || topic.startsWith('config.tasks') ? 1 : PARTITIONS)
    for (let i = 0; i < records.length; i += 500) {
      await producer.sendBatch({
        topicMessages: records.slice(i, i + 500).map((r) => ({ topic: r.topic, messages: [{ key: r.key, value: JSON.stringify(r.value), timestamp: String(r.ts), partition: partitionFor(r.key, partitions(r.topic)) }] })),
      })
    }
  } finally {
    await producer.disconnect()
  }
}

/** Input offsets the group has committed, summed over partitions (-1 while unknown). */
async function committedInput(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [rows] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return (rows?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
  } finally {
    await admin.disconnect()
  }
}

/** The end of a topic (high watermarks), summed over partitions. */
async function inputEnd(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

/** The instance's exit code, or an error after `ms` (the instance is then SIGKILLed). */
async function exitWithin(i: Instance, ms: number, what: string): Promise<number | null> {
  const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), ms).unref())
  const code = await Promise.race([i.exited, timer])
  if (code === 'late') {
    i.child.kill('SIGKILL')
    throw new Error(`${what} did not finish within ${ms / 1000} s; its last output:\n${i.stderr().slice(-2000)}`)
  }
  return code
}

/** Reads a phase's decisions, suppressions and dead letters, read_committed. */
async function readOutputs(o: Options, phase: string): Promise<RunOutputs> {
  const config = phaseConfig({ phase, brokers: brokerList(brokerOf(o)), stateDir: join(o.dir, phase), guarantee: o.guarantee })
  const t = phaseTopics(phase)
  const apps = phaseApplications(phase)
  const read = async (topic: string): Promise<ReadRecord[]> =>
    (await readTopicFromKafka({ config, logger: quiet, topic, missingOk: true, timeoutMs: 120_000 })).map((r) => ({ value: r.value?.toString() ?? 'null' }))
  const dlq = (await read(`${apps.decisions}.dlq`)).length + (await read(`${apps.stats}.dlq`)).length
  return { decisions: await read(t.decisions), suppressions: await read(t.suppressions), deadLetters: dlq }
}

const brokerOf = (o: Options): BrokerOptions => ({ port: o.port, controllerPort: o.controllerPort, dataDir: join(o.dir, 'kafka') })

/** The events of the run as records to produce (the same for both phases: keys decide partitions). */
function eventRecords(input: ReturnType<typeof chaosInput>): OutgoingRecord[] {
  return input.events.map((e) => ({ key: e.userId, value: JSON.stringify(e), ts: e.ts }))
}

/** The crash-free reference: everything produced first, then one instance until idle. */
async function referenceRun(o: Options, kafka: Kafka): Promise<void> {
  const input = chaosInput({ seed: o.seed, users: o.users, events: o.events, topics: phaseTopics('ref') })
  await createInputs(kafka, 'ref')
  await produceConfig(kafka, input.config)
  await new SteadyProducer(kafka, { topic: phaseTopics('ref').events, partitions: PARTITIONS, records: eventRecords(input), perSecond: 20_000 }).run()
  say(`reference: ${input.config.length} configuration records and ${input.events.length} events produced; one instance runs until idle`)
  const one = startInstance({ script: INSTANCE, options: { phase: 'ref', brokers: brokerList(brokerOf(o)), stateDir: join(o.dir, 'ref'), logLevel: o.logLevel, guarantee: o.guarantee, stopWhenIdleMs: 3000 }, logFile: join(o.dir, 'logs', 'ref.log') })
  const code = await exitWithin(one, 600_000, 'the reference run')
  if (code !== 0) throw new Error(`the reference instance exited with ${code}:\n${one.stderr().slice(-2000)}`)
  say(`reference: done, ${one.progress()} records processed`)
}

/** The fault run: a steady producer while the schedule kills, restarts and fails over. */
async function faultRun(o: Options, kafka: Kafka, steps: readonly FaultStep[], notes: string[], faults: { kills: number; brokerRestarts: number; failovers: number }): Promise<void> {
  const input = chaosInput({ seed: o.seed, users: o.users, events: o.events, topics: phaseTopics('fault') })
  await createInputs(kafka, 'fault')
  await produceConfig(kafka, input.config)
  const producer = new SteadyProducer(kafka, { topic: phaseTopics('fault').events, partitions: PARTITIONS, records: eventRecords(input), perSecond: o.rate })
  const producing = producer.run()
  producing.catch(() => {})
  const group = phaseApplications('fault').decisions
  const eventsTopic = phaseTopics('fault').events
  const members = () => groupMembers(kafka, group, eventsTopic)
  let lives = 0
  const stopping = new Set<Instance>()
  const start = (name: 'a' | 'b'): Instance => {
    const i = startInstance({ script: INSTANCE, options: { phase: 'fault', brokers: brokerList(brokerOf(o)), stateDir: join(o.dir, `fault-${name}`), logLevel: o.logLevel, guarantee: o.guarantee }, logFile: join(o.dir, 'logs', `fault-${name}-${++lives}.log`) })
    // An instance that ends without being told to is a finding, whatever the schedule does next.
    void i.exited.then((code) => {
      if (code !== null && !stopping.has(i)) notes.push(`instance ${name} (life ${lives}) exited on its own with ${code}: ${i.stderr().slice(-300)}`)
    })
    return i
  }
  const kill = async (i: Instance): Promise<void> => {
    stopping.add(i)
    i.child.kill('SIGKILL')
    await i.exited
    faults.kills++
  }
  const stop = async (i: Instance, name: string): Promise<void> => {
    stopping.add(i)
    i.child.kill('SIGTERM')
    const code = await exitWithin(i, 120_000, `stopping ${name}`)
    if (code !== 0) notes.push(`instance ${name} exited with ${code} on SIGTERM: ${i.stderr().slice(-300)}`)
  }
  let a: Instance | null = null
  const alive = (i: Instance | null): boolean => i !== null && i.child.exitCode === null && i.child.signalCode === null
  for (const [n, step] of steps.entries()) {
    if (!a || !alive(a)) a = start('a')
    say(`step ${n + 1}/${steps.length}: ${describeStep(step)} (${producer.sent} events sent)`)
    if (step.kind === 'kill') {
      // The life is counted from its first processed records, so that on a slow machine the kill
      // still lands mid-processing; an instance with nothing left to do is killed after a minute.
      // A life that never gets there is a finding (a start-up that hangs), not only a slow one.
      await waitFor('A processing', async () => (a ? a.progress() : 0), (n) => n > 0, 60_000).catch(() => notes.push(`A (life ${lives}) reported no progress within 60 s of its start`))
      await sleep(step.lifeMs)
      const done = a.progress()
      await kill(a)
      say(`  killed A (${done} records reported in that life)`)
    } else if (step.kind === 'broker-restart') {
      // The broker goes down under a running instance, not one still starting (a start-up that
      // cannot reach Kafka fails, and a supervisor restarts it: see below).
      await waitFor('A processing', async () => a?.progress() ?? 0, (n) => n > 0, 300_000).catch(() => notes.push('A reported no progress before the broker restart'))
      await sleep(step.afterMs)
      await producer.pause()
      const before = await committedInput(kafka, group, eventsTopic)
      // Everything sent may be committed already (the producer is done, the instance caught up):
      // then no commit is due after the restart, and none is waited for.
      const sentEnd = await inputEnd(kafka, eventsTopic)
      await stopBroker(brokerOf(o))
      say('  broker stopped')
      await startBroker(brokerOf(o), true)
      faults.brokerRestarts++
      producer.resume()
      const back = Date.now()
      say('  broker started again on its data')
      // As a supervisor would: an instance that gave up while the broker was away is started again.
      if (!alive(a)) {
        notes.push(`A ended (exit code ${a.child.exitCode}, signal ${a.child.signalCode}) while the broker was away, and was started again`)
        a = start('a')
      }
      // Hermes must commit again by itself (the producer has sent more by now), unless it had
      // committed every event before the restart and none came since.
      if (before >= sentEnd && producer.sent >= input.events.length) {
        say(`  nothing left to commit: all ${before} events were committed before the restart`)
      } else {
        await waitFor('a commit after the broker restart', () => committedInput(kafka, group, eventsTopic), (n) => n > before, 180_000).then(
          () => say(`  A committed again ${Date.now() - back} ms after the broker was back`),
          () => notes.push(`no commit of ${group} within 180 s after the broker restart (${before} of ${sentEnd} events committed before it)`),
        )
      }
      await sleep(step.thenMs)
    } else {
      const b = start('b')
      await waitFor('A and B sharing the partitions', members, (m) => m.length === 2 && m.every((p) => p.length > 0), 120_000)
      await sleep(step.sharedMs)
      await kill(a)
      const alone = await waitFor('B holding every partition', members, (m) => m.length === 1 && m[0]?.length === PARTITIONS, 120_000)
      say(`  A killed; B holds partitions ${JSON.stringify(alone[0])}`)
      await sleep(step.aloneMs)
      a = start('a')
      await waitFor('A back, sharing with B', members, (m) => m.length === 2 && m.every((p) => p.length > 0), 120_000)
      await sleep(step.backMs)
      await stop(b, 'B')
      faults.failovers++
      say('  A back; B stopped')
    }
  }
  await producing
  say(`fault run: all ${producer.sent} events sent; stopping A and draining`)
  if (a && alive(a)) await stop(a, 'A')
  const drain = startInstance({ script: INSTANCE, options: { phase: 'fault', brokers: brokerList(brokerOf(o)), stateDir: join(o.dir, 'fault-a'), logLevel: o.logLevel, guarantee: o.guarantee, stopWhenIdleMs: 3000 }, logFile: join(o.dir, 'logs', 'fault-drain.log') })
  const code = await exitWithin(drain, 600_000, 'the drain')
  if (code !== 0) throw new Error(`the draining instance exited with ${code}:\n${drain.stderr().slice(-2000)}`)
}

async function main(): Promise<number> {
  let o: Options
  try {
    o = parseOptions(process.argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const replay = `npx tsx scripts/chaos/run.ts --seed ${o.seed} --events ${o.events} --users ${o.users} --rate ${o.rate} --kills ${o.kills}${o.brokerRestarts === 1 ? '' : ` --broker-restarts ${o.brokerRestarts}`}${o.guarantee === 'exactly_once' ? '' : ` --guarantee ${o.guarantee}`}`
  const steps = faultSchedule(o.seed, { kills: o.kills, brokerRestarts: o.brokerRestarts })
  say(`chaos run: seed ${o.seed}; ${o.events} events of ${o.users} users, ${o.rate}/s; work dir ${o.dir}`)
  for (const [n, s] of steps.entries()) say(`  plan ${n + 1}: ${describeStep(s)}`)
  rmSync(o.dir, { recursive: true, force: true })
  mkdirSync(join(o.dir, 'logs'), { recursive: true })
  const broker = brokerOf(o)
  const notes: string[] = []
  try {
    await startBroker(broker)
    say(`broker up on ${brokerList(broker).join(',')}`)
    const kafka = new Kafka({ clientId: 'hermes-chaos', brokers: brokerList(broker), logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 } })
    await referenceRun(o, kafka)
    const faults = { kills: 0, brokerRestarts: 0, failovers: 0 }
    await faultRun(o, kafka, steps, notes, faults)
    say(`faults: ${faults.kills} SIGKILLs, ${faults.brokerRestarts} broker restart(s), ${faults.failovers} failover(s) and back`)
    const reference = await readOutputs(o, 'ref')
    const fault = await readOutputs(o, 'fault')
    const decisions = compareRecords(reference.decisions, fault.decisions, decisionIdentity)
    const suppressions = compareRecords(reference.suppressions, fault.suppressions, suppressionIdentity)
    const v = verdict({ seed: o.seed, replay, reference, fault, decisions, suppressions, notes })
    writeFileSync(join(o.dir, 'report.json'), `${JSON.stringify({ seed: o.seed, replay, steps, faults, notes, decisions, suppressions }, null, 1)}\n`)
    for (const line of v.lines) say(line)
    say(`full report: ${join(o.dir, 'report.json')}; instance logs: ${join(o.dir, 'logs')}`)
    return v.ok ? 0 : 1
  } catch (err) {
    say(`the chaos run failed (not a verdict): ${(err as Error).stack ?? String(err)}`)
    say(`replay: ${replay}`)
    return 2
  } finally {
    killInstances()
    await stopBroker(broker, { kill: true, clean: !o.keep }).catch((err: unknown) => say(`stopping the chaos broker failed: ${String(err)}`))
    if (!o.keep) for (const d of ['ref', 'fault-a', 'fault-b']) rmSync(join(o.dir, d), { recursive: true, force: true })
  }
}

process.exitCode = await main()
