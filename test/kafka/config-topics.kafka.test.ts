/**
 * Configuration topics on a real broker: created compacted (or kept forever), existing ones with
 * another policy refused at start-up, and a restart with new state after the broker's cleaner has
 * compacted a configuration topic makes the same decisions as before.
 */
import { ConfigResourceTypes, Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { TopologyBuilder, broadcastStore, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { produceToKafka } from '../../pipeline/kafka/topic-io.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { FAST, capturingLogger, createTopics, kafkaClient, perKey, produceLines, readTopics, runId, silent, testConfig } from './helpers.ts'
import type { Event, Rule } from './topology.ts'
import { gate, testEvents } from './topology.ts'

function topology(app: string, t: { rules: string; audiences: string; events: string; out: string }) {
  const b = new TopologyBuilder(app)
  const rules = b.broadcast<Rule>('rules', { topic: t.rules, serde: jsonObjectSerde<Rule>(), keyField: 'type' })
  const events = b.source<Event>('events', { topic: t.events, serde: jsonObjectSerde<Event>(), keyField: 'userId', timestampField: 'ts' })
  const audiences = b.source<Event>('audiences', { topic: t.audiences, serde: jsonObjectSerde<Event>(), keyField: 'userId', timestampField: 'ts' })
  events.merge('both', audiences).connect(rules).process('gate', gate, { broadcastStores: { rules: broadcastStore() } }).to('out', { topic: t.out, serde: jsonSerde() })
  return b.build()
}

function names(id: string) {
  return { rules: `cfg-rules-${id}`, audiences: `cfg-aud-${id}`, events: `cfg-events-${id}`, out: `cfg-out-${id}` }
}

function configFor(t: ReturnType<typeof names>): HermesConfig {
  return testConfig({ topics: { overrides: { [t.rules]: { cleanup: 'compact' }, [t.audiences]: { cleanup: 'forever' } } } })
}

async function describeTopic(topic: string): Promise<{ [name: string]: string }> {
  const admin = kafkaClient().admin()
  await admin.connect()
  try {
    const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] })
    return Object.fromEntries((res.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]))
  } finally {
    await admin.disconnect()
  }
}

/** Replaces a topic's settings (AlterConfigs sets them all: what is left out returns to the default). */
async function setTopicConfig(topic: string, configs: { [name: string]: string }): Promise<void> {
  const admin = kafkaClient().admin()
  await admin.connect()
  try {
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }] })
  } finally {
    await admin.disconnect()
  }
}

async function createTopicWith(topic: string, configs: { [name: string]: string }, partitions = 1): Promise<void> {
  const admin = kafkaClient().admin()
  await admin.connect()
  try {
    await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }] })
  } finally {
    await admin.disconnect()
  }
  await createTopics([{ topic, partitions }])
}

const open = (app: string, t: ReturnType<typeof names>) => KafkaRunner.open({ topologies: [topology(app, t)], config: configFor(t), logger: silent, state: { kind: 'memory', maps: new Map() }, timings: FAST })

