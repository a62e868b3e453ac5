import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decisionId, unitHash } from '../../operators/ids.ts'
import { assignArm } from '../../operators/scoring.ts'

/** Pearson's chi-square of values in [0, 1) over ten equal bins. */
function chiSquare(xs: readonly number[]): number {
  const bins = new Array<number>(10).fill(0)
  for (const x of xs) bins[Math.min(9, Math.floor(x * 10))] = (bins[Math.min(9, Math.floor(x * 10))] as number) + 1
  const e = xs.length / 10
  return bins.reduce((s, b) => s + (b - e) ** 2 / e, 0)
}

// 99.9th percentile of chi-square with 9 degrees of freedom: a uniform spread exceeds it 1 time in 1000.
// (FNV-1a alone over `t1\u0000user-0000`..`user-1999`, the user id last, scores 68: the ids' last
// characters move only the low bits. Both callers hash text after the user id, which spreads them.)
const CHI2_9_999 = 27.88

describe('stable hashes spread sequential ids evenly (issue 12: no clustering)', () => {
  const ids = (n: number, pad: number): string[] => Array.from({ length: n }, (_, i) => `user-${String(i).padStart(pad, '0')}`)

  it('spreads the send times of a schedule and of an item fan-out over their window, for sequential user ids', () => {
    // The texts hashed by the Task Center (task, user, fire time) and the relations node (task, user, item event).
    for (const users of [ids(2000, 4), ids(2000, 0).map((u) => u.replace('user-', 'u'))]) {
      expect(chiSquare(users.map((u) => unitHash(`t1\u0000${u}\u0000${Date.UTC(2026, 10, 2, 20)}`)))).toBeLessThan(CHI2_9_999)
      expect(chiSquare(users.map((u) => unitHash(`fav-price-drop\u0000${u}\u0000sku-17-drop-1793649600000`)))).toBeLessThan(CHI2_9_999)
    }
  })

  it('assigns sequential user ids to arms by their weights', () => {
    const arms = [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 2 }]
    const counts = new Map<string, number>()
    for (const u of ids(4000, 4)) counts.set(assignArm('exp', u, arms).name, (counts.get(assignArm('exp', u, arms).name) ?? 0) + 1)
    expect(counts.get('a')).toBeGreaterThan(900)
    expect(counts.get('b')).toBeGreaterThan(900)
    expect(counts.get('c')).toBeGreaterThan(1850)
  })
})

describe('decision ids', () => {
  it('are the first 32 hex digits of sha256(user NUL task NUL trigger), asked again or in turn', () => {
    const sha = (u: string, t: string, trig: string): string => createHash('sha256').update(`${u}\u0000${t}\u0000${trig}`).digest('hex').slice(0, 32)
    const asks: Array<[string, string, string]> = [
      ['u1', 't1', 'e1'],
      ['u1', 't1', 'e1'],
      ['u1', 't1', 'e2'],
      ['u1', 't2', 'e2'],
      ['u2', 't2', 'e2'],
      ['u1', 't1', 'e1'],
      ['', '', ''],
      ['ü👍', 'tâche', 'schedule:1793649600000'],
    ]
    for (const [u, t, trig] of asks) expect(decisionId(u, t, trig)).toBe(sha(u, t, trig))
  })
})
