/**
 * An instance that comes back to partitions another instance processed meanwhile: its local
 * state (kept, with a clean checkpoint) still holds its own old input positions, and the group's
 * committed offsets are further on. It starts at the group's offsets; before the fix, its tasks
 * kept the old local positions as their own, so their first commit, before any new record of the
 * partition (a quiet input), moved the group's offset back to them. The next owner then processed
 * again what the restored state already held: the chaos run's failover and back counted views
 * twice (`counts.view.1h` of 3 after two views) and sent extra `browse-follow-up` pushes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { FAST, committedOffsets, endOffsets, produceLines, runId, silent, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-positions-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('an instance back on partitions another one processed meanwhile', () => {
  it.each(['exactly_once', 'exactly_once_v2', 'at_least_once'] as const)('never moves the group offsets back to its old local positions (%s)', async (guarantee) => {
    const id = runId()
    const t = testTopics(id)
    const app = `positions-${id}`
    const lines = testEvents({ events: 240, users: 16, late: 0, spacingMs: 1500 })
    const config = testConfig({ runtime: { commitIntervalMs: 200, guarantee } })
    const run = async (dir: string) => runKafka({ topologies: [testTopology(app, t)], config, logger: silent, state: { kind: 'rocksdb', dir }, stopWhenIdleMs: 500, timings: FAST })

    // A processes the first part and stops cleanly: its local state keeps its positions.
    await produceLines(t.input, lines.slice(0, 120), { partitions: 4, keyField: 'userId' })
    await run(join(root, `a-${guarantee}`))
    const afterA = await committedOffsets(app, t.input)
    // B (another state directory) processes the rest.
    await produceLines(t.input, lines.slice(120), { partitions: 4, keyField: 'userId' })
    await run(join(root, `b-${guarantee}`))
    const ends = await endOffsets(t.input)
    expect(await committedOffsets(app, t.input)).toEqual(ends)
    for (const [p, end] of ends) expect(afterA.get(p), `A's offset of partition ${p} is behind B's`).toBeLessThan(end)

    // A again, on its old local state, with no new input: it commits (at stop, at least) and must
    // leave the group's offsets where B left them.
    await run(join(root, `a-${guarantee}`))
    expect(await committedOffsets(app, t.input)).toEqual(ends)
  }, 120_000)
})
