/**
 * Live event time on Kafka (issue 10, point 1), with the Hermes decision flow on the local broker:
 * - a held push goes out about `time.idleTimeoutMs` after its time with no further traffic (idle
 *   partitions follow the wall clock);
 * - failover keeps every `unless` cancellation: a task restored on the surviving instance starts
 *   from its own saved time, and its timers wait until its buffered records are processed.
 */
import { readFileSync } from 'node:fs'
import { Partitioners } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import type { Topology } from '../../pipeline/api/index.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import type { KafkaRunStats } from '../../pipeline/kafka/runner.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import type { Cleanup, EmbeddedInput } from './helpers.ts'
import { FAST, capturingLogger, createTopics, flowTopics, kafkaClient, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig, until } from './helpers.ts'

const MIN = 60_000
const DAY = 24 * 60 * MIN
const jsonl = (xs: readonly object[]): string[] => xs.map((x) => JSON.stringify(x))

/** The flow with no quiet hours and no arbitration wait, so that a push goes out at its own time. */
function flow(id: string) {
  const topics = flowTopics(id)
  const settings = { topics, applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` }, fatigue: { quietStartHour: 0, quietEndHour: 0, arbitrationWindowMs: 0, minGapMs: 0 } }
  return { topics, settings, topology: (): Topology => pushDecisions({ settings }) }
}

const material = { materialId: 'm3', title: 'Still thinking?', body: 'Your cart is waiting', deeplink: 'app://cart', segments: [], prior: { alpha: 2, beta: 20 }, status: 'active' }
const cartTask = (delayMs: number, ts: number) => ({ taskId: 'cart', status: 'active', priority: 20, channel: 'push', trigger: { type: 'event', events: ['add_to_cart'], delayMs, unless: { events: ['purchase'], withinMs: delayMs } }, materials: ['m3'], ts })


/** Records the decisions sink of a runner has written so far (processed, not necessarily committed). */
function decisionsMade(runner: KafkaRunner, topic: string): number {
  let n = 0
  for (const a of runner.apps) {
    const sink = a.app.plan.topology.nodes.find((x) => x.kind === 'sink' && x.topic === topic)
    if (!sink) continue
    for (const t of a.app.tasks) n += t.stats.get(sink.id)?.out ?? 0
  }
  return n
}

/** Users whose key falls on `partition` of `partitions`. */
function usersOn(partition: number, partitions: number, prefix: string, n: number): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) if (partitionFor(`${prefix}${i}`, partitions) === partition) out.push(`${prefix}${i}`)
  return out
}

/**
 * Produces lines as a standard client does: keyed by the field, partitioned by murmur2, and with
 * no timestamp of its own (the producer's wall clock) unless the line has a `ts`.
 */
async function produceAsClient(input: EmbeddedInput & { cleanup?: Cleanup }): Promise<void> {
  const partitions = input.partitions ?? 1
  await createTopics([{ topic: input.topic, partitions, ...(input.cleanup ? { cleanup: input.cleanup } : {}) }])
  const producer = kafkaClient().producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const messages = input.lines.map((line) => {
    const v = JSON.parse(line) as { [k: string]: unknown }
    const key = String(v[input.keyField])
    return { key, value: line, partition: partitionFor(key, partitions), ...(typeof v.ts === 'number' ? { timestamp: String(v.ts) } : {}) }
  })
  await producer.send({ topic: input.topic, messages })
  await producer.disconnect()
}

const runners: KafkaRunner[] = []
afterEach(async () => {
  for (const r of runners.splice(0)) {
    r.stop()
    await r.close().catch(() => {})
  }
})

describe('live event time on Kafka (real broker)', () => {
  it('sends a delayed push about idleTimeoutMs after its time with no further traffic (idle partitions follow the wall clock)', async () => {
    const id = runId()
    const { topics, settings, topology } = flow(id)
    const now = Date.now()
    await produceLines(topics.materials, jsonl([material]), { partitions: 1, keyField: 'materialId' })
    await produceLines(topics.tasks, jsonl([cartTask(3000, now - DAY)]), { partitions: 1, keyField: 'taskId' })
    const { logger, lines } = capturingLogger('info')
    const config = testConfig({ time: { idleTimeoutMs: 500 }, topics: { defaultPartitions: 2 } })
    const runner = await KafkaRunner.open({ topologies: [topology()], config, logger, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    runners.push(runner)
    const done: Promise<KafkaRunStats> = runner.run()
    await until(() => runner.readiness().ready, 'the runner to be ready', 60_000)
    // One event dated now, and nothing after it.
    const ts = Date.now()
    await produceLines(topics.events, jsonl([{ eventId: `cart-${id}`, userId: 'u1', type: 'add_to_cart', ts, itemId: 'sku-1' }]), { partitions: 2, keyField: 'userId' })
    await until(() => decisionsMade(runner, topics.decisions) > 0, 'the delayed push', 60_000)
    const madeAt = Date.now()
    runner.stop()
    await done
    const got = (await readTopics([topics.decisions])).get(topics.decisions) ?? []
    expect(got).toHaveLength(1)
    const d = JSON.parse((got[0] as { value: string }).value) as { taskId: string; sendAt: number; decidedAt: number; userId: string }
    expect(d.taskId).toBe('cart')
    expect(d.userId).toBe('u1')
    expect(d.sendAt).toBe(ts + 3000)
    expect(Number.isInteger(d.sendAt)).toBe(true)
    expect(Number.isInteger(d.decidedAt)).toBe(true)
    // Not a timed assertion: the figure goes to the log (expected: about idleTimeoutMs, 500 ms).
    console.log(`live push made ${madeAt - d.sendAt} ms after its sendAt (time.idleTimeoutMs: 500)`)
    expect(madeAt).toBeGreaterThanOrEqual(d.sendAt)
    const follows = lines.filter((l) => l.msg === 'event time follows the wall clock: every input partition caught up')
    expect(follows.length).toBeGreaterThanOrEqual(1)
    // Once per transition, not once per step of the idle loop.
    expect(follows.length).toBeLessThanOrEqual(lines.filter((l) => l.msg === 'event time stops following the wall clock: records to process').length + 1)
  })

  it('keeps every unless cancellation of a task restored on the surviving instance (its timers wait for its buffered purchases)', async () => {
    const id = runId()
    const { topics, settings, topology } = flow(id)
    const PARTITIONS = 2
    const config = testConfig({ topics: { defaultPartitions: PARTITIONS } })
    const T0 = Date.now() - 3 * DAY
    const DELAY = 10 * MIN
    await produceLines(topics.materials, jsonl([material]), { partitions: 1, keyField: 'materialId' })
    await produceLines(topics.tasks, jsonl([cartTask(DELAY, T0 - DAY)]), { partitions: 1, keyField: 'taskId' })
    const open = async (): Promise<KafkaRunner> => {
      const r = await KafkaRunner.open({ topologies: [topology()], config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
      runners.push(r)
      return r
    }
    const a = await open()
    const aRun = a.run()
    const b = await open()
    const bRun = b.run()
    const partitionsOf = (r: KafkaRunner): number[] => [...new Set(r.apps[0]?.app.tasks.map((t) => t.partition) ?? [])]
    await until(() => a.readiness().ready && b.readiness().ready && partitionsOf(a).length === 1 && partitionsOf(b).length === 1, 'one partition on each instance', 60_000)
    const pb = partitionsOf(b)[0] as number
    const pa = partitionsOf(a)[0] as number
    const onB = usersOn(pb, PARTITIONS, 'b', 8)
    const onA = usersOn(pa, PARTITIONS, 'a', 1)
    // B reads carts; A reads one cart that nobody cancels (the control) and, later, events far ahead.
    const carts = onB.map((u, i) => ({ eventId: `cart-${u}`, userId: u, type: 'add_to_cart', ts: T0 + i * 1000, itemId: 'sku-1' }))
    await produceLines(topics.events, jsonl([...carts, { eventId: `cart-${onA[0]}`, userId: onA[0], type: 'add_to_cart', ts: T0, itemId: 'sku-2' }]), { partitions: PARTITIONS, keyField: 'userId' })
    const ahead = { eventId: `open-${onA[0]}`, userId: onA[0], type: 'app_open', ts: T0 + 10 * DELAY }
    await produceLines(topics.events, jsonl([ahead]), { partitions: PARTITIONS, keyField: 'userId' })
    // A is far ahead (its control push went out); B has read its carts and committed them.
    await until(() => decisionsMade(a, topics.decisions) === 1, "A's control push", 60_000)
    const bTasks = (): number => b.apps[0]?.app.tasks.reduce((n, t) => n + (t.stats.get('behavior-events')?.in ?? 0), 0) ?? 0
    await until(() => bTasks() >= onB.length, 'B to read its carts', 60_000)
    b.stop()
    await bRun
    // Purchases within the delay, once B has stopped processing but before it leaves the group:
    // the survivor restores B's task and finds them in its partition. Produced after B left, they
    // raced A's takeover: when A read the partition's end before they were written, the restored
    // partition was caught up at once, followed A's clock (far ahead) and fired every cart timer,
    // which is what a live partition with no records does (1 fresh-clone run in 5 failed so).
    const purchases = onB.map((u, i) => ({ eventId: `buy-${u}`, userId: u, type: 'purchase', ts: T0 + i * 1000 + DELAY / 2, itemId: 'sku-1' }))
    await produceLines(topics.events, jsonl(purchases), { partitions: PARTITIONS, keyField: 'userId' })
    await b.close()
    await until(() => partitionsOf(a).length === 2, 'A to take over B\'s partition', 90_000)
    const processedOnB = (): number => a.apps[0]?.app.tasks.filter((t) => t.partition === pb).reduce((n, t) => n + (t.stats.get('behavior-events')?.in ?? 0), 0) ?? 0
    await until(() => processedOnB() >= purchases.length, "A to read B's purchases", 90_000)
    // One more event on A's own partition, far ahead again: time moves everywhere.
    await produceLines(topics.events, jsonl([{ ...ahead, eventId: `open2-${onA[0]}`, ts: T0 + 20 * DELAY }]), { partitions: PARTITIONS, keyField: 'userId' })
    await until(() => (a.apps[0]?.app.watermark() ?? -Infinity) >= T0 + 20 * DELAY - config.time.maxOutOfOrdernessMs, 'time to pass every cart timer', 60_000)
    a.stop()
    await aRun
    const got = (await readTopics([topics.decisions])).get(topics.decisions) ?? []
    const decisions = got.map((r) => JSON.parse(r.value) as { userId: string; taskId: string })
    // Only the control push: every cart on B's partition was cancelled by its purchase.
    expect(decisions.map((d) => d.userId).sort()).toEqual([onA[0]])
  })

  it('replays docs/examples with configuration published at wall-clock time and gives the 5 decisions of embedded mode (configuration never moves time)', async () => {
    const id = runId()
    const { topics, topology } = flow(id)
    const PARTITIONS = 2
    const lines = (file: string): string[] => readFileSync(`docs/examples/${file}`, 'utf8').split('\n').filter((l) => l.trim() !== '')
    const inputs: EmbeddedInput[] = [
      { topic: topics.materials, lines: lines('materials.jsonl'), keyField: 'materialId', partitions: 1 },
      { topic: topics.tasks, lines: lines('tasks.jsonl'), keyField: 'taskId', partitions: 1 },
      { topic: topics.users, lines: lines('users.jsonl'), keyField: 'userId', partitions: PARTITIONS },
      { topic: topics.audiences, lines: lines('audiences.jsonl'), keyField: 'userId', partitions: PARTITIONS },
      { topic: topics.events, lines: lines('events.jsonl'), keyField: 'userId', partitions: PARTITIONS },
    ]
    // The settings of docs/examples: the defaults (quiet hours, arbitration), not flow()'s.
    const settings = { topics, applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` } }
    void topology
    const config = testConfig({ topics: { defaultPartitions: PARTITIONS } })
    const embedded = (await runEmbeddedReference([pushDecisions({ settings })], config, inputs)).get(topics.decisions) ?? []
    expect(embedded).toHaveLength(5)
    // Users and audiences as a producer publishes them: without a time, stamped with the wall clock.
    // Profiles compacted, memberships kept forever: as the runner creates (and requires) them.
    const cleanup = new Map<string, Cleanup>([[topics.users, 'compact'], [topics.audiences, 'forever']])
    for (const i of inputs) await produceAsClient({ ...i, ...(cleanup.has(i.topic) ? { cleanup: cleanup.get(i.topic) } : {}) })
    const runner = await KafkaRunner.open({ topologies: [pushDecisions({ settings })], config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    runners.push(runner)
    await runner.run({ stopWhenIdleMs: 500 })
    const got = (await readTopics([topics.decisions])).get(topics.decisions) ?? []
    expect(perKey(got)).toEqual(perKey(embedded))
  })
})
