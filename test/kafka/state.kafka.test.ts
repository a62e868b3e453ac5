import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import type { createLogger } from '../../pipeline/observability/logger.ts'
import { FAST, capturingLogger, perKey, produceLines, readTopics, runEmbeddedReference, runId, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-state-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('changelogs and checkpoints (real broker)', () => {
  it('restores state from the changelogs on a new instance, reads nothing on a clean restart, and ends as one uninterrupted run', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `state-${id}`
    const lines = testEvents({ events: 3000, users: 30, late: 6, spacingMs: 1500 })
    const half = 1700
    const config = testConfig()
    const expected = await runEmbeddedReference([testTopology(app, t)], config, { topic: t.input, lines, keyField: 'userId' })
    const run = async (dir: string, logger: ReturnType<typeof createLogger>) =>
      runKafka({ topologies: [testTopology(app, t)], config, logger, state: { kind: 'rocksdb', dir }, stopWhenIdleMs: 300, timings: FAST })

    await produceLines(t.input, lines.slice(0, half), { partitions: 4, keyField: 'userId' })
    const first = capturingLogger()
    await run(join(root, 'a'), first.logger)
    expect(first.lines.filter((l) => l.msg === 'state restored')).toHaveLength(0)

    // Clean restart on the same state dir: the checkpoints say the state is complete.
    const again = capturingLogger()
    await run(join(root, 'a'), again.logger)
    expect(again.lines.filter((l) => l.msg === 'restoring state from changelogs')).toHaveLength(0)

    // A new instance (empty state dir) restores everything, then processes the rest of the input.
    await produceLines(t.input, lines.slice(half), { partitions: 4, keyField: 'userId' })
    const fresh = capturingLogger()
    await run(join(root, 'b'), fresh.logger)
    const restored = fresh.lines.filter((l) => l.msg === 'state restored')
    expect(restored.length).toBeGreaterThan(0)
    const records = restored.reduce((n, l) => n + (l.records as number), 0)
    expect(records).toBeGreaterThan(100)
    console.log(`restore: ${records} changelog records in ${restored.map((l) => `${l.ms} ms`).join(', ')}`)

    const got = await readTopics([t.hourly, t.late, t.types, t.running])
    for (const topic of [t.hourly, t.late, t.types, t.running]) expect(perKey(got.get(topic) ?? []), topic).toEqual(perKey(expected.get(topic) ?? []))
  })
})
