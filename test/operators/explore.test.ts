import { describe, expect, it } from 'vitest'
import type { Decision } from '../../operators/types.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

const users = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)
const drop = (u: string, ts: number): object => ev(u, 'price_drop', ts, { eventId: `${u}-drop-${ts}`, attrs: { dropPct: 30 } })
const clickOn = (x: Decision, ts: number): object => ({ eventId: `click-${x.decisionId}`, userId: x.userId, type: 'push_click', ts, attrs: { decisionId: x.decisionId } })

/** A price-drop task under `policy` with a threshold of 3 %, on one material whose prior says 1 %; every candidate below it may explore unless `exploreShare` says otherwise. */
async function pessimistic(policy: string, exploreShare = 1): Promise<TopologyTestDriver> {
  const d = await flow({ stats: true, settings: { fatigue: { minGapMs: 0, materialMax: 100 }, model: { exploreShare } } })
  await d.pipe('config.materials', [material('m1', { prior: { alpha: 1, beta: 99 } })])
  await d.pipe('config.tasks', [eventTask('t1', { policy, minExpectedCtr: 0.03 })])
  return d
}

/** 200 users' price drops at `at`; every push sent is clicked five minutes later. Returns the pushes of this round. */
async function round(d: TopologyTestDriver, at: number, prefix: string): Promise<Decision[]> {
  const before = decisions(d).length
  await d.pipe('behavior-events', users(200, prefix).map((u, i) => drop(u, at + i * 1000)))
  await advanceTo(d, at + 10 * MIN, MIN)
  const sent = decisions(d).slice(before)
  await d.pipe('behavior-events', sent.map((x) => clickOn(x, x.sendAt + 5 * MIN)))
  // Past the attribution window and the publish intervals: stats and model are out.
  await advanceTo(d, at + 3 * HOUR, 10 * MIN)
  return sent
}

describe('exploration of the send decision: a task whose estimate starts below its threshold is not starved', () => {
  it('under Thompson sampling, sends a share of the candidates an uncertain estimate puts below the threshold, learns they are good, then sends nearly all', async () => {
    const d = await pessimistic('thompson')
    // Prior mean 1 % < 3 %: a mean-only test sends none, ever. The posterior probability of a
    // rate above 3 % is 0.97^99 ≈ 5 %: about ten of 200 go, and each is clicked.
    const first = await round(d, T0, 'a')
    expect(first.length).toBeGreaterThan(2)
    expect(first.length).toBeLessThan(30)
    expect(suppressions(d).filter((s) => s.reason === 'low_value').length).toBe(200 - first.length)
    // Their clicks move the estimate well above the threshold: most candidates go now (all but
    // those whose draw still falls below it).
    const second = await round(d, T0 + 4 * HOUR, 'b')
    expect(second.length).toBeGreaterThan(100)
    await d.close()
  })

  it('explores at most the configured share of the candidates below the threshold', async () => {
    // Half of them may explore: about half as many as with all (the same draws, seeded by decision).
    const all = await pessimistic('thompson', 1)
    const half = await pessimistic('thompson', 0.5)
    const none = await pessimistic('thompson', 0)
    const [a, h, n] = [await round(all, T0, 'a'), await round(half, T0, 'a'), await round(none, T0, 'a')]
    const ids = (xs: Decision[]): string[] => xs.map((x) => x.decisionId)
    expect(ids(a).filter((x) => ids(h).includes(x))).toEqual(ids(h))
    expect(h.length).toBeGreaterThan(0)
    expect(h.length).toBeLessThan(a.length)
    expect(n).toEqual([])
    for (const d of [all, half, none]) await d.close()
  })

  it('sends nothing under a greedy policy with the same start (the mean decides, as configured), so nothing is learned', async () => {
    const d = await pessimistic('greedy')
    expect(await round(d, T0, 'a')).toEqual([])
    expect(await round(d, T0 + 4 * HOUR, 'b')).toEqual([])
    await d.close()
  })

  it('stops exploring a material the evidence puts surely below the threshold', async () => {
    const d = await pessimistic('thompson')
    // 3000 pushes, 15 clicks: 0.5 %, with a narrow posterior.
    await d.pipe('material-stats', [{ materialId: 'm1', impressions: 3000, clicks: 15, ts: T0 - HOUR }])
    await d.pipe('behavior-events', users(200, 'c').map((u, i) => drop(u, T0 + i * 1000)))
    await advanceTo(d, T0 + 10 * MIN, MIN)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => s.reason)).toEqual(Array(200).fill('low_value'))
    await d.close()
  })

  it('gives the same decisions when the same input runs again (draws seeded by decision)', async () => {
    const run = async (): Promise<string[]> => {
      const d = await pessimistic('thompson')
      const sent = await round(d, T0, 'a')
      await d.close()
      return sent.map((x) => x.decisionId)
    }
    expect(await run()).toEqual(await run())
  })
})
