import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { sleep } from './children.ts'
import { FAST, produceLines, readTopics, runEmbeddedReference, runId, silent, sortedPerKey, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const exec = promisify(execFile)
// A broker of its own (another port and data dir), so restarting it disturbs no other test.
const PORT = 9192
const brokers = [`127.0.0.1:${PORT}`]
const dataDir = mkdtempSync(join(tmpdir(), 'hermes-kafka-restart-'))
const script = (name: string, ...args: string[]) => exec(join('scripts', 'kafka', name), args, { timeout: 120_000 })

afterAll(async () => {
  await script('stop.sh', '--data-dir', dataDir, '--clean').catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
}, 60_000)

describe('broker restart (real broker)', () => {
  it('rides through a broker restart mid-run (exactly-once): nothing missing, nothing twice', async () => {
    await script('start.sh', '--port', String(PORT), '--data-dir', dataDir)
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
    const running = runKafka({ topologies: [topology()], config, logger: silent, signal: controller.signal, state: { kind: 'memory', maps: new Map() }, timings: FAST, maxAheadMs: 600_000 })
    await sleep(2500)
    await script('stop.sh', '--data-dir', dataDir)
    await sleep(1000)
    await script('start.sh', '--port', String(PORT), '--data-dir', dataDir, '--keep-data')
    await produceLines(t.input, lines.slice(half), { partitions: 4, keyField: 'userId', brokers })

    const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
    const deadline = Date.now() + 60_000
    for (;;) {
      const got = await readTopics([t.hourly, t.types], { brokers })
      if ((got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0) >= windows || Date.now() > deadline) break
      await sleep(500)
    }
    controller.abort()
    await running

    const outputs = [t.hourly, t.types, `${app}.dlq`]
    const got = await readTopics(outputs, { brokers })
    for (const topic of outputs) {
      expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))
    }
  }, 150_000)
})
