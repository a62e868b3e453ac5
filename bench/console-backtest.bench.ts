/**
 * Console backtest benchmark: the sample world of `npm start` (HERMES_SAMPLE_USERS, default
 * 2000 users; 2 days simulated so that the backtested day has a day of history before it), then
 * a backtest of its last day with the console's code: the current configuration and a proposed
 * change (a stricter price-drop rule), each run in memory. Prints the elapsed times and what
 * each run decided. Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/console-backtest.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { simulate } from '../scripts/simulate.ts'
import { sampleConfig } from '../scripts/sim/sample-config.ts'
import { EmbeddedWorld } from '../console/server/embedded-world.ts'
import { CurrentCache, backtest } from '../console/server/backtest.ts'

const users = Number(process.env.HERMES_SAMPLE_USERS ?? 2000)
const dir = mkdtempSync(join(tmpdir(), 'hermes-console-bench-'))
const logger = createLogger({ level: 'error' })
try {
  const sample = sampleConfig('tuned')
  const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
  const t0 = performance.now()
  await simulate({ users, days: 2, seed: 42, start: Date.UTC(2026, 10, 2), config, sample, logger, outDir: dir })
  process.stdout.write(`world: ${users} users, 2 days simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  const world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const events = world.events()
  const to = (events[events.length - 1]?.ts ?? 0) + 1
  const from = to - 86_400_000
  const tasks = world.current('tasks')
  const priceDrop = tasks.get('price-drop') as { trigger: object } | undefined
  const changes = priceDrop ? { tasks: [{ ...priceDrop, trigger: { ...priceDrop.trigger, when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] } } }] } : {}
  const snapshot = { tasks, materials: world.current('materials'), users: world.profiles(), audiences: world.memberships(), stats: world.statsBefore(from) }
  // Rounds 1-3: both runs; rounds 4-5: the console's cache holds the current run, only the proposal runs.
  const cache = new CurrentCache()
  for (let round = 1; round <= 5; round++) {
    const r = await backtest({ config, logger, snapshot, changes, events, window: { from, to }, ...(round > 3 ? { cache } : {}) })
    if (round === 3) await backtest({ config, logger, snapshot, changes, events, window: { from, to }, cache })
    const sup = (s: { [k: string]: number }) => Object.values(s).reduce((a, b) => a + b, 0)
    process.stdout.write(`backtest round ${round}: 1 day, ${r.events} events, ${r.currentCached ? 'proposed only (current cached)' : 'current + proposed'} in ${(r.elapsedMs / 1000).toFixed(2)} s; current ${r.current.decisions} decisions / ${sup(r.current.suppressions)} suppressions, proposed ${r.proposed.decisions} / ${sup(r.proposed.suppressions)}\n`)
  }
  // With a day of warm-up (counts and fatigue history as the world had them), against what the world recorded.
  const recorded = { decisions: [...world.decisions()], suppressions: [...world.suppressions()] }
  const w = await backtest({ config, logger, snapshot, changes, events, window: { from, to }, warmupMs: 86_400_000, recorded })
  process.stdout.write(`backtest with 1 day of warm-up (${w.warmupEvents} + ${w.events} events), current + proposed in ${(w.elapsedMs / 1000).toFixed(2)} s; current ${w.current.decisions} decisions, recorded ${w.recorded?.decisions} (the world also fed its clicks back live)\n`)
  await world.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
