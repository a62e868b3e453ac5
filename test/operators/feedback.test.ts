import { describe, expect, it } from 'vitest'
import type { MaterialStats } from '../../operators/config.ts'
import type { Decision } from '../../operators/types.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material } from './helpers.ts'

const WEEK = 7 * DAY
const round6 = (n: number): number => Math.round(n * 1e6) / 1e6
const decayed = (n: number, ageMs: number, halfLifeMs = WEEK): number => round6(n * 2 ** (-ageMs / halfLifeMs))
const stats = (d: TopologyTestDriver): MaterialStats[] => d.readValues<MaterialStats>('material-stats')
const users = (n: number, prefix = 'user'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

const click = (x: Decision, ts: number, type = 'push_click', attrs: object = { decisionId: x.decisionId, materialId: x.materialId }): object =>
  ({ eventId: `click-${x.decisionId}-${type}-${ts}`, userId: x.userId, type, ts, attrs })

async function withDecisions(settings: object = {}, materials = [material('m1')], taskMaterials = ['m1']): Promise<{ d: TopologyTestDriver; out: Decision[] }> {
  const d = await flow({ stats: true, settings })
  await d.pipe('config.materials', materials)
  await d.pipe('config.tasks', [eventTask('t1', { materials: taskMaterials })])
  await d.pipe('behavior-events', ['a', 'b', 'c'].map((u) => ev(u, 'price_drop', T0)))
  await advanceTo(d, T0 + 10 * MIN, MIN)
  return { d, out: decisions(d) }
}

describe('feedback: material-stats', () => {
  it('counts each decision as an impression of its material and publishes the decayed count after the publish interval', async () => {
    const { d, out } = await withDecisions()
    expect(out).toHaveLength(3)
    expect(stats(d)).toEqual([{ materialId: 'm1', impressions: decayed(3, MIN), clicks: 0, ts: T0 + MIN }])
    await d.close()
  })

  it('counts a push_click that carries its decisionId and materialId as a click, once per decision', async () => {
    const { d, out } = await withDecisions()
    stats(d)
    const [a, b] = out as [Decision, Decision]
    await d.pipe('behavior-events', [click(a, T0 + 20 * MIN), click(a, T0 + 21 * MIN, 'push_open'), click(a, T0 + 22 * MIN), click(b, T0 + 23 * MIN, 'push_open')])
    await advanceTo(d, T0 + 30 * MIN, MIN)
    // a's click counts at 20 min (published at 21), its open and second click do not; b's open counts at 23 (published at 24).
    const published = stats(d)
    expect(published.map((s) => s.ts)).toEqual([T0 + 21 * MIN, T0 + 24 * MIN])
    expect(published[0]?.clicks).toBeCloseTo(2 ** (-MIN / WEEK), 5)
    expect(published[1]?.clicks).toBeCloseTo(2 ** (-4 * MIN / WEEK) + 2 ** (-MIN / WEEK), 5)
    expect(published[1]?.impressions).toBeCloseTo(3 * 2 ** (-24 * MIN / WEEK), 5)
    await d.close()
  })

  it('ignores clicks without a decisionId, clicks on unknown decisions without a materialId, and events that are not clicks', async () => {
    const { d, out } = await withDecisions()
    stats(d)
    const a = out[0] as Decision
    await d.pipe('behavior-events', [
      click(a, T0 + 20 * MIN, 'push_click', { materialId: a.materialId }),
      click(a, T0 + 21 * MIN, 'push_click', { decisionId: 'never-sent' }),
      click(a, T0 + 22 * MIN, 'view'),
    ])
    await advanceTo(d, T0 + 40 * MIN, MIN)
    expect(stats(d)).toEqual([])
    await d.close()
  })

  it('attributes a click that names only its decision to the material the decision sent (from the exposure)', async () => {
    const { d, out } = await withDecisions()
    stats(d)
    const a = out[0] as Decision
    await d.pipe('behavior-events', [click(a, T0 + 20 * MIN, 'push_click', { decisionId: a.decisionId })])
    await advanceTo(d, T0 + 40 * MIN, MIN)
    expect(stats(d).map((s) => [s.materialId, s.clicks > 0])).toEqual([['m1', true]])
    await d.close()
  })

  it('decays impressions and clicks with the configured half-life', async () => {
    const { d, out } = await withDecisions({ stats: { halfLifeMs: HOUR, publishIntervalMs: HOUR } })
    await d.pipe('behavior-events', [click(out[0] as Decision, T0)])
    await advanceTo(d, T0 + 2 * HOUR, 10 * MIN)
    // Impressions and the click at T0, published one half-life later.
    expect(stats(d)).toEqual([{ materialId: 'm1', impressions: 1.5, clicks: 0.5, ts: T0 + HOUR }])
    await d.close()
  })

  it('publishes a material at most once per interval, with everything counted up to then', async () => {
    const d = await flow({ stats: true, settings: { fatigue: { minGapMs: 0 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', users(5).map((u, i) => ev(u, 'price_drop', T0 + i * 10_000)))
    await advanceTo(d, T0 + 5 * MIN, 10_000)
    const published = stats(d)
    expect(published.map((s) => s.ts)).toEqual([T0 + MIN])
    expect(published[0]?.impressions).toBeCloseTo(5, 3)
    await d.close()
  })
})

describe('feedback: the decision flow learns from material-stats', () => {
  it('moves traffic away from a material shown without clicks and towards the one that gets clicked', async () => {
    const d = await flow({ stats: true })
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] })])
    // Cold start: equal priors, so the first listed material wins.
    await d.pipe('behavior-events', users(10, 'first').map((u) => ev(u, 'price_drop', T0)))
    await advanceTo(d, T0 + 5 * MIN, MIN)
    const first = decisions(d)
    expect(first.map((x) => x.materialId)).toEqual(Array(10).fill('m1'))
    // Ten impressions of m1 without a click: its posterior mean drops below m2's prior mean.
    await d.pipe('behavior-events', users(10, 'second').map((u) => ev(u, 'price_drop', T0 + 10 * MIN)))
    await advanceTo(d, T0 + 15 * MIN, MIN)
    const second = decisions(d)
    expect(second.map((x) => x.materialId)).toEqual(Array(10).fill('m2'))
    expect(second[0]?.score).toBeCloseTo(1 / 21, 12)
    // Clicks on m2 keep it ahead even after it has more impressions.
    await d.pipe('behavior-events', second.slice(0, 5).map((x) => click(x, T0 + 20 * MIN)))
    // Stats are published when the stats topology's watermark passes their time, so let time move first.
    await advanceTo(d, T0 + 25 * MIN, MIN)
    await d.pipe('behavior-events', users(30, 'third').map((u) => ev(u, 'price_drop', T0 + 30 * MIN)))
    await advanceTo(d, T0 + 40 * MIN, MIN)
    const third = decisions(d)
    expect(third.map((x) => x.materialId)).toEqual(Array(30).fill('m2'))
    const m2 = stats(d).filter((s) => s.materialId === 'm2').at(-1)
    expect(m2?.clicks).toBeCloseTo(5, 1) // decayed for a few minutes
    await d.close()
  })
})

