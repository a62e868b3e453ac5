/**
 * `hermes dlq replay` on a real broker: a bad task is dead-lettered by push-decisions, exported
 * with `hermes consume`, fixed, replayed with `hermes dlq replay --fix`, and then decides.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { runHermes } from '../hermes-cli.ts'
import { BROKERS, FAST, flowTopics, produceLines, readTopics, runId, silent, testConfig } from './helpers.ts'

const T0 = Date.UTC(2026, 10, 2, 10, 0)
const PARTITIONS = 2

describe('hermes dlq replay on Kafka (real broker)', () => {
  it('sends a fixed dead letter back to its topic, where push-decisions applies it and decides', async () => {
    const id = runId()
    const topics = flowTopics(id)
    const app = `push-decisions-${id}`
    const settings = { topics, applications: { decisions: app, stats: `material-stats-${id}` } }
    const config = testConfig({ topics: { defaultPartitions: PARTITIONS }, hermes: settings })
    const dlq = `${app}.dlq`
    const material = { materialId: 'm1', title: 'Drop', body: '{{event.itemId}} is cheaper', deeplink: null, segments: [], prior: { alpha: 1, beta: 20 }, status: 'active' }
    const bad = { taskId: 't1', trigger: { type: 'event', events: ['price_drop'] }, materials: ['m1'], quiteHours: 'drop' }
    const drop = (userId: string, ts: number): string => JSON.stringify({ eventId: `${userId}-${ts}`, userId, type: 'price_drop', ts, itemId: 'sku-1' })
    await produceLines(topics.materials, [JSON.stringify(material)], { partitions: PARTITIONS, keyField: 'materialId' })
    await produceLines(topics.tasks, [JSON.stringify(bad)], { partitions: PARTITIONS, keyField: 'taskId' })
    await produceLines(topics.events, [drop('u1', T0), drop('u2', T0 + 60_000)], { partitions: PARTITIONS, keyField: 'userId' })
    await produceLines(topics.audiences, [], { partitions: PARTITIONS, keyField: 'userId', cleanup: 'forever' })
    await produceLines(topics.users, [], { partitions: PARTITIONS, keyField: 'userId', cleanup: 'compact' })
    await produceLines(topics.stats, [], { partitions: PARTITIONS, keyField: 'materialId', cleanup: 'compact' })

    const runOnce = async (): Promise<void> => {
      const runner = await KafkaRunner.open({ topologies: [pushDecisions({ settings })], config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
      try {
        await runner.run({ stopWhenIdleMs: 500 })
      } finally {
        await runner.close()
      }
    }
    await runOnce()
    expect((await readTopics([topics.decisions])).get(topics.decisions)).toEqual([])

    // The CLI as a user runs it: export the dead letters, fix the value, replay.
    const dir = mkdtempSync(join(tmpdir(), 'hermes-dlq-kafka-'))
    const cfg = join(dir, 'kafka.yaml')
    writeFileSync(cfg, `runtime: { mode: kafka }\nkafka: { brokers: [${BROKERS.join(', ')}] }\ntopics: { defaultPartitions: ${PARTITIONS} }\n`)
    const exported = await runHermes(['consume', dlq, '-c', cfg], { HERMES_ENV: 'test' })
    expect(exported.code).toBe(0)
    const envelopes = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { reason: string; topic: string; key: string; value: string })
    expect(envelopes).toHaveLength(1)
    expect(envelopes[0]).toMatchObject({ topic: topics.tasks, key: 't1', reason: expect.stringContaining('did you mean "quietHours"?') })
    const fixFile = join(dir, 'fix.jsonl')
    writeFileSync(fixFile, `${JSON.stringify({ ...envelopes[0], value: { ...bad, quiteHours: undefined, quietHours: 'drop' } })}\n`)
    const replayed = await runHermes(['dlq', 'replay', dlq, '--fix', fixFile, '-c', cfg], { HERMES_ENV: 'test' })
    expect(replayed.stderr).toBe('')
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain(`sent ${dlq}[0]@0 -> ${topics.tasks} key="t1" (fixed)`)

    const sent = (await readTopics([topics.tasks])).get(topics.tasks) ?? []
    expect(sent.map((r) => [r.key, JSON.parse(r.value) as unknown])).toEqual([['t1', bad], ['t1', { ...bad, quiteHours: undefined, quietHours: 'drop' }]].map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]))
    expect(Object.keys(sent[1]?.headers ?? {}).filter((h) => h.startsWith('hermes.dlq.'))).toEqual([])

    await produceLines(topics.events, [drop('u1', T0 + 3_600_000), drop('u2', T0 + 3_660_000)], { partitions: PARTITIONS, keyField: 'userId' })
    await runOnce()
    const decisions = ((await readTopics([topics.decisions])).get(topics.decisions) ?? []).map((r) => JSON.parse(r.value) as { userId: string; taskId: string; decidedAt: number })
    // u2's decision waits for the watermark to pass its arbitration window, which only idleness may bring.
    expect(decisions.map((d) => [d.userId, d.taskId, d.decidedAt])).toContainEqual(['u1', 't1', T0 + 3_600_000])
    expect(decisions.every((d) => d.taskId === 't1' && d.decidedAt >= T0 + 3_600_000)).toBe(true)
  })
})
