import { describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { FAST, capturingLogger, produceLines, runId, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

// Operators alert on ERROR lines; a normal start must not write any (it used to write three
// "This server does not host this topic-partition" lines while new topics' metadata spread).
describe('start-up logs on Kafka (real broker)', () => {
  it('a normal start on new topics, a run and a stop log no line at level warn or above', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `logs-${id}`
    await produceLines(t.input, testEvents({ events: 500, users: 50 }), { partitions: 4, keyField: 'userId' })
    const { logger, lines } = capturingLogger('debug')
    const stats = await runKafka({ topologies: [testTopology(app, t)], config: testConfig(), logger, state: { kind: 'memory', maps: new Map() }, stopWhenIdleMs: 300, timings: FAST })
    expect(stats.records).toBeGreaterThanOrEqual(500)
    const loud = lines.filter((l) => (l.level as number) >= 40).map((l) => `${String(l.level)} ${String(l.msg)} ${JSON.stringify(l.error ?? l.err ?? '')}`)
    expect(loud).toEqual([])
    // The routine conditions are still there for whoever runs at debug.
    expect(lines.some((l) => l.component === 'kafkajs')).toBe(true)
  })
})
