import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../pipeline/config/load.ts'
import { runEmbedded } from '../../pipeline/cli/run.ts'
import { loadTopology } from '../../pipeline/cli/topologies.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { generateEvents } from '../../scripts/workload.ts'

const run = promisify(execFile)
const root = mkdtempSync(join(tmpdir(), 'hermes-run-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const OUTPUTS = ['user-activity-hourly', 'user-sessions', 'behavior-events-late', 'activity-counts.dlq']

async function runActivity(name: string, inputFile: string, stateDir: string): Promise<{ [topic: string]: string }> {
  const config = loadConfig({ dir: 'config', environment: {}, overrides: { runtime: { stateDir }, observability: { http: { enabled: false }, log: { level: 'silent' } } } })
  const topology = await loadTopology('activity-counts', { settings: config.hermes })
  const outputs = OUTPUTS.map((topic) => ({ topic, file: join(root, `${name}-${topic}.jsonl`) }))
  await runEmbedded({ topologies: [topology], config, inputs: [{ topic: 'behavior-events', file: inputFile }], outputs, logger: createLogger({ level: 'silent' }) })
  return Object.fromEntries(outputs.map((o) => [o.topic, readFileSync(o.file, 'utf8')]))
}

const lines = generateEvents({ events: 20_000, users: 300, seed: 11, malformed: 0.005, late: 0.01 })
const all = join(root, 'all.jsonl')
writeFileSync(all, `${lines.join('\n')}\n`)
/** The same input in two halves, for runs that continue where the last one stopped. */
const half = Math.floor(lines.length / 2)
const firstHalf = join(root, 'first.jsonl')
const secondHalf = join(root, 'second.jsonl')
writeFileSync(firstHalf, `${lines.slice(0, half).join('\n')}\n`)
writeFileSync(secondHalf, `${lines.slice(half).join('\n')}\n`)

describe('hermes run (embedded)', () => {
  it('gives byte-identical outputs on two runs over the same input', async () => {
    const a = await runActivity('a', all, join(root, 'state-a'))
    const b = await runActivity('b', all, join(root, 'state-b'))
    for (const t of OUTPUTS) expect(b[t], t).toBe(a[t])
    expect(a['user-activity-hourly']?.split('\n').length).toBeGreaterThan(1000)
    expect(a['behavior-events-late']?.length).toBeGreaterThan(0)
  })

  it('continues from its state dir: the first half then the second half equals one run over all', async () => {
    const full = await runActivity('full', all, join(root, 'state-full'))
    const state = join(root, 'state-split')
    const one = await runActivity('one', firstHalf, state)
    const two = await runActivity('two', secondHalf, state)
    for (const t of OUTPUTS) expect((one[t] ?? '') + (two[t] ?? ''), t).toBe(full[t])
  })

  it('sends malformed lines to the dead-letter topic with their reason and origin, and processes the rest', async () => {
    const input = join(root, 'dlq.jsonl')
    const t0 = Date.UTC(2026, 10, 2)
    const good = { eventId: 'e1', userId: 'u1', type: 'view', ts: t0 + 1_000 }
    writeFileSync(input, [JSON.stringify(good), '{"eventId":"e2",', JSON.stringify({ eventId: 'e3', type: 'view', ts: t0 + 2_000 }), JSON.stringify({ ...good, eventId: 'e4', ts: t0 + 9_000_000 })].join('\n'))
    const out = await runActivity('dlq', input, join(root, 'state-dlq'))
    const dead = (out['activity-counts.dlq'] ?? '').trim().split('\n').map((l) => JSON.parse(l) as { reason: string; phase: string; node: string; topic: string; offset: number; value: string })
    expect(dead).toHaveLength(2)
    expect(dead[0]).toMatchObject({ phase: 'deserialize', node: 'behavior-events', topic: 'behavior-events', value: '{"eventId":"e2",' })
    expect(dead[0]?.reason).toMatch(/invalid JSON/)
    expect(dead[1]?.reason).toMatch(/userId/)
    // The good records went through: the first hour window of u1 closed when e4 moved the watermark.
    const hourly = (out['user-activity-hourly'] ?? '').trim().split('\n').map((l) => JSON.parse(l) as { key: string; value: { total: number } })
    expect(hourly[0]).toMatchObject({ key: 'u1', value: { total: 1 } })
  })

  it('runs from the command line and prints a summary', async () => {
    const outFile = join(root, 'cli-hourly.jsonl')
    const { stdout } = await run(
      'node',
      ['bin/hermes.js', 'run', 'activity-counts', '--input', `behavior-events=${all}`, '--output', `user-activity-hourly=${outFile}`, '--state-dir', join(root, 'state-cli'), '--metrics-port', '-1', '--log-level', 'silent'],
      { env: { ...process.env, CI: 'true' } },
    )
    expect(stdout).toMatch(/processed\s+20000 records/)
    expect(stdout).toMatch(/dead letters \d+/)
    const reference = await runActivity('ref', all, join(root, 'state-ref'))
    expect(readFileSync(outFile, 'utf8')).toBe(reference['user-activity-hourly'])
  })

  it('continues in a new process: two command-line runs over the halves equal one run over all', async () => {
    const state = join(root, 'state-processes')
    const outs = [join(root, 'p-out-1.jsonl'), join(root, 'p-out-2.jsonl')]
    for (const [i, input] of [firstHalf, secondHalf].entries()) {
      await run('node', ['bin/hermes.js', 'run', 'activity-counts', '-i', `behavior-events=${input}`, '-o', `user-sessions=${outs[i]}`, '--state-dir', state, '--metrics-port', '-1', '--log-level', 'silent'], {
        env: { ...process.env, CI: 'true' },
      })
    }
    const reference = await runActivity('ref-sessions', all, join(root, 'state-ref-sessions'))
    expect(readFileSync(outs[0] as string, 'utf8') + readFileSync(outs[1] as string, 'utf8')).toBe(reference['user-sessions'])
  })

  it('rejects an input for a topic that no topology reads, naming the topic', async () => {
    const result = run('node', ['bin/hermes.js', 'run', 'activity-counts', '--input', `nobody-reads-this=${all}`, '--state-dir', join(root, 'state-bad'), '--metrics-port', '-1'], {
      env: { ...process.env, CI: 'true' },
    })
    await expect(result).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/no topology given reads topic "nobody-reads-this"/) })
  })
})
