import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { sleep } from './children.ts'
import { FAST, committedOffsets, endOffsets, produceLines, readTopics, replayable, runEmbeddedReference, runId, silent, sortedPerKey, testConfig, testSeed, untilDone } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const exec = promisify(execFile)
// A broker of its own (another port and data dir), so restarting it disturbs no other test.
const PORT = 9192
const brokers = [`127.0.0.1:${PORT}`]
const dataDir = mkdtempSync(join(tmpdir(), 'hermes-kafka-restart-'))
const script = (name: string, ...args: string[]) => exec(join('scripts', 'kafka', name), args, { timeout: 120_000 })

// Its first start is set-up, not the subject of the test (it takes a minute on a loaded machine).
beforeAll(async () => {
  await script('start.sh', '--port', String(PORT), '--data-dir', dataDir)
}, 300_000)

afterAll(async () => {
  await script('stop.sh', '--data-dir', dataDir, '--clean').catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
}, 60_000)

describe('broker restart (real broker)', () => {
  it('rides through a broker restart mid-run (exactly-once): nothing missing, nothing twice', async () => {
    const seed = testSeed('broker restart')
    await replayable(seed, async () => {
      const id = runId()
      const t = testTopics(id)
      const app = `restart-${id}`
      const lines = testEvents({ events: 6000, users: 40, malformed: 3, spacingMs: 2000 })
      const config = testConfig({ kafka: { brokers }, runtime: { guarantee: 'exactly_once', commitIntervalMs: 100 }, time: { maxOutOfOrdernessMs: 7_200_000 } })
      const topology = () => testTopology(app, t, { running: false })
      const expected = await runEmbeddedReference([topology()], config, { topic: t.input, lines, keyField: 'userId' })
      const half = 3000
      await produceLines(t.input, lines.slice(0, half), { partitions: 4, keyField: 'userId', brokers })

      const controller = new AbortController()
      let processed = 0
      const running = runKafka({ topologies: [topology()], config, logger: silent, signal: controller.signal, state: { kind: 'memory', maps: new Map() }, timings: FAST, maxAheadMs: 600_000, onProgress: (st) => (processed = st.records) })
      let failed: unknown = null
      running.catch((err: unknown) => (failed = err))
      // Seeded: how long the run processes before the broker stops, and how long it stays down.
      // Counted from its first processed records: a start-up that cannot reach the broker fails
      // (it is not what this test is about), and on a slow machine start-up takes seconds.
      const beforeStopMs = seed.between(0, 3000)
      const downMs = seed.between(0, 3000)
      console.log(`broker restart: stop ${beforeStopMs} ms after the run starts processing, start again ${downMs} ms after it stopped`)
      await untilDone('the run processing records', async () => {
        if (failed) throw failed
        return { done: processed > 0, progress: 0, detail: 'no record processed yet' }
      }, 60_000)
      await sleep(beforeStopMs)
      await script('stop.sh', '--data-dir', dataDir)
      await sleep(downMs)
      await script('start.sh', '--port', String(PORT), '--data-dir', dataDir, '--keep-data')
      await produceLines(t.input, lines.slice(half), { partitions: 4, keyField: 'userId', brokers })

      // Done once the whole input is committed and every window is out; the wait lasts as long as
      // the run makes progress, so a slow machine is not taken for a failure.
      const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
      const inputEnd = [...(await endOffsets(t.input, brokers)).values()].reduce((a, b) => a + b, 0)
      await untilDone('the whole input committed and all window results out', async () => {
        const got = await readTopics([t.hourly, t.types], { brokers })
        const results = (got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0)
        const input = [...(await committedOffsets(app, t.input, brokers)).values()].reduce((a, b) => a + Math.max(0, b), 0)
        return { done: input >= inputEnd && results >= windows, progress: input + results, detail: `input committed ${input}/${inputEnd}, window results ${results}/${windows}` }
      }).catch((err: unknown) => console.error(String(err)))
      controller.abort()
      await running

      const outputs = [t.hourly, t.types, `${app}.dlq`]
      const got = await readTopics(outputs, { brokers })
      for (const topic of outputs) {
        expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))
      }
    })
  }, 150_000)
})
