/**
 * Issue 11's bad-input suite, on a real broker and schema registry: every case of
 * bad-input-cases.ts is produced by standard producers (kcat, i.e. librdkafka and its default
 * partitioner, for every case record; the Java client for profiles and memberships), the Hermes
 * decision flow (push-decisions + material-stats on JSON topics, and push-decisions on an Avro
 * behavior-events topic) runs over them on RocksDB state until idle, and each case is judged
 * from what came out: decisions, suppressions and the dead-letter topics. After each case a
 * probe event must be decided (no stall, no crash). The table of cases, expectations and
 * observations is printed at the end (and written to $HERMES_TEST_REPORT/bad-input.md).
 *
 * Timestamp cases (fractional, huge, negative, seconds) belong to the live event-time issue: they
 * are judged only as not crashing or stalling. kcat missing fails the suite with how to install
 * it; it is never skipped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import avsc from 'avsc'
import { ConfigResourceTypes } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { runHermes } from '../hermes-cli.ts'
import { REGISTRY_URL } from '../registry/helpers.ts'
import type { AvroCodec } from './bad-input-cases.ts'
import { buildCases } from './bad-input-cases.ts'
import { javaProduce, javaProducerName, kcatProduce, requireKcat } from './bad-input-producers.ts'
import type { Outputs, Verdict } from './bad-input-world.ts'
import { PARTITIONS, baseTopic, names } from './bad-input-world.ts'
import { FAST, capturingLogger, kafkaClient, readTopics, runId, silent, testConfig } from './helpers.ts'

const id = runId()
const n = names(id)

/** Confluent wire format by hand (magic 0, schema id, avsc body): synchronous, so events are encoded when sent. */
const eventType = avsc.Type.forSchema(JSON.parse(readFileSync('schemas/behavior-event.avsc', 'utf8')) as avsc.Schema)
const codec = {
  schemaId: -1,
  encode(event: object): Buffer {
    const head = Buffer.alloc(5)
    head.writeInt32BE(this.schemaId, 1)
    return Buffer.concat([head, eventType.toBuffer({ itemId: null, category: null, attrs: null, ...event })])
  },
} satisfies AvroCodec
const { plan, cases } = buildCases(n, codec)

/** Caps relaxed so every probe can be decided; t-drop keeps its own cap of 1 per day (E24). No quiet hours, no arbitration wait. */
const fatigue = { userMax: 1000, materialMax: 1000, minGapMs: 0, quietStartHour: 0, quietEndHour: 0, arbitrationWindowMs: 0, fatigueCost: 0 }
/** A task waits 30 s of event time for a missing material (C04): the ticks of the second run are 65 s later. */
const materialWaitMs = 30_000
const topologies = () => [
  pushDecisions({ settings: { topics: n.json, applications: { decisions: n.apps.decisions, stats: n.apps.stats }, fatigue, materialWaitMs } }),
  materialStats({ settings: { topics: n.json, applications: { decisions: n.apps.decisions, stats: n.apps.stats }, fatigue, materialWaitMs } }),
  pushDecisions({ settings: { topics: n.avro, applications: { decisions: n.apps.avro, stats: `unused-stats-${id}` }, fatigue, materialWaitMs } }),
  // No input: only its topics matter (C12).
  pushDecisions({ settings: { topics: n.renamed, applications: { decisions: n.apps.renamed, stats: `unused-stats-r-${id}` } } }),
]

/** config/default.yaml's per-topic settings (cleanup, schema) carried over to this run's topic names, as a deployment with renamed topics would. */
function config() {
  const defaults = testConfig().topics.overrides
  const overrides: { [topic: string]: object } = {}
  // Not the renamed flow: C12 asks what Hermes does without them.
  for (const flow of [n.json, n.avro]) {
    for (const t of Object.values(flow)) {
      const o = defaults[baseTopic(n, t) ?? '']
      if (o) overrides[t] = { ...o }
    }
  }
  overrides[n.avro.events] = { ...overrides[n.avro.events], format: 'avro', schema: 'behavior-event' }
  return testConfig({ topics: { defaultPartitions: PARTITIONS, overrides }, schemaRegistry: { url: REGISTRY_URL } })
}

let out: Outputs | undefined
let runNote = ''
const cliNotes: string[] = []
const timings: { [phase: string]: number } = {}

async function timed<T>(phase: string, f: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now()
  try {
    return await f()
  } finally {
    timings[phase] = Date.now() - t0
  }
}