describe('configuration topics (real broker)', () => {
  it('are created compacted, or kept forever (config.audiences: several records per key)', async () => {
    const t = names(runId())
    const runner = await open(`cfg-a-${runId()}`, t)
    await runner.close()
    const rules = await describeTopic(t.rules)
    expect(rules['cleanup.policy']).toBe('compact')
    const audiences = await describeTopic(t.audiences)
    expect(audiences['cleanup.policy']).toBe('delete')
    expect(audiences['retention.ms']).toBe('-1')
    expect(audiences['retention.bytes']).toBe('-1')
    // Topics without a cleanup setting keep the broker's policy.
    expect((await describeTopic(t.events))['cleanup.policy']).toBe('delete')
  })

  it('hermes produce creates a configuration topic as the runner would (compacted, or kept forever), so the runner accepts it afterwards', async () => {
    const t = names(runId())
    const config = configFor(t)
    await produceToKafka({ config, logger: silent, topic: t.rules, lines: [JSON.stringify({ type: 'view', enabled: true })], keyField: 'type', timeField: 'ts' })
    await produceToKafka({ config, logger: silent, topic: t.audiences, lines: [JSON.stringify({ userId: 'u1', ts: 1 })], keyField: 'userId', timeField: 'ts' })
    expect((await describeTopic(t.rules))['cleanup.policy']).toBe('compact')
    expect((await describeTopic(t.audiences))['retention.ms']).toBe('-1')
    const runner = await open(`cfg-p-${runId()}`, t)
    await runner.close()
  })

  it('the decision flow declares its configuration inputs, so renamed users and audiences topics are created compacted and kept forever', async () => {
    const id = runId()
    const topics = { events: `ev-${id}`, audiences: `aud-${id}`, users: `usr-${id}`, tasks: `tsk-${id}`, materials: `mat-${id}`, stats: `sts-${id}`, decisions: `dec-${id}`, suppressions: `sup-${id}` }
    const settings = { topics, applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` } }
    const runner = await KafkaRunner.open({ topologies: [pushDecisions({ settings }), materialStats({ settings })], config: testConfig(), logger: silent, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    await runner.close()
    expect((await describeTopic(topics.users))['cleanup.policy']).toBe('compact')
    const audiences = await describeTopic(topics.audiences)
    expect([audiences['cleanup.policy'], audiences['retention.ms'], audiences['retention.bytes']]).toEqual(['delete', '-1', '-1'])
    for (const t of [topics.tasks, topics.materials, topics.stats]) expect((await describeTopic(t))['cleanup.policy']).toBe('compact')
    expect((await describeTopic(topics.events))['cleanup.policy']).toBe('delete')
  })

  it('creates a broadcast topic compacted whatever it is called (renamed, no overrides entry), and only warns about an existing one that is not', async () => {
    const t = names(runId())
    const plain = testConfig()
    const runner = await KafkaRunner.open({ topologies: [topology(`cfg-r-${runId()}`, t)], config: plain, logger: silent, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    await runner.close()
    expect((await describeTopic(t.rules))['cleanup.policy']).toBe('compact')
    expect((await describeTopic(t.audiences))['cleanup.policy']).toBe('delete')

    const u = names(runId())
    await createTopicWith(u.rules, { 'cleanup.policy': 'delete' })
    const { logger, lines } = capturingLogger('warn')
    const started = await KafkaRunner.open({ topologies: [topology(`cfg-w-${runId()}`, u)], config: plain, logger, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    await started.close()
    const warning = lines.find((l) => l.topic === u.rules && typeof l.msg === 'string' && l.msg.startsWith('broadcast topic is not compacted'))
    expect(warning?.fix).toBe(`kafka-configs.sh --bootstrap-server 127.0.0.1:9092 --alter --entity-type topics --entity-name ${u.rules} --add-config cleanup.policy=compact`)
  })

  it('refuses to start when an existing one has cleanup.policy=delete, naming the topic and the command that fixes it', async () => {
    const t = names(runId())
    await createTopicWith(t.rules, { 'cleanup.policy': 'delete', 'retention.ms': '604800000' })
    const error = await open(`cfg-b-${runId()}`, t).then(
      async (r) => {
        await r.close()
        return null
      },
      (err: unknown) => err as Error & { code?: string },
    )
    expect(error?.code).toBe('CONFIG_INVALID')
    expect(error?.message).toContain(`topic ${t.rules} has cleanup.policy=delete`)
    expect(error?.message).toContain(`kafka-configs.sh --bootstrap-server 127.0.0.1:9092 --alter --entity-type topics --entity-name ${t.rules} --add-config cleanup.policy=compact`)
  })

  it('refuses a compacted config.audiences-like topic (compaction keeps one membership per user) and one with finite retention', async () => {
    const t = names(runId())
    // Four partitions, as the events it is merged with (co-partitioned).
    await createTopicWith(t.audiences, { 'cleanup.policy': 'compact' }, 4)
    const error = await open(`cfg-c-${runId()}`, t).then(
      async (r) => {
        await r.close()
        return null
      },
      (err: unknown) => err as Error,
    )
    expect(error?.message).toContain(`topic ${t.audiences} has cleanup.policy=compact, but it must be kept forever`)
    const u = names(runId())
    await createTopicWith(u.audiences, { 'retention.ms': '86400000' }, 4)
    await expect(open(`cfg-d-${runId()}`, u)).rejects.toThrow(`topic ${u.audiences} has retention.ms=86400000`)
  })

  it('stops with an error naming the topic when a topology writes a record without a key to a compacted topic (the broker would refuse it at every commit)', async () => {
    const id = runId()
    const [app, input, out] = [`nokey-${id}`, `nokey-in-${id}`, `nokey-out-${id}`]
    const b = new TopologyBuilder(app)
    b.source<Rule>('rules', { topic: input, serde: jsonObjectSerde<Rule>() }).to('out', { topic: out, serde: jsonSerde() })
    await produceLines(input, [JSON.stringify({ type: 'view', enabled: true })], { partitions: 1, keyField: 'none' })
    const config = testConfig({ topics: { overrides: { [out]: { cleanup: 'compact' } } } })
    const run = runKafka({ topologies: [b.build()], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    await expect(run).rejects.toThrow(`output record to ${out} has no key, and the topic is compacted`)
  })

  it('after the broker compacted the rules topic, a fresh instance (new group, new state) makes the same decisions as the first', async () => {
    const id = runId()
    const t = names(id)
    // The runner creates the topics; the rules topic is then made to roll and compact quickly,
    // keeping the cleanup policy the runner chose (AlterConfigs replaces every setting). The
    // short retention is what deletes records of a topic that is not compacted.
    await (await open(`cfg-setup-${id}`, t)).close()
    const policy = (await describeTopic(t.rules))['cleanup.policy'] as string
    await setTopicConfig(t.rules, { 'cleanup.policy': policy, 'segment.ms': '100', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '100', 'min.compaction.lag.ms': '0', 'retention.ms': '1000' })
    // History: 10 rounds of the 4 rules, each round in its own segment; the last one decides.
    const types = ['view', 'click', 'buy', 'chat']
    const producer = kafkaClient().producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const rounds = 10
    for (let round = 0; round < rounds; round++) {
      const last = round === rounds - 1
      await producer.send({ topic: t.rules, messages: types.map((type, i) => ({ key: type, value: JSON.stringify({ type, enabled: last ? i % 2 === 0 : round % 2 === 1 }), partition: 0 })) })
      await new Promise((r) => setTimeout(r, 250))
    }
    // A record in a new segment, so that the last round lies below the head and can be cleaned too.
    await producer.send({ topic: t.rules, messages: [{ key: 'search', value: JSON.stringify({ type: 'search', enabled: false }), partition: 0 }] })
    await producer.disconnect()
    await produceLines(t.events, testEvents({ events: 600, users: 20 }), { partitions: 4, keyField: 'userId' })

    const run = async (app: string, out: string) => {
      const tt = { ...t, out }
      await runKafka({ topologies: [topology(app, tt)], config: configFor(tt), logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
      return (await readTopics([out])).get(out) ?? []
    }
    const first = await run(`cfg-first-${id}`, `${t.out}-1`)
    const passed = new Set(first.map((r) => (JSON.parse(r.value) as Event).type))
    expect(passed).toEqual(new Set(['view', 'buy']))

    // The cleaner runs every 15 s at most; wait until it removed superseded rules below the head.
    const written = rounds * types.length + 1
    let kept = written
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 2000))) {
      kept = (await readTopics([t.rules])).get(t.rules)?.length ?? 0
      if (kept <= types.length + 1) break
    }
    expect(kept).toBeLessThanOrEqual(types.length + 1)

    const second = await run(`cfg-second-${id}`, `${t.out}-2`)
    expect(second.length).toBe(first.length)
    expect(perKey(second)).toEqual(perKey(first))
  })
})
