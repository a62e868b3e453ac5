/**
 * The Hermes decision flow on Kafka: push-decisions and material-stats in one KafkaRunner, over a
 * generated world (scripts/hermes-workload.ts), compared key by key with embedded mode.
 *
 * How the input keeps the comparison exact. material-stats publishes CTR stats that
 * push-decisions reads back as broadcast state. Embedded mode applies a stats record in timestamp
 * order among the keyed records; Kafka applies broadcast records when they arrive, which depends
 * on the wall clock. A stats record published while decisions are still being made would change
 * their scores at a different point in each mode. So:
 * - `stats.publishIntervalMs` (3 days) is longer than the events (1 day): no stats are published
 *   while push-decisions works (checked on the embedded run);
 * - a second phase publishes them: one marker exposure (user `zz-end`, material `end-of-run`,
 *   5 days on), written to push-decisions after the first phase, moves only material-stats'
 *   watermark past every publish time (its own publish time is never reached). The stats then
 *   reach push-decisions' broadcast state, but no keyed record follows, so no decision depends on
 *   them. Both modes run the same two phases, the Kafka one with the same runner;
 * - clicks (`push_click` events naming every third decision of a first embedded run) make
 *   material-stats count clicks as well as impressions;
 * - `kafka.maxAheadMs: 0`: material-stats takes the decisions push-decisions writes to it in the
 *   embedded order (its decayed counts depend on the order).
 * The records carry weeks-old event times; the test broker deletes nothing by age
 * (scripts/kafka/start.sh), else its retention check would delete them mid-test.
 */
import { describe, expect, it } from 'vitest'
import type { Topology } from '../../pipeline/api/index.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { buffered } from '../../pipeline/kafka/source.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { buildWorld, eventsForHour } from '../../scripts/hermes-workload.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import type { Cleanup, EmbeddedInput, OutRecord } from './helpers.ts'
import { FAST, flowTopics, keyAndTime, logContents, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig, until } from './helpers.ts'

const PARTITIONS = 4
const HOUR = 3_600_000
const DAY = 24 * HOUR
const START = Date.UTC(2026, 10, 2)

/** Runs the topologies embedded in phases over one log and one state: each phase's inputs are appended, then the run goes until idle. */
async function embeddedPhases(topologies: () => Topology[], config: HermesConfig, phases: EmbeddedInput[][]): Promise<Array<Map<string, OutRecord[]>>> {
  const log = EmbeddedLog.inMemory()
  const maps = new Map()
  const after: Array<Map<string, OutRecord[]>> = []
  for (const inputs of phases) {
    for (const input of inputs) {
      const partitions = input.partitions ?? config.topics.defaultPartitions
      if (!log.hasTopic(input.topic)) log.createTopic(input.topic, partitions)
      for (const line of input.lines) {
        const { key, ts } = keyAndTime(line, input.keyField)
        log.append(input.topic, key === null ? 0 : partitionFor(key, partitions), key, Buffer.from(line), ts)
      }
    }
    const runner = await EmbeddedRunner.open({ topologies: topologies(), config, log, state: { kind: 'memory', maps }, logger: silent })
    await runner.run()
    await runner.close()
    const out = logContents(log)
    after.push(out)
  }
  return after
}


const jsonl = (xs: readonly object[]): string[] => xs.map((x) => JSON.stringify(x))

