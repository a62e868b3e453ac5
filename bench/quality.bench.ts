/**
 * Decision-quality benchmark: the closed-loop simulation of `npm start` (scripts/simulate.ts),
 * Hermes and Push 1.0 in one seeded world, printed as JSON: pushes per user-day, CTR, clicks per
 * user-day, the ratios, the violations, and per task the mean of each click-model factor (why a
 * task earns what it earns). Figures only: nothing here asserts a quality.
 *
 *   npx tsx bench/quality.bench.ts [--users N] [--days N] [--warmup-days N] [--config tuned|before]
 *                                  [--features relations,model] [--seed N] [--backend rocksdb|memory]
 *                                  [--night-owls 0..1] [--price-drops-per-day N]   (a variant of the world)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { validateConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import type { ClickFactors } from '../scripts/sim/clicks.ts'
import { ratios } from '../scripts/sim/quality.ts'
import { DEFAULT_FEATURES, parseFeatures, sampleConfig } from '../scripts/sim/sample-config.ts'
import { simulate } from '../scripts/simulate.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '2000' },
    days: { type: 'string', default: '7' },
    'warmup-days': { type: 'string', default: '7' },
    config: { type: 'string', default: 'tuned' },
    features: { type: 'string', default: DEFAULT_FEATURES },
    seed: { type: 'string', default: '42' },
    backend: { type: 'string', default: 'memory' },
    'night-owls': { type: 'string' },
    'price-drops-per-day': { type: 'string' },
  },
})
const variant = {
  ...(args['night-owls'] !== undefined ? { nightOwls: Number(args['night-owls']) } : {}),
  ...(args['price-drops-per-day'] !== undefined ? { priceDropsPerDay: Number(args['price-drops-per-day']) } : {}),
}
const sample = sampleConfig(args.config as string, parseFeatures(args.features))
const dir = mkdtempSync(join(tmpdir(), 'hermes-quality-bench-'))
const config = validateConfig({ runtime: { stateDir: join(dir, 'state'), stateBackend: args.backend }, observability: { http: { enabled: false } }, hermes: sample.settings })
const s = await simulate({
  users: Number(args.users),
  days: Number(args.days),
  warmupDays: Number(args['warmup-days']),
  seed: Number(args.seed),
  variant,
  start: Date.UTC(2026, 10, 2),
  config,
  sample,
  logger: createLogger({ level: 'error' }),
  outDir: join(dir, 'out'),
})
rmSync(dir, { recursive: true, force: true })
const round = (x: number, digits = 4): number => +x.toFixed(digits)
const system = (q: typeof s.hermes): object => ({
  pushesPerUserDay: round(q.pushesPerUserDay),
  ctr: round(q.ctr),
  expectedCtr: round(q.expectedCtr),
  clicksPerUserDay: round(q.clicksPerUserDay),
  pushes: q.pushes,
  clicks: q.clicks,
  violations: q.violations,
})
const factors: { [task: string]: { [k: string]: number } } = {}
const byTask = new Map<string, typeof s.pushes>()
for (const p of s.pushes) if (p.factors) byTask.set(p.taskId, [...(byTask.get(p.taskId) ?? []), p])
// A triggered push sent at least this long after its trigger counts as waited (a hold or a deferral past the task's delay).
const WAITED_MS = 2 * 3_600_000
for (const [task, pushes] of [...byTask].sort(([a], [b]) => a.localeCompare(b))) {
  const list = pushes.map((p) => p.factors as ClickFactors)
  const mean = (k: keyof ClickFactors, of = list): number => (of.length ? round(of.reduce((a, f) => a + f[k], 0) / of.length, 3) : 0)
  factors[task] = { pushes: list.length, p: mean('p'), appeal: mean('appeal'), hour: mean('hour'), relevance: mean('relevance'), trigger: mean('trigger'), fatigue: mean('fatigue'), repeat: mean('repeat'), quiet: mean('quiet'), stock: mean('stock') }
  // Triggered tasks: how long pushes waited after their trigger, and the hour factor of those that waited and those that did not.
  const delays = pushes.filter((p) => p.triggerTs !== undefined).map((p) => ({ f: p.factors as ClickFactors, d: p.sendAt - (p.triggerTs as number) }))
  if (delays.length === 0) continue
  const waited = delays.filter((x) => x.d >= WAITED_MS).map((x) => x.f)
  const atOnce = delays.filter((x) => x.d < WAITED_MS).map((x) => x.f)
  Object.assign(factors[task] as object, { delayHours: round(delays.reduce((a, x) => a + x.d, 0) / delays.length / 3_600_000, 2), waitedShare: round(waited.length / delays.length, 3), hourWaited: mean('hour', waited), hourAtOnce: mean('hour', atOnce), pWaited: mean('p', waited), pAtOnce: mean('p', atOnce) })
}
const r = ratios(s.hermes, s.push1)
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'decision quality: Hermes vs Push 1.0, one world, one click model',
      users: Number(args.users),
      days: Number(args.days),
      warmupDays: Number(args['warmup-days']),
      seed: Number(args.seed),
      variant,
      config: sample.name,
      features: sample.features,
      hermes: system(s.hermes),
      push1: { ...system(s.push1), scene: s.push1Scene, hour: s.push1Hour },
      ratios: { pushesPerUserDay: round(r.pushesPerUserDay, 3), ctr: round(r.ctr, 3), expectedCtr: round(r.expectedCtr, 3), clicksPerUserDay: round(r.clicksPerUserDay, 3) },
      suppressions: s.suppressions,
      deadLetters: s.deadLetters,
      factorsByTask: factors,
      // Pushes, clicks and expected clicks (the click model's p summed) per arm and per material: what the learning settled on.
      byArm: s.byArm,
      byMaterial: s.byMaterial,
      runSeconds: round(s.elapsedMs / 1000, 1),
    },
    null,
    2,
  )}\n`,
)
