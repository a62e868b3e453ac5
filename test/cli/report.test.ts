import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { ExperimentReport } from '../../pipeline/cli/report.ts'
import { experimentReport } from '../../pipeline/cli/report.ts'
import { runHermes } from '../hermes-cli.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-report-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const jsonl = (name: string, rows: object[]): string => {
  const file = join(root, name)
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return file
}

// Experiment "exp": control (c1..c4), treat (t1..t4), holdout (h1, h2).
const decision = (id: string, userId: string, arm: string): object => ({ decisionId: id, userId, taskId: 't', experimentId: 'exp', arm, sendAt: 1 })
const decisions = [decision('d1', 'c1', 'control'), decision('d2', 'c2', 'control'), decision('d3', 'c3', 'control'), decision('d4', 't1', 'treat'), decision('d5', 't2', 'treat'), decision('d6', 't3', 'treat'), decision('d7', 't4', 'treat')]
const exposure = (userId: string, arm: string, status: string): object => ({ userId, taskId: 't', experimentId: 'exp', arm, status })
const exposures = [
  ...['c1', 'c2', 'c3'].map((u) => exposure(u, 'control', 'sent')),
  exposure('c4', 'control', 'suppressed'),
  ...['t1', 't2', 't3', 't4'].map((u) => exposure(u, 'treat', 'sent')),
  exposure('h1', 'holdout', 'held_out'),
  exposure('h2', 'holdout', 'held_out'),
]
const click = (decisionId: string, userId: string, type = 'push_click'): object => ({ eventId: `${type}-${decisionId}-${userId}`, userId, type, ts: 2, attrs: { decisionId } })
// d1 clicked and opened (one click), d4 and d5 clicked; a view and a click of no decision do not count.
const events = [click('d1', 'c1'), click('d1', 'c1', 'push_open'), click('d4', 't1'), click('d5', 't2'), { eventId: 'v', userId: 'c2', type: 'view', ts: 2 }, click('unknown', 'c3')]

describe('hermes report experiments', () => {
  it('computes users, pushes, clicks, CTR and clicks per user with 95% intervals and the difference to the control, as computed by hand', () => {
    const [r] = experimentReport({ decisions: decisions as never, exposures: exposures as never, events: events as never }) as [ExperimentReport]
    expect(r.control).toBe('control')
    const [control, holdout, treat] = r.arms as [ExperimentReport['arms'][number], ExperimentReport['arms'][number], ExperimentReport['arms'][number]]
    expect([control.arm, holdout.arm, treat.arm]).toEqual(['control', 'holdout', 'treat'])
    // Control: 4 users, 3 pushes, 1 click. CTR 1/3, Wilson with z = 1.96: centre (p + z²/2n)/(1 + z²/n) = 0.4269,
    // half-width z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n) = 0.3654.
    expect([control.users, control.pushes, control.clicks]).toEqual([4, 3, 1])
    expect(control.ctr).toBeCloseTo(1 / 3, 10)
    expect(control.ctrInterval?.[0]).toBeCloseTo(0.061492, 5)
    expect(control.ctrInterval?.[1]).toBeCloseTo(0.792340, 5)
    // Clicks per user [1, 0, 0, 0]: mean 0.25, sample sd 0.5, standard error 0.25, ± 1.96 × 0.25.
    expect(control.clicksPerUser).toBe(0.25)
    expect(control.clicksPerUserInterval?.[0]).toBeCloseTo(-0.239991, 5)
    expect(control.clicksPerUserInterval?.[1]).toBeCloseTo(0.739991, 5)
    expect(control.vsControl).toBeNull()
    // Treat: 4 users, 4 pushes, 2 clicks. CTR 0.5, Wilson [0.1500, 0.8500]; clicks per user [1, 1, 0, 0]:
    // mean 0.5, variance 1/3, standard error sqrt(1/12).
    expect([treat.users, treat.pushes, treat.clicks]).toEqual([4, 4, 2])
    expect(treat.ctrInterval?.[0]).toBeCloseTo(0.150039, 5)
    expect(treat.ctrInterval?.[1]).toBeCloseTo(0.849961, 5)
    expect(treat.clicksPerUserInterval?.[0]).toBeCloseTo(0.5 - 1.959964 * Math.sqrt(1 / 12), 5)
    // Against control: CTR +1/6 with Newcombe's interval d ∓ sqrt((p1 - l1)² + (u2 - p2)²) ...
    expect(treat.vsControl?.ctr).toBeCloseTo(1 / 6, 10)
    expect(treat.vsControl?.ctrInterval?.[0]).toBeCloseTo(-0.410534, 5)
    expect(treat.vsControl?.ctrInterval?.[1]).toBeCloseTo(0.609804, 5)
    // ... clicks per user +0.25 with Welch's standard error sqrt(1/12 + 1/16).
    expect(treat.vsControl?.clicksPerUser).toBe(0.25)
    expect(treat.vsControl?.clicksPerUserInterval?.[0]).toBeCloseTo(-0.498474, 5)
    expect(treat.vsControl?.clicksPerUserInterval?.[1]).toBeCloseTo(0.998474, 5)
    // The holdout: its users, no push, no click.
    expect([holdout.users, holdout.pushes, holdout.clicks, holdout.ctr, holdout.clicksPerUser]).toEqual([2, 0, 0, null, 0])
    expect(holdout.vsControl?.clicksPerUser).toBe(-0.25)
  })

  it('prints the report from JSONL files, with a chosen control arm, and as JSON', async () => {
    const files = ['--decisions', jsonl('d.jsonl', decisions), '--exposures', jsonl('x.jsonl', exposures), '--events', jsonl('e.jsonl', events)]
    const text = await runHermes(['report', 'experiments', ...files, '--state-dir', join(root, 'state')])
    expect(text.stderr).toBe('')
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/experiment exp \(control: control;/)
    expect(text.stdout).toMatch(/treat\s+users\s+4\s+pushes\s+4\s+clicks\s+2\s+CTR 50\.00% \[15\.00%, 85\.00%\]/)
    expect(text.stdout).toMatch(/vs control: CTR \+16\.67% \[-41\.05%, \+60\.98%\]/)
    const json = await runHermes(['report', 'experiments', ...files, '--control', 'treat', '--json', '--state-dir', join(root, 'state')])
    const [r] = JSON.parse(json.stdout) as ExperimentReport[]
    expect(r?.control).toBe('treat')
    expect(r?.arms.map((a) => a.arm)).toEqual(['treat', 'control', 'holdout'])
  })

  it('names an input that is neither a file nor a topic', async () => {
    const r = await runHermes(['report', 'experiments', '--decisions', join(root, 'nope.jsonl'), '--state-dir', join(root, 'empty')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/nope\.jsonl" is neither a file nor a topic/)
  })
})
