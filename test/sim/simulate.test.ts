import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { parseFeatures, sampleConfig } from '../../scripts/sim/sample-config.ts'
import type { SimulationSummary } from '../../scripts/simulate.ts'
import { simulate } from '../../scripts/simulate.ts'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** The closed loop on a tiny world: 40 users, one day of history, one measured day. */
async function tiny(seed: number, set = 'tuned'): Promise<SimulationSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-sim-test-'))
  dirs.push(dir)
  const sample = sampleConfig(set)
  const config = validateConfig({ runtime: { stateDir: join(dir, 'state'), stateBackend: 'memory' }, observability: { http: { enabled: false } }, hermes: sample.settings })
  return simulate({ users: 40, days: 1, warmupDays: 1, seed, start: Date.UTC(2026, 10, 2), config, sample, logger: createLogger({ level: 'error' }), outDir: join(dir, 'out') })
}

/** What must not change between two runs of one seed (timings aside). */
const figures = (s: SimulationSummary): unknown => ({ hermes: s.hermes, push1: s.push1, scene: s.push1Scene, byTask: s.byTask, suppressions: s.suppressions, events: s.events })

describe('the closed-loop simulation', () => {
  let first: SimulationSummary
  it('runs the sample configuration without dead letters or violations, and measures only from the start', async () => {
    first = await tiny(5)
    expect(first.deadLetters).toBe(0)
    expect(first.decisions).toBeGreaterThan(0)
    expect(first.hermes.violations).toEqual({ cap: 0, gap: 0, quietHours: 0, materialCap: 0 })
    for (const p of first.pushes) expect(p.sendAt).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 2))
  })

  it('writes the world’s item events in the item-events contract, for the relations feature', () => {
    const lines = readFileSync(first.outputs['item-events'] as string, 'utf8').split('\n').filter((l) => l !== '')
    expect(lines.length).toBe(first.itemEvents)
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) {
      const e = JSON.parse(line) as { [k: string]: unknown }
      expect(Object.keys(e).sort()).toEqual(e.type === 'price_drop' ? ['attrs', 'category', 'eventId', 'itemId', 'ts', 'type'] : ['category', 'eventId', 'itemId', 'ts', 'type'])
      expect(['price_drop', 'out_of_stock', 'back_in_stock']).toContain(e.type)
      if (e.type === 'price_drop') expect((e.attrs as { dropPct: number }).dropPct).toBeGreaterThanOrEqual(5)
    }
  })

  it('reports figures that add up: per user-day over users × measured days, CTR over pushes', () => {
    const h = first.hermes
    expect(h.pushes).toBe(first.decisions)
    expect(h.pushes).toBe(first.pushes.length)
    expect(h.clicks).toBe(first.pushes.filter((p) => p.clicked).length)
    expect(h.userDays).toBe(40)
    expect(h.pushesPerUserDay).toBeCloseTo(h.pushes / 40, 12)
    expect(h.clicksPerUserDay).toBeCloseTo(h.clicks / 40, 12)
    expect(Object.values(first.byTask).reduce((n, t) => n + t.decisions, 0)).toBe(h.pushes)
    // Push 1.0: one push per opted-in user on the measured day.
    expect(first.push1.pushes).toBeGreaterThan(30)
    expect(first.push1.pushes).toBeLessThanOrEqual(40)
    expect(first.push1.pushesPerUserDay).toBeCloseTo(first.push1.pushes / 40, 12)
  })

  it('gives the same figures for the same seed and different ones for another', async () => {
    expect(figures(await tiny(5))).toEqual(figures(first))
    expect(figures(await tiny(6))).not.toEqual(figures(first))
  })

  it('loads the configuration as it was before tuning too', async () => {
    const before = await tiny(5, 'before')
    expect(before.deadLetters).toBe(0)
    expect(before.push1).toEqual(first.push1)
  })
})

describe('the sample configuration sets', () => {
  it('refuse an unknown set or feature, naming the known ones', () => {
    expect(() => sampleConfig('best')).toThrow(/unknown set "best" \(known: before, tuned\)/)
    expect(() => parseFeatures('relations,magic')).toThrow(/unknown feature "magic" \(known: relations, model\)/)
    expect(parseFeatures(' relations , model,relations')).toEqual(['relations', 'model'])
    expect(parseFeatures(undefined)).toEqual([])
  })

  it('keep the after-merge fields out of the default set', () => {
    const tuned = JSON.stringify(sampleConfig('tuned').tasks)
    expect(tuned).not.toMatch(/"type":"item"|maxHoldMs|materialCap/)
    const merged = sampleConfig('tuned', ['relations', 'model'])
    expect(merged.tasks.some((t) => (t.trigger as { type: string }).type === 'item')).toBe(true)
    expect(merged.tasks.find((t) => t.taskId === 'fav-price-drop')).toMatchObject({ maxHoldMs: 20 * 3_600_000 })
  })
})