describe('feedback: delivery events from the gateway', () => {
  const gateway = (x: Decision, type: string, ts: number): object => ({ eventId: `${type}-${x.decisionId}-${ts}`, userId: x.userId, type, ts, attrs: { decisionId: x.decisionId } })

  async function delivered(impressions: 'decided' | 'delivered'): Promise<{ d: TopologyTestDriver; out: Decision[] }> {
    const d = await flow({ stats: true })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { impressions })])
    await d.pipe('behavior-events', ['a', 'b', 'c'].map((u) => ev(u, 'price_drop', T0)))
    await advanceTo(d, T0 + 10 * MIN, MIN)
    const out = decisions(d)
    expect(out).toHaveLength(3)
    return { d, out }
  }

  it('counts impressions on push_delivered when the task says so: a failed or undelivered push is no impression', async () => {
    const { d, out } = await delivered('delivered')
    const [a, b] = out as [Decision, Decision]
    // Nothing yet: decisions alone are no impressions for this task.
    expect(stats(d)).toEqual([])
    await d.pipe('behavior-events', [gateway(a, 'push_delivered', T0 + 11 * MIN), gateway(a, 'push_delivered', T0 + 11 * MIN + 1), gateway(b, 'push_failed', T0 + 11 * MIN)])
    await advanceTo(d, T0 + 20 * MIN, MIN)
    // a once (its second delivery report is a duplicate), b failed, c never reported.
    expect(stats(d).map((s) => round6(s.impressions))).toEqual([decayed(1, MIN)])
    await d.close()
  })

  it('counts impressions at the decision by default, whatever the gateway reports', async () => {
    const { d, out } = await delivered('decided')
    await d.pipe('behavior-events', [gateway(out[0] as Decision, 'push_delivered', T0 + 11 * MIN), gateway(out[1] as Decision, 'push_failed', T0 + 11 * MIN)])
    await advanceTo(d, T0 + 20 * MIN, MIN)
    expect(stats(d).map((s) => round6(s.impressions))).toEqual([decayed(3, MIN)])
    await d.close()
  })

  it('attributes clicks once: a repeated push_click counts one click, and a click proves a delivery not reported', async () => {
    const { d, out } = await delivered('delivered')
    const [a] = out as [Decision]
    await d.pipe('behavior-events', [click(a, T0 + 12 * MIN), click(a, T0 + 12 * MIN + 1), click(a, T0 + 13 * MIN, 'push_open')])
    await advanceTo(d, T0 + 20 * MIN, MIN)
    const published = stats(d)
    expect(published.map((s) => [round6(s.impressions), round6(s.clicks)])).toEqual([[decayed(1, MIN), decayed(1, MIN)]])
    await d.close()
  })
})
