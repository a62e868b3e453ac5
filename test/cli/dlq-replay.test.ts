import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { DeadLetterEntry } from '../../pipeline/cli/dlq.ts'
import { planReplay } from '../../pipeline/cli/dlq.ts'
import { runHermes } from '../hermes-cli.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-dlq-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const T0 = Date.UTC(2026, 10, 2, 10, 0)
const jsonl = (name: string, values: object[]): string => {
  const file = join(root, name)
  writeFileSync(file, `${values.map((v) => JSON.stringify(v)).join('\n')}\n`)
  return file
}
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim())

interface Envelope {
  reason: string
  topic: string
  partition: number
  offset: number
  key: string | null
  value: string
}

describe('hermes dlq replay (embedded)', () => {
  it('sends a fixed dead letter back to its topic, where it is then applied and decides', async () => {
    const state = join(root, 'state')
    const flags = ['--state-dir', state, '--metrics-port', '-1', '--log-level', 'silent', '--no-progress']
    const material = { materialId: 'm1', title: 'Drop', body: '{{event.itemId}} is cheaper', deeplink: null, segments: [], prior: { alpha: 1, beta: 20 }, status: 'active' }
    const bad = { taskId: 't1', trigger: { type: 'event', events: ['price_drop'] }, materials: ['m1'], quiteHours: 'drop' }
    const drop = (ts: number): object => ({ eventId: `e-${ts}`, userId: 'u1', type: 'price_drop', ts, itemId: 'sku-1' })
    // Another user's later event moves the watermark past the arbitration window of the first.
    const later = (ts: number): object => ({ eventId: `v-${ts}`, userId: 'u2', type: 'view', ts })
    const first = await runHermes(['run', 'push-decisions', '-i', `config.materials=${jsonl('m.jsonl', [material])}`, '-i', `config.tasks=${jsonl('t.jsonl', [bad])}`, '-i', `behavior-events=${jsonl('e1.jsonl', [drop(T0), later(T0 + 60_000)])}`, '-o', `push-decisions=${join(root, 'd1.jsonl')}`, ...flags], { CI: 'true' })
    expect(first.stderr).toBe('')
    expect(readFileSync(join(root, 'd1.jsonl'), 'utf8')).toBe('')

    // The user exports the dead letters, fixes the value, and passes them back.
    const consumed = await runHermes(['consume', 'push-decisions.dlq', '--state-dir', state])
    const envelopes = lines(consumed.stdout).map((l) => JSON.parse(l) as Envelope)
    expect(envelopes).toHaveLength(1)
    expect(envelopes[0]).toMatchObject({ topic: 'config.tasks', key: 't1', app: 'push-decisions', reason: expect.stringContaining('unknown field "quiteHours" (did you mean "quietHours"?)') })
    expect(JSON.parse(envelopes[0]?.value ?? 'null')).toEqual(bad)
    const fixed = { ...envelopes[0], value: (envelopes[0]?.value ?? '').replace('quiteHours', 'quietHours') }
    const fixFile = join(root, 'fix.jsonl')
    writeFileSync(fixFile, `${JSON.stringify(fixed)}\n`)

    const dry = await runHermes(['dlq', 'replay', 'push-decisions.dlq', '--fix', fixFile, '--dry-run', '--state-dir', state])
    expect(dry.stdout).toContain('would send push-decisions.dlq[0]@0 -> config.tasks key="t1" (fixed)')
    const replayed = await runHermes(['dlq', 'replay', 'push-decisions.dlq', '--fix', fixFile, '--state-dir', state])
    expect(replayed.stderr).toBe('')
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain('sent push-decisions.dlq[0]@0 -> config.tasks key="t1" (fixed)')
    expect(replayed.stdout).toContain('replayed 1 of 1 dead letters from push-decisions.dlq')

    const second = await runHermes(['run', 'push-decisions', '-i', `behavior-events=${jsonl('e2.jsonl', [drop(T0 + 3_600_000), later(T0 + 3_660_000)])}`, '-o', `push-decisions=${join(root, 'd2.jsonl')}`, '-o', `push-decisions.dlq=${join(root, 'dlq2.jsonl')}`, ...flags], { CI: 'true' })
    expect(second.stderr).toBe('')
    const decisions = lines(readFileSync(join(root, 'd2.jsonl'), 'utf8')).map((l) => JSON.parse(l) as { taskId: string; userId: string; decidedAt: number })
    expect(decisions.map((d) => [d.userId, d.taskId, d.decidedAt])).toEqual([['u1', 't1', T0 + 3_600_000]])
    expect(readFileSync(join(root, 'dlq2.jsonl'), 'utf8')).toBe('')
  })
})

describe('planReplay', () => {
  const dl = (offset: number, headers: { [k: string]: string }, key: string | null = 'k'): DeadLetterEntry => ({ partition: 0, offset, key, value: Buffer.from(`v${offset}`), headers })
  const origin = (topic: string, offset: number, reason = 'bad'): { [k: string]: string } => ({
    'hermes.dlq.reason': reason,
    'hermes.dlq.phase': 'process',
    'hermes.dlq.node': 'n',
    'hermes.dlq.topic': topic,
    'hermes.dlq.partition': '2',
    'hermes.dlq.offset': String(offset),
    'hermes.dlq.timestamp': '1234',
    'hermes.dlq.app': 'app',
  })

  it('keeps the original key, value and own headers, drops the hermes.dlq.* ones, and skips timers and repeats with the reason', () => {
    const plan = planReplay(
      [
        dl(0, { ...origin('events', 7), trace: 'abc' }),
        dl(1, { ...origin('', -1), 'hermes.dlq.phase': 'process' }, null),
        dl(2, origin('events', 7)),
        dl(3, origin('events', 8, 'other problem')),
      ],
      { filterReason: /^bad$/ },
    )
    expect(plan.send.map((s) => [s.topic, s.key, s.value?.toString(), s.headers, s.timestamp])).toEqual([['events', 'k', 'v0', { trace: 'abc' }, 1234]])
    expect(plan.skip.map((s) => [s.from.offset, s.why])).toEqual([
      [1, 'came from a timer, not an input record (reason: bad)'],
      [2, 'a second dead letter of events/2/7'],
    ])
  })

  it('honours --to and the offset range of the dead-letter topic', () => {
    const entries = [0, 1, 2, 3].map((o) => dl(o, origin('events', 10 + o)))
    const plan = planReplay(entries, { to: 'events-retry', fromOffset: 1, toOffset: 2 })
    expect(plan.send.map((s) => [s.from.offset, s.topic])).toEqual([[1, 'events-retry'], [2, 'events-retry']])
  })
})
