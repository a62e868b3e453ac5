import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../scripts/chaos/group.ts'
import { killChildren, sleep, startChild } from './children.ts'
import { committedOffsets, endOffsets, kafkaClient, produceLines, readTopics, runEmbeddedReference, runId, sortedPerKey, testConfig, untilDone } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-fenced-'))
afterAll(() => {
  killChildren()
  rmSync(root, { recursive: true, force: true })
})

describe('a task fenced by a stale owner (real broker, exactly_once)', () => {
  // Under load, an instance can apply an older assignment after the group has moved on, open a
  // task it no longer owns and, by initializing that task's transactional producer, fence the
  // rightful owner (rebalance.kafka.test.ts, v1, about 1 run in 3 at load 10+). The owner must
  // take the task back while the group still gives it the task: nothing else would, since no
  // rebalance follows in a stable group, and the task's partitions stalled for good.
  it('takes the task back and still outputs everything exactly once', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `fenced-${id}`
    const lines = testEvents({ events: 3000, users: 40, malformed: 2, spacingMs: 2000 })
    const config = testConfig()
    const expected = await runEmbeddedReference([testTopology(app, t, { running: false })], config, { topic: t.input, lines, keyField: 'userId' })
    const half = lines.length / 2
    await produceLines(t.input, lines.slice(0, half), { partitions: 4, keyField: 'userId' })
    // maxAheadMs: the sparse test events (2 s apart) would otherwise wait for their repartition records one by one.
    const logDir = process.env.HERMES_TEST_CHILD_LOGS
    const instance = startChild(
      { app, suffix: id, guarantee: 'exactly_once', maxAheadMs: 600_000, stateDir: join(root, 'a'), ...(logDir ? { logLevel: 'info' } : {}) },
      logDir ? { logFile: join(logDir, `fenced-${id}.log`) } : {},
    )
    // Task 0_0 has committed a transaction: its producer is initialized and in use.
    await waitFor('a commit of input partition 0', () => committedOffsets(app, t.input), (c) => (c.get(0) ?? -1) > 0, 60_000)

    // The stale owner: a producer with task 0_0's transactional id, initialized (which fences the
    // instance's producer of the task and aborts its open transaction), then gone.
    const stale = kafkaClient('hermes-test-stale-owner').producer({ transactionalId: `${app}-0_0`, idempotent: true, maxInFlightRequests: 1 })
    await stale.connect()
    await (await stale.transaction()).abort()
    await stale.disconnect()

    await produceLines(t.input, lines.slice(half), { partitions: 4, keyField: 'userId' })
    const ends = await endOffsets(t.input)
    const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
    // Every partition of the input committed to its end, partition 0 included, and every result
    // out; without the task taken back, partition 0 makes no progress and this fails after 30 s.
    const inputEnd = [...ends.values()].reduce((a, b) => a + b, 0)
    await untilDone('the whole input committed and every window result out', async () => {
      const [committed, got] = await Promise.all([committedOffsets(app, t.input), readTopics([t.hourly, t.types])])
      const input = [...committed.values()].reduce((a, b) => a + Math.max(0, b), 0)
      const results = (got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0)
      return { done: input >= inputEnd && results >= windows, progress: input + results, detail: `input committed ${JSON.stringify([...committed])} of ${JSON.stringify([...ends])}, window results ${results}/${windows}` }
    })
    await sleep(200)
    instance.child.kill('SIGTERM')
    expect(await instance.exited).toBe(0)

    const outputs = [t.hourly, t.types, t.late, `${app}.dlq`]
    const got = await readTopics(outputs)
    expect(windows).toBeGreaterThan(50)
    for (const topic of outputs) expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))
  }, 150_000)
})