describe('the Hermes decision flow on Kafka (real broker)', () => {
  it.each(['exactly_once', 'exactly_once_v2'] as const)('gives the same decisions, suppressions and material stats, key by key, as embedded mode, with both topologies in one runner (%s)', async (guarantee) => {
    const id = runId()
    const topics = flowTopics(id)
    const settings = { topics, applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` }, stats: { publishIntervalMs: 3 * DAY }, model: { publishIntervalMs: 3 * DAY } }
    const topologies = (): Topology[] => [pushDecisions({ settings }), materialStats({ settings })]
    const config = testConfig({ runtime: { guarantee }, kafka: { maxAheadMs: 0 }, topics: { defaultPartitions: PARTITIONS } })

    const world = buildWorld({ users: 120, seed: 7 })
    const events: Array<{ [k: string]: unknown }> = []
    for (let h = 0; h < 24; h++) events.push(...eventsForHour(world, START + h * HOUR, 700 + h))
    const configInputs: EmbeddedInput[] = [
      // One partition each, and tasks after the materials they name (which have no time: 0): broadcast
      // topics are merged by time. A day before the events, as time.minTimestampMs refuses ts: 1.
      { topic: topics.materials, lines: jsonl(world.materials), keyField: 'materialId', partitions: 1 },
      { topic: topics.tasks, lines: jsonl(world.tasks.map((x) => ({ ...x, ts: START - DAY }))), keyField: 'taskId', partitions: 1 },
      { topic: topics.users, lines: jsonl(world.users.map((u) => ({ userId: u.userId, timezone: u.timezone, pushEnabled: u.pushEnabled }))), keyField: 'userId', partitions: PARTITIONS },
      { topic: topics.audiences, lines: jsonl(world.users.flatMap((u) => u.segments.map((s) => ({ userId: u.userId, segmentId: s, member: true })))), keyField: 'userId', partitions: PARTITIONS },
    ]
    const eventInput = (xs: Array<{ [k: string]: unknown }>): EmbeddedInput => ({ topic: topics.events, lines: jsonl([...xs].sort((a, b) => (a.ts as number) - (b.ts as number))), keyField: 'userId', partitions: PARTITIONS })

    // Users click every third push of a first run, ten minutes after it is sent.
    const first = await runEmbeddedReference(topologies(), config, [...configInputs, eventInput(events)])
    const clicks = (first.get(topics.decisions) ?? [])
      .filter((_, i) => i % 3 === 0)
      .map((r) => {
        const d = JSON.parse(r.value) as { decisionId: string; userId: string; materialId: string; sendAt: number }
        return { eventId: `click-${d.decisionId}`, userId: d.userId, type: 'push_click', ts: d.sendAt + 10 * 60_000, attrs: { decisionId: d.decisionId, materialId: d.materialId } }
      })
    expect(clicks.length).toBeGreaterThan(20)
    const inputs = [...configInputs, eventInput([...events, ...clicks])]
    // material-stats reads the sent exposures (operators/exposures.ts), so the marker that moves its time is one.
    const marker: EmbeddedInput = { topic: topics.exposures, lines: jsonl([{ userId: 'zz-end', taskId: 'end', decisionId: 'end', materialId: 'end-of-run', experimentId: null, arm: null, status: 'sent', reason: null, ts: START + 5 * DAY, expectedCtr: null, features: null, level: null, offset: null, impressions: 'decided' }]), keyField: 'userId', partitions: PARTITIONS }

    const [phase1, reference] = (await embeddedPhases(topologies, config, [inputs, [marker]])) as [Map<string, OutRecord[]>, Map<string, OutRecord[]>]
    // The design holds: nothing is published while decisions are made...
    expect(phase1.get(topics.stats) ?? []).toEqual([])
    const want = {
      decisions: reference.get(topics.decisions)?.filter((r) => r.key !== 'zz-end') ?? [],
      suppressions: reference.get(topics.suppressions) ?? [],
      stats: reference.get(topics.stats) ?? [],
    }
    // ...and the reference has something to compare: decisions, suppressions, stats with clicks.
    expect(want.decisions.length).toBeGreaterThan(100)
    expect(want.suppressions.length).toBeGreaterThan(10)
    const stats = want.stats.map((r) => JSON.parse(r.value) as { materialId: string; impressions: number; clicks: number })
    expect(stats.length).toBeGreaterThanOrEqual(6)
    expect(stats.filter((s) => s.clicks > 0).length).toBeGreaterThanOrEqual(3)

    // Profiles compacted, memberships kept forever: as the runner creates (and requires) them.
    const cleanup = new Map<string, Cleanup>([[topics.users, 'compact'], [topics.audiences, 'forever']])
    for (const i of inputs) await produceLines(i.topic, i.lines, { partitions: i.partitions ?? PARTITIONS, keyField: i.keyField, ...(cleanup.has(i.topic) ? { cleanup: cleanup.get(i.topic) } : {}) })
    const runner = await KafkaRunner.open({ topologies: topologies(), config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    try {
      const one = await runner.run({ stopWhenIdleMs: 300 })
      expect(one.records).toBeGreaterThan(inputs.reduce((n, i) => n + i.lines.length, 0))
      await produceLines(marker.topic, marker.lines, { partitions: PARTITIONS, keyField: 'userId' })
      // The run stops once idle, so it starts only when material-stats has fetched the marker.
      const stats = runner.apps.find((a) => a.name === settings.applications.stats)
      const buffer = stats?.source.buffers.get(`${topics.exposures}:${partitionFor('zz-end', PARTITIONS)}`)
      await until(() => buffer !== undefined && buffered(buffer) > 0, 'material-stats to fetch the marker')
      await runner.run({ stopWhenIdleMs: 300 })
    } finally {
      await runner.close()
    }

    const dlqs = [`${settings.applications.decisions}.dlq`, `${settings.applications.stats}.dlq`]
    const got = await readTopics([topics.decisions, topics.suppressions, topics.stats, ...dlqs])
    expect(perKey(got.get(topics.decisions)?.filter((r) => r.key !== 'zz-end') ?? [])).toEqual(perKey(want.decisions))
    expect(perKey(got.get(topics.suppressions) ?? [])).toEqual(perKey(want.suppressions))
    expect(perKey(got.get(topics.stats) ?? [])).toEqual(perKey(want.stats))
    for (const dlq of dlqs) expect(got.get(dlq) ?? [], dlq).toEqual([])
  })
})
