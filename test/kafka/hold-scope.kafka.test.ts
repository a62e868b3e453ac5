import { describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { FAST, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

// Issue 9: at-least-once and exactly_once_v2 (one producer per app writes each partition in the
// order produced), a record of ours on its way to the per-type sub-topology holds back only the
// tasks reading its partition; the per-user sub-topology runs ahead of it (under v2 the record
// becomes readable at the next commit; one instance holds every task here, as v2 requires).
// With kafka.maxAheadMs: 0 the outputs must still be exactly embedded mode's, windows and late
// records of the per-type sub-topology included: its tasks keep the time they would have embedded
// (InputView.appClock), however far the per-user tasks ran ahead.

describe('processing ahead of records of ours on their way (real broker)', () => {
  it.each(['at_least_once', 'exactly_once_v2'] as const)('gives exactly the embedded outputs, key by key and in order, with kafka.maxAheadMs: 0 (%s)', async (guarantee) => {
    const id = runId()
    const t = testTopics(id)
    const app = `hs-${guarantee === 'at_least_once' ? '' : 'v2-'}${id}`
    const lines = testEvents({ events: 3000, users: 30, late: 10, malformed: 0, spacingMs: 20_000 })
    const config = testConfig({ runtime: { guarantee }, kafka: { maxAheadMs: 0 } })
    const expected = await runEmbeddedReference([testTopology(app, t)], config, { topic: t.input, lines, keyField: 'userId' })
    await produceLines(t.input, lines, { partitions: 4, keyField: 'userId' })

    const stats = await runKafka({ topologies: [testTopology(app, t)], config, logger: silent, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    expect(stats.records).toBeGreaterThanOrEqual(lines.length)
    const got = await readTopics([t.hourly, t.late, t.types, t.running])
    for (const topic of [t.hourly, t.late, t.types, t.running]) {
      const want = expected.get(topic) ?? []
      expect(want.length, topic).toBeGreaterThan(0)
      expect(perKey(got.get(topic) ?? []), topic).toEqual(perKey(want))
    }
  })
})
