import { describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { DLQ_HEADERS } from '../../pipeline/runtime/task.ts'
import { FAST, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

describe('a topology on Kafka (real broker)', () => {
  it('gives the same outputs, key by key and in order, as the same topology embedded', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `eq-${id}`
    const lines = testEvents({ events: 4000, users: 40, late: 12, malformed: 6, spacingMs: 2000 })
    const config = testConfig()
    const expected = await runEmbeddedReference([testTopology(app, t)], config, { topic: t.input, lines, keyField: 'userId' })
    await produceLines(t.input, lines, { partitions: 4, keyField: 'userId' })

    const metrics = new HermesMetrics({ defaultMetrics: false })
    const stats = await runKafka({ topologies: [testTopology(app, t)], config, logger: silent, metrics, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    expect(stats.records).toBeGreaterThanOrEqual(lines.length)
    const text = await metrics.registry.metrics()
    expect(text).toMatch(new RegExp(`hermes_node_records_total\\{app="${app}",node="events",direction="in"\\} ${lines.length - 6}`))
    expect(text).toMatch(new RegExp(`hermes_dead_letters_total\\{app="${app}"\\} 6`))
    expect(text).toMatch(new RegExp(`hermes_kafka_assigned_tasks\\{app="${app}"\\} 12`))

    const dlq = `${app}.dlq`
    const got = await readTopics([t.hourly, t.late, t.types, t.running, dlq])
    for (const topic of [t.hourly, t.late, t.types, t.running]) {
      const want = expected.get(topic) ?? []
      expect(want.length, topic).toBeGreaterThan(0)
      expect(perKey(got.get(topic) ?? []), topic).toEqual(perKey(want))
    }
    expect(got.get(t.late)?.length).toBe(12)
    const dead = got.get(dlq) ?? []
    expect(dead).toHaveLength(6)
    expect(perKey(dead)).toEqual(perKey(expected.get(dlq) ?? []))
    for (const d of dead) {
      expect(d.headers[DLQ_HEADERS.topic]).toBe(t.input)
      expect(d.headers[DLQ_HEADERS.reason]).toMatch(/JSON|ts/)
      expect(Number(d.headers[DLQ_HEADERS.offset])).toBeGreaterThanOrEqual(0)
      expect(d.headers[DLQ_HEADERS.partition]).toMatch(/^[0-3]$/)
    }
  })
})