describe('bad input through a real broker, sent by kcat and the Java client (issue 11)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'hermes-bad-input-'))

  beforeAll(async () => {
    const kcat = requireKcat()
    const cfg = config()
    const state = { kind: 'rocksdb' as const, dir: stateDir }
    // A first, empty run creates the topics as Hermes does (partitions, cleanup) and registers the Avro schema.
    await timed('create topics', () => runKafka({ topologies: topologies(), config: cfg, logger: silent, state, stopWhenIdleMs: 200, timings: FAST }))
    codec.schemaId = await new SchemaRegistry({ host: REGISTRY_URL }).getLatestSchemaId(`${n.avro.events}-value`)

    // Each event is timed when it is sent: after every configuration record, in sending order,
    // never earlier than one before it (after the 65 s step of the ticks, time goes on from there).
    let last = 0
    const now = (aheadMs = 0): number => (last = Math.max(last + 1, Date.now() + aheadMs))
    // One metrics registry and one log over every run: key corrections are counted (K01), rule errors logged once (E18).
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const log = capturingLogger('warn')
    /** A stall shows as a run that never goes idle: it is stopped after a bound, and what came out is judged. */
    const run = async (phase: string): Promise<string> => {
      const stop = AbortSignal.timeout(60_000)
      try {
        const stats = await runKafka({ topologies: topologies(), config: cfg, logger: log.logger, metrics, state, stopWhenIdleMs: 1500, timings: FAST, signal: stop })
        return `${phase}: ${stats.records} records${stop.aborted ? ', STOPPED after 60 s without going idle' : ''}`
      } catch (err) {
        return `${phase} FAILED: ${(err as Error).message}`
      }
    }
    await timed('produce', async () => {
      kcatProduce(plan.config)
      for (const { topic, lines } of plan.cli) {
        const file = join(stateDir, `cli-${topic}.jsonl`)
        writeFileSync(file, `${lines.join('\n')}\n`)
        // As a user runs it: the flow's topic names through the `hermes` settings, Kafka mode.
        const env = { HERMES__runtime__mode: 'kafka', HERMES__observability__log__level: 'warn', HERMES__hermes__topics__tasks: n.json.tasks, HERMES__hermes__topics__materials: n.json.materials }
        const r = await runHermes(['produce', topic, '-f', file], env)
        cliNotes.push(`hermes produce ${topic.split('-')[0]}: exit ${r.code}${r.code ? ` ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}` : ''}`)
      }
      for (const [topic, records] of plan.java) await javaProduce(topic, records)
      for (const lazy of plan.events) kcatProduce([lazy(now)])
    })
    const notes = [await timed('run 1', () => run('run 1'))]
    // Each later phase is a restart on the same RocksDB state and consumer groups.
    for (const [phase, records] of [['ticks', plan.ticks], ['final', plan.finalEvents]] as const) {
      await timed(`produce ${phase}`, () => {
        for (const lazy of records) kcatProduce([lazy(now)])
      })
      notes.push(await timed(`run ${phase}`, () => run(`run ${phase}`)))
    }
    runNote = notes.join('; ')

    const dlqs = [n.apps.decisions, n.apps.stats, n.apps.avro].map((a) => `${a}.dlq`)
    const got = await timed('read back', () => readTopics([n.json.decisions, n.json.suppressions, n.avro.decisions, n.avro.suppressions, n.json.tasks, n.json.materials, ...dlqs], { timeoutMs: 60_000 }))
    const parsed = <T>(topic: string, app: 'json' | 'avro') => (got.get(topic) ?? []).map((r) => ({ app, key: r.key, value: JSON.parse(r.value) as T }))
    const admin = kafkaClient('hermes-test-configs').admin()
    await admin.connect()
    const configTopics = [n.json, n.renamed].flatMap((f) => [f.tasks, f.materials, f.users, f.audiences])
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: configTopics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) })
    await admin.disconnect()
    out = {
      names: n,
      decisions: [...parsed<Decision>(n.json.decisions, 'json'), ...parsed<Decision>(n.avro.decisions, 'avro')],
      suppressions: [...parsed<Suppression>(n.json.suppressions, 'json'), ...parsed<Suppression>(n.avro.suppressions, 'avro')],
      dlq: dlqs.flatMap((t) => (got.get(t) ?? []).map((r) => ({ ...r, app: t.slice(0, -'.dlq'.length) }))),
      // Values as in force, plus `<name>#topic` for those set on the topic itself (not a broker default: the test broker keeps everything forever).
      topicConfigs: new Map(described.resources.map((r) => [r.resourceName, Object.fromEntries(r.configEntries.flatMap((e) => [[e.configName, e.configValue], ...(e.configSource === 1 ? [[`${e.configName}#topic`, e.configValue]] : [])]))])),
      configRecords: [...(got.get(n.json.tasks) ?? []), ...(got.get(n.json.materials) ?? [])],
      counts: (await metrics.operatorEvents.get()).values.map((v) => ({ labels: v.labels as { [name: string]: string | number }, value: v.value })),
      logs: log.lines,
    }
    runNote = `${kcat}; profiles by ${javaProducerName()}; ${cliNotes.join('; ')}; ${runNote}; ${out.decisions.length} decisions, ${out.suppressions.length} suppressions, ${out.dlq.length} dead letters; ms: ${JSON.stringify(timings)}`
  })

  afterAll(() => {
    rmSync(stateDir, { recursive: true, force: true })
    if (!out) return
    const o = out
    const rows = cases.map((c) => ({ c, v: ((): Verdict => { try { return c.check(o) } catch (err) { return { pass: false, observed: `check threw: ${(err as Error).message}` } } })() }))
    const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
    const table = [
      `Bad-input suite (issue 11): ${rows.filter((r) => r.v.pass).length}/${rows.length} cases pass. ${runNote}`,
      '',
      'defect: the number of the issue 11 defect the case covers; "-": an input handled before issue 11 (control); "new": a defect this suite found; "time": implausible event times, judged only as not crashing (the live event-time issue decides their outcome).',
      '',
      '| case | defect | input | expected | observed | result |',
      '|---|---|---|---|---|---|',
      ...rows.map(({ c, v }) => `| ${c.id} | ${c.defect} | ${cell(c.name)} | ${cell(c.expected)} | ${cell(v.observed)} | ${v.pass ? 'pass' : 'FAIL'} |`),
    ].join('\n')
    console.log(`\n${table}\n`)
    if (process.env.HERMES_TEST_REPORT) writeFileSync(join(process.env.HERMES_TEST_REPORT, 'bad-input.md'), `${table}\n`)
  })

  it('has kcat (librdkafka) to produce with', () => {
    expect(requireKcat()).toMatch(/kcat|Version/)
  })

  it.each(cases.map((c) => [`${c.id} ${c.name}`, c] as const))('%s', (_name, c) => {
    expect(out, 'the run produced nothing to judge').toBeDefined()
    const v = c.check(out as Outputs)
    expect(v.pass, `${c.id}: expected ${c.expected}; observed ${v.observed}`).toBe(true)
  })
})
