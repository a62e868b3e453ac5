/**
 * Console backtest benchmark: the sample world of `npm start` (HERMES_SAMPLE_USERS, default 2000
 * users, a day of history and 2 measured days), or the world already in HERMES_BENCH_WORLD (a
 * directory `npm start` left, e.g. .hermes/start), then backtests of its last day with the
 * console's code: the unchanged configuration (checked against what the world recorded) and a
 * proposed change (a stricter price-drop rule). Prints the elapsed times of the first backtest
 * (two replays of the history), of one with the spare replay prepared, and what each decided.
 * Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/console-backtest.bench.ts
 *   HERMES_BENCH_WORLD=.hermes/start npx tsx bench/console-backtest.bench.ts
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { parseSettings } from '../operators/settings.ts'
import { simulate } from '../scripts/simulate.ts'
import { sampleConfig, WORLD_CONFIG_FILE, writeWorldConfig } from '../scripts/sim/sample-config.ts'
import { EmbeddedWorld } from '../console/server/embedded-world.ts'
import { CurrentCache, backtest } from '../console/server/backtest.ts'
import { Replayer } from '../console/server/replay.ts'

const given = process.env.HERMES_BENCH_WORLD
const dir = given ?? mkdtempSync(join(tmpdir(), 'hermes-console-bench-'))
const logger = createLogger({ level: 'error' })
try {
  if (!given) {
    const users = Number(process.env.HERMES_SAMPLE_USERS ?? 2000)
    const sample = sampleConfig('tuned')
    const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
    writeWorldConfig(dir, sample)
    const t0 = performance.now()
    await simulate({ users, days: 2, warmupDays: 1, seed: 42, start: Date.UTC(2026, 10, 2), config, sample, logger, outDir: dir })
    process.stdout.write(`world: ${users} users, 1 day of history + 2 days simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }
  const worldFile = join(dir, WORLD_CONFIG_FILE)
  const config = loadConfig({ ...(existsSync(worldFile) ? { files: [worldFile] } : {}), overrides: { observability: { http: { enabled: false }, log: { level: 'error' } } } })
  const world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const events = world.events()
  const to = (events[events.length - 1]?.ts ?? 0) + 1
  const from = to - 86_400_000
  const current = { tasks: world.current('tasks'), materials: world.current('materials'), audiences: world.current('audiences') }
  const priceDrop = [...current.tasks.values()].find((t) => (t as { trigger?: { type?: string } }).trigger?.type === 'event') as { trigger: object } | undefined
  const changes = priceDrop ? { tasks: [{ ...priceDrop, trigger: { ...priceDrop.trigger, when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] } } }] } : {}
  const history = world.history()
  const replayer = new Replayer({ config, logger })
  const cache = new CurrentCache()
  const recorded = { decisions: [...world.decisions()], suppressions: [...world.suppressions()] }
  const eventsTopic = parseSettings(config.hermes).topics.events
  const sup = (s: { [k: string]: number }): number => Object.values(s).reduce((a, b) => a + b, 0)
  const once = async (label: string): Promise<void> => {
    const r = await backtest({ replayer, history, current, changes, window: { from, to }, cache, recorded, eventsTopic })
    process.stdout.write(`${label}: ${r.warmupEvents} events of history + ${r.events} in the day, ${r.currentCached ? 'proposed only (current cached)' : 'current + proposed'} in ${(r.elapsedMs / 1000).toFixed(2)} s; current ${r.current.decisions} decisions / ${sup(r.current.suppressions)} suppressions (recorded ${r.recorded?.decisions} / ${sup(r.recorded?.suppressions ?? {})}, same ids ${r.agreement?.same}), proposed ${r.proposed.decisions} / ${sup(r.proposed.suppressions)}\n`)
  }
  await once('backtest 1 (nothing replayed yet)')
  // The spare replay of the history is prepared in the background after each backtest: wait for it.
  const t0 = performance.now()
  await replayer.prepared()
  process.stdout.write(`  (spare replay of the history ready ${((performance.now() - t0) / 1000).toFixed(2)} s later)\n`)
  await once('backtest 2 (spare ready)')
  await replayer.close()
  await world.close()
} finally {
  if (!given) rmSync(dir, { recursive: true, force: true })
}
