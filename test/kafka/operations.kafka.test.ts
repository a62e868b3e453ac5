import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { sleep } from './children.ts'
import { FAST, capturingLogger, produceLines, runId, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const exec = promisify(execFile)
// A broker of its own (port, controller port, data dir), so stopping it disturbs no other test.
const PORT = 9392
const brokers = [`127.0.0.1:${PORT}`]
const dataDir = mkdtempSync(join(tmpdir(), 'hermes-kafka-ops-'))
const script = (name: string, ...args: string[]) => exec(join('scripts', 'kafka', name), args, { timeout: 120_000 })
const start = (...extra: string[]) => script('start.sh', '--port', String(PORT), '--controller-port', String(PORT + 10_000), '--data-dir', dataDir, ...extra)

afterAll(async () => {
  await script('stop.sh', '--data-dir', dataDir, '--clean').catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
}, 60_000)

/** The metrics port a run logged ("metrics on /metrics ..."). */
async function portOf(lines: Array<{ [k: string]: unknown }>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const l = lines.find((x) => typeof x.port === 'number' && String(x.msg).startsWith('metrics on'))
    if (l) return l.port as number
    await sleep(50)
  }
  throw new Error('no metrics server logged')
}

async function readyz(port: number): Promise<{ status: number; reason: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`)
  const text = await res.text()
  return { status: res.status, reason: text }
}

/** The sum of a metric's samples whose labels contain all of `labels`. */
function sample(text: string, name: string, labels: { [k: string]: string } = {}): number {
  let sum = 0
  let seen = false
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    seen = true
  }
  return seen ? sum : Number.NaN
}

describe('operations on Kafka (real broker)', () => {
  it('reports lag, commits and restores in /metrics, and /readyz is false while restoring and while Kafka does not answer', async () => {
    await start()
    const id = runId()
    const t = testTopics(id)
    const app = `ops-${id}`
    const config = testConfig({ kafka: { brokers }, observability: { http: { enabled: true, port: 0 }, log: { level: 'info' } } })
    // Many users: a changelog big enough that restoring it takes a moment.
    await produceLines(t.input, testEvents({ events: 20_000, users: 10_000, spacingMs: 100 }), { partitions: 4, keyField: 'userId', brokers })

    // 1. A first instance works through the backlog: lag, commits and records show in /metrics.
    const first = capturingLogger()
    const stop1 = new AbortController()
    const run1 = runKafka({ topologies: [testTopology(app, t)], config, logger: first.logger, signal: stop1.signal, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    const port1 = await portOf(first.lines)
    let metrics = ''
    for (let i = 0; i < 600 && !(sample(metrics, 'hermes_kafka_commits_total', { outcome: 'ok' }) > 0 && sample(metrics, 'hermes_consumer_lag') === 0); i++) {
      await sleep(100)
      metrics = await (await fetch(`http://127.0.0.1:${port1}/metrics`)).text()
    }
    expect(sample(metrics, 'hermes_consumer_lag', { topic: t.input })).toBe(0)
    expect(sample(metrics, 'hermes_kafka_commits_total', { app, outcome: 'ok' })).toBeGreaterThan(0)
    expect(sample(metrics, 'hermes_commit_latency_seconds_count', { app })).toBeGreaterThan(0)
    expect(sample(metrics, 'hermes_node_records_total', { app, direction: 'in' })).toBeGreaterThanOrEqual(20_000)
    expect(sample(metrics, 'hermes_kafka_transaction_aborts_total', { app })).toBeNaN() // at-least-once: no transactions
    // The engine's own families have samples on Kafka too, as in embedded mode.
    expect(sample(metrics, 'hermes_process_latency_seconds_count', { app })).toBeGreaterThan(0)
    expect(sample(metrics, 'hermes_process_latency_seconds_sum', { app })).toBeGreaterThan(0)
    const ratio = sample(metrics, 'hermes_state_cache_hit_ratio', { app })
    expect(ratio).toBeGreaterThanOrEqual(0)
    expect(ratio).toBeLessThanOrEqual(1)
    expect(sample(metrics, 'hermes_state_cache_entries', { app })).toBeGreaterThan(0)
    expect(sample(metrics, 'hermes_state_bytes', { app })).toBeGreaterThanOrEqual(0) // memory state: 0, but a sample
    expect((await readyz(port1)).status).toBe(200)
    stop1.abort()
    await run1

    // 2. A new instance without local state restores from the changelogs: not ready until done.
    const second = capturingLogger()
    const stop2 = new AbortController()
    const run2 = runKafka({ topologies: [testTopology(app, t)], config, logger: second.logger, signal: stop2.signal, state: { kind: 'memory', maps: new Map() }, timings: FAST })
    const port2 = await portOf(second.lines)
    const seen: string[] = []
    for (let i = 0; i < 3000; i++) {
      const r = await readyz(port2)
      if (r.status !== 200) seen.push(r.reason)
      else if (seen.some((x) => x.includes('restoring'))) break
      await sleep(5)
    }
    expect([...new Set(seen)].join(' | ')).toContain('restoring state of assigned partitions')
    expect((await readyz(port2)).status).toBe(200)
    metrics = await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text()
    expect(sample(metrics, 'hermes_restore_records_total', { app })).toBeGreaterThan(5_000)
    expect(sample(metrics, 'hermes_restore_remaining_records', { app })).toBe(0)

    // 3. The broker goes away: not ready within a session timeout; ready again once it is back.
    await script('stop.sh', '--data-dir', dataDir)
    let down = { status: 200, reason: '' }
    for (let i = 0; i < 300 && down.status === 200; i++) {
      await sleep(100)
      down = await readyz(port2)
    }
    expect(down.status).toBe(503)
    expect(down.reason).toMatch(/no answer from Kafka|restoring state/)
    await start('--keep-data')
    let up = down
    for (let i = 0; i < 600 && up.status !== 200; i++) {
      await sleep(100)
      up = await readyz(port2)
    }
    expect(up.status, `still not ready a minute after the broker came back: ${up.reason}; warnings: ${second.lines.filter((l) => Number(l.level) >= 40).slice(-6).map((l) => JSON.stringify(l)).join('\n')}`).toBe(200)
    stop2.abort()
    await run2
  }, 170_000)
})
