import { readFileSync } from 'node:fs'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import type { TaskConfig } from '../../operators/config.ts'
import { taskSchema } from '../../operators/config.ts'
import { effectiveTask } from '../../operators/experiments.ts'
import type { Exposure } from '../../operators/exposures.ts'
import { HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

const users = (n: number, prefix = 'u'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`)
const exposures = (d: { readValues<V>(topic: string): V[] }): Exposure[] => d.readValues<Exposure>('exposures').filter((e) => e.userId !== 'zz-clock')
const armOf = (task: object, userId: string): string => effectiveTask(taskSchema.parse(task) as TaskConfig, userId).arm as string

describe('experiments: arm overrides', () => {
  const experiment = {
    id: 'exp-1',
    arms: [
      { name: 'control', weight: 1 },
      { name: 'other-material', weight: 1, materials: ['m2'], policy: 'ucb' },
      { name: 'picky', weight: 1, minExpectedCtr: 0.5 },
    ],
  }
  const task = eventTask('t1', { materials: ['m1'], experiment })

  it('applies each arm\'s materials, policy and threshold, and records the arm on decisions and suppressions', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [task])
    const us = users(30)
    await d.pipe('behavior-events', us.map((u, i) => ev(u, 'price_drop', T0 + i * 1000)))
    await advanceTo(d, T0 + 10 * MIN, MIN)
    const arms = new Map(us.map((u) => [u, armOf(task, u)]))
    expect(new Set(arms.values())).toEqual(new Set(['control', 'other-material', 'picky']))
    const sent = decisions(d)
    for (const x of sent) {
      expect([x.experimentId, x.arm]).toEqual(['exp-1', arms.get(x.userId)])
      expect(x.materialId).toBe(x.arm === 'other-material' ? 'm2' : 'm1')
      expect(x.policy).toBe(x.arm === 'other-material' ? 'ucb' : 'greedy')
    }
    expect(sent.map((x) => x.userId).sort()).toEqual(us.filter((u) => arms.get(u) !== 'picky'))
    // The picky arm's threshold (0.5) is above the material's rate: low_value, with the arm.
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.experimentId, s.arm])).toEqual(us.filter((u) => arms.get(u) === 'picky').map((u) => [u, 'low_value', 'exp-1', 'picky']))
    await d.close()
  })

  it('applies an arm\'s quiet-hours handling: the drop arm drops a push at 23:00, the task\'s defer sends it at 08:00', async () => {
    const t = eventTask('t1', { experiment: { id: 'quiet', arms: [{ name: 'defer', weight: 1 }, { name: 'drop', weight: 1, quietHours: 'drop' }] } })
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [t])
    const us = users(12)
    const night = T0 + 13 * HOUR // 23:00 UTC
    await d.pipe('behavior-events', us.map((u, i) => ev(u, 'price_drop', night + i * 1000)))
    await advanceTo(d, T0 + 23 * HOUR, 30 * MIN)
    const arms = new Map(us.map((u) => [u, armOf(t, u)]))
    expect(new Set(arms.values())).toEqual(new Set(['defer', 'drop']))
    const sent = decisions(d)
    expect(sent.map((x) => x.userId).sort()).toEqual(us.filter((u) => arms.get(u) === 'defer'))
    for (const x of sent) expect(x.sendAt).toBe(T0 + 22 * HOUR) // 08:00 the next morning
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.arm])).toEqual(us.filter((u) => arms.get(u) === 'drop').map((u) => [u, 'quiet_hours', 'drop']))
    await d.close()
  })

  it('resolves the effective task: overrides replace, absent fields inherit the task\'s', () => {
    const t = taskSchema.parse(eventTask('t1', { materials: ['m1'], maxHoldMs: HOUR, minExpectedCtr: 0.01, experiment: { id: 'e', arms: [{ name: 'only', weight: 1, maxHoldMs: 2 * HOUR, materials: ['m9'] }] } })) as TaskConfig
    expect(effectiveTask(t, 'anyone')).toEqual({ experimentId: 'e', arm: 'only', holdout: false, policy: 'greedy', materials: ['m9'], minExpectedCtr: 0.01, maxHoldMs: 2 * HOUR, quietHours: 'defer' })
    const plain = taskSchema.parse(eventTask('t2')) as TaskConfig
    expect(effectiveTask(plain, 'anyone')).toMatchObject({ experimentId: null, arm: null, holdout: false, maxHoldMs: 0 })
  })

  it('waits for an arm\'s materials like the task\'s own: no user of the arm is decided before they load', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [{ ...task, ts: T0 }])
    const us = users(30)
    // While m2 (only the other-material arm's) is missing, the task is not in force for anyone.
    await d.pipe('behavior-events', us.map((u, i) => ev(u, 'price_drop', T0 + i * 1000)))
    await d.pipe('config.materials', [material('m2', { ts: T0 + MIN })])
    await d.pipe('behavior-events', us.map((u, i) => ev(u, 'price_drop', T0 + 2 * MIN + i * 1000)))
    await advanceTo(d, T0 + 10 * MIN, MIN)
    const arms = new Map(us.map((u) => [u, armOf(task, u)]))
    const other = us.filter((u) => arms.get(u) === 'other-material')
    expect(other.length).toBeGreaterThan(3)
    expect(suppressions(d).filter((s) => s.reason === 'no_material').map((s) => s.userId)).toEqual([])
    expect(decisions(d).filter((x) => x.arm === 'other-material').map((x) => [x.userId, x.materialId])).toEqual(other.map((u) => [u, 'm2']))
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('refuses an arm field it does not know, naming the nearest one (a materials field is no longer dropped)', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { experiment: { id: 'e', arms: [{ name: 'a', weight: 1, material: ['m1'] }] } })])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(/unknown field "material" \(did you mean "materials"\?\)/)])
    await d.close()
  })
})

describe('experiments: holdouts and the exposure log', () => {
  const task = eventTask('t1', { experiment: { id: 'exp-h', arms: [{ name: 'push', weight: 1 }, { name: 'holdout', weight: 1, holdout: true }] } })

  it('never pushes a holdout user, and records each of their candidates as held out with the material it would have sent', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [task])
    const us = users(20)
    await d.pipe('behavior-events', us.map((u, i) => ev(u, 'price_drop', T0 + i * 1000)))
    await advanceTo(d, T0 + 10 * MIN, MIN)
    const held = us.filter((u) => armOf(task, u) === 'holdout')
    expect(held.length).toBeGreaterThan(3)
    expect(held.length).toBeLessThan(17)
    const sent = decisions(d)
    expect(sent.map((x) => x.userId).sort()).toEqual(us.filter((u) => !held.includes(u)))
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.materialId, s.experimentId, s.arm])).toEqual(held.map((u) => [u, 'holdout', 'm1', 'exp-h', 'holdout']))
    const ex = exposures(d)
    expect(ex.filter((e) => e.status === 'held_out').map((e) => e.userId).sort()).toEqual(held)
    expect(ex.filter((e) => e.status === 'sent').map((e) => e.decisionId).sort()).toEqual(sent.map((x) => x.decisionId).sort())
    await d.close()
  })

  it('writes one exposure for every candidate, sent or suppressed at any step, with its experiment and arm', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [
      task,
      // Suppressed in the Task Center (cancelled.unless), before any arm is known there.
      eventTask('t2', { trigger: { type: 'event', events: ['cart_add'], unless: { events: ['purchase'], withinMs: HOUR } }, experiment: { id: 'exp-u', arms: [{ name: 'only', weight: 1 }] } }),
    ])
    const us = users(10)
    await d.pipe('behavior-events', [
      ...us.map((u, i) => ev(u, 'price_drop', T0 + i * 1000)),
      // A second drop inside the arbitration window: one of the two loses.
      ...us.map((u, i) => ev(u, 'price_drop', T0 + i * 1000 + 1, { eventId: `${u}-again` })),
      ev('u-00', 'cart_add', T0 + 10 * MIN),
      ev('u-00', 'purchase', T0 + 20 * MIN),
    ])
    await advanceTo(d, T0 + 2 * HOUR, 5 * MIN)
    const sent = decisions(d)
    const supp = suppressions(d)
    const ex = exposures(d)
    expect(ex).toHaveLength(sent.length + supp.length)
    expect(ex.filter((e) => e.status === 'sent')).toHaveLength(sent.length)
    expect(ex.filter((e) => e.status !== 'sent').map((e) => e.reason).sort()).toEqual(supp.map((s) => s.reason).sort())
    // From all three operators: the Task Center, the Matching Center (holdout) and fatigue.
    const reasons = new Set(supp.map((s) => s.reason))
    expect(reasons.has('cancelled.unless') && reasons.has('holdout')).toBe(true)
    expect([...reasons].some((r) => r === 'arbitration' || r.startsWith('fatigue.'))).toBe(true)
    for (const e of ex) expect(e.experimentId).not.toBeNull()
    const cancelled = ex.find((e) => e.reason === 'cancelled.unless') as Exposure
    expect([cancelled.userId, cancelled.experimentId, cancelled.arm]).toEqual(['u-00', 'exp-u', 'only'])
    // Sent exposures carry what the click model learns from.
    for (const e of ex.filter((x) => x.status === 'sent')) expect([e.features?.length ?? 0, typeof e.offset]).toEqual([expect.any(Number), 'number'])
    expect((ex.find((x) => x.status === 'sent') as Exposure).features?.length).toBeGreaterThan(5)
    await d.close()
  })
})

describe('experiments: arm assignment', () => {
  it('spreads sequential user ids over the arms by their weights', () => {
    const t = eventTask('t1', { experiment: { id: 'exp', arms: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 2 }] } })
    const counts = new Map<string, number>()
    for (const u of Array.from({ length: 4000 }, (_, i) => `user-${i}`)) counts.set(armOf(t, u), (counts.get(armOf(t, u)) ?? 0) + 1)
    expect((counts.get('a') as number) / 4000).toBeCloseTo(0.25, 1)
    expect((counts.get('b') as number) / 4000).toBeCloseTo(0.25, 1)
    expect((counts.get('c') as number) / 4000).toBeCloseTo(0.5, 1)
  })
})

describe('exposure and model topics: valid for their Avro schemas', () => {
  const schema = (name: string): avro.Type => avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../schemas/${name}.avsc`, import.meta.url), 'utf8')) as avro.Schema)

  it('writes exposures and model records that their schemas accept', async () => {
    const d = await flow({ stats: true, settings: { model: { attributionWindowMs: 10 * MIN } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { experiment: { id: 'e', arms: [{ name: 'a', weight: 1 }, { name: 'h', weight: 1, holdout: true }] } })])
    await d.pipe('behavior-events', users(10).map((u, i) => ev(u, 'price_drop', T0 + i * 1000, { attrs: { dropPct: 40 } })))
    await advanceTo(d, T0 + 30 * MIN, MIN)
    const ex = d.readValues<object>('exposures')
    const models = d.readValues<object>('ctr-model')
    expect(ex.length).toBeGreaterThan(5)
    expect(models.length).toBeGreaterThan(0)
    for (const e of ex) expect(schema('exposure').isValid(e), JSON.stringify(e)).toBe(true)
    for (const m of models) expect(schema('ctr-model').isValid(m), JSON.stringify(m)).toBe(true)
    await d.close()
  })
})
