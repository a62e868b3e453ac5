/**
 * Console backtest benchmark: sample worlds of HERMES_BENCH_USERS users (default "500,2000"; a
 * day of history and HERMES_SAMPLE_DAYS measured days, default 2), or the world already in
 * HERMES_BENCH_WORLD (a directory `npm start` left, e.g. .hermes/start), then backtests of the
 * last day with the console's code:
 * - first: nothing replayed yet (the history before the day is replayed once into a snapshot,
 *   then the current configuration and the proposal each replay the day from it);
 * - repeated: another proposal over the same day (the current run is cached, the snapshot kept:
 *   the proposal's replay of the day only);
 * with what each decided (the current run checked against what the world recorded). Figures
 * only: nothing here asserts a speed.
 *
 *   npx tsx bench/console-backtest.bench.ts
 *   HERMES_BENCH_USERS=2000 npx tsx bench/console-backtest.bench.ts
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

const DAY = 86_400_000
const logger = createLogger({ level: 'error' })
const out = (line: string): boolean => process.stdout.write(`${line}\n`)
const s = (ms: number): string => (ms / 1000).toFixed(2)

/** Backtests of the last day of the world in `dir`; prints the figures. */
async function measure(dir: string, label: string): Promise<void> {
  const worldFile = join(dir, WORLD_CONFIG_FILE)
  const config = loadConfig({ ...(existsSync(worldFile) ? { files: [worldFile] } : {}), overrides: { observability: { http: { enabled: false }, log: { level: 'error' } } } })
  const world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const events = world.events()
  const to = (events[events.length - 1]?.ts ?? 0) + 1
  const from = to - DAY
  const current = { tasks: world.current('tasks'), materials: world.current('materials'), audiences: world.current('audiences') }
  const eventTasks = [...current.tasks.values()].filter((t) => (t as { trigger?: { type?: string } }).trigger?.type === 'event') as Array<{ taskId: string; trigger: object }>
  // Two proposals: a stricter rule on the first event task, then the second event task paused.
  const proposals = [
    eventTasks[0] ? { tasks: [{ ...eventTasks[0], trigger: { ...eventTasks[0].trigger, when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] } } }] } : {},
    eventTasks[1] ? { tasks: [{ ...eventTasks[1], status: 'paused' }] } : {},
  ]
  const history = world.history()
  const replayer = new Replayer({ config, logger })
  const cache = new CurrentCache()
  const recorded = { decisions: [...world.decisions()], suppressions: [...world.suppressions()] }
  const eventsTopic = parseSettings(config.hermes).topics.events
  const sup = (x: { [k: string]: number }): number => Object.values(x).reduce((a, b) => a + b, 0)
  out(`${label}: ${events.length} behavior events recorded, ${history.length} recorded runs`)
  for (const [i, changes] of proposals.entries()) {
    const r = await backtest({ replayer, history, current, changes, window: { from, to }, cache, recorded, eventsTopic })
    const stats = await replayer.prefixStats(history, from)
    const what = i === 0 ? `first backtest (history replayed into a snapshot in ${s(stats.elapsedMs)} s, ${stats.stateKeys} state entries, ${stats.logRecords} log records; current + proposed from it)` : 'repeated backtest (current cached, snapshot kept: proposed only)'
    out(`  ${what}: ${s(r.elapsedMs)} s for ${r.events} events in the day after ${r.warmupEvents} of history`)
    out(`    current ${r.current.decisions} decisions / ${sup(r.current.suppressions)} suppressions (recorded ${r.recorded?.decisions} / ${sup(r.recorded?.suppressions ?? {})}, same ids ${r.agreement?.same}); proposed ${r.proposed.decisions} / ${sup(r.proposed.suppressions)}`)
  }
  await replayer.close()
  await world.close()
}

const given = process.env.HERMES_BENCH_WORLD
if (given) await measure(given, given)
else {
  const days = Number(process.env.HERMES_SAMPLE_DAYS ?? 2)
  for (const users of (process.env.HERMES_BENCH_USERS ?? '500,2000').split(',').map(Number)) {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-console-bench-'))
    try {
      const sample = sampleConfig('tuned')
      const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
      writeWorldConfig(dir, sample)
      const t0 = performance.now()
      await simulate({ users, days, warmupDays: 1, seed: 42, start: Date.UTC(2026, 10, 2), config, sample, logger, outDir: dir })
      out(`world: ${users} users, 1 day of history + ${days} days simulated in ${s(performance.now() - t0)} s`)
      await measure(dir, `${users} users`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
