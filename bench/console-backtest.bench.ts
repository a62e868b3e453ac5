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
import { EmbeddedWorld } from '../console/server/embedded-world.ts'
import { backtest } from '../console/server/backtest.ts'

const users = Number(process.env.HERMES_SAMPLE_USERS ?? 2000)
const dir = mkdtempSync(join(tmpdir(), 'hermes-console-bench-'))
const logger = createLogger({ level: 'error' })
try {
  const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } } } })
  const t0 = performance.now()
  await simulate({ users, days: 2, seed: 42, start: Date.UTC(2026, 10, 2), config, logger, outDir: dir })
  process.stdout.write(`world: ${users} users, 2 days simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  const world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const events = world.events()
  const to = (events[events.length - 1]?.ts ?? 0) + 1
  const from = to - 86_400_000
  const tasks = world.current('tasks')
  const priceDrop = tasks.get('price-drop') as { trigger: object } | undefined
  const changes = priceDrop ? { tasks: [{ ...priceDrop, trigger: { ...priceDrop.trigger, when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] } } }] } : {}
  const snapshot = { tasks, materials: world.current('materials'), users: world.profiles(), audiences: world.memberships(), stats: world.statsBefore(from) }
  for (let round = 1; round <= 3; round++) {
    const r = await backtest({ config, logger, snapshot, changes, events, window: { from, to } })
    const sup = (s: { [k: string]: number }) => Object.values(s).reduce((a, b) => a + b, 0)
    process.stdout.write(`backtest round ${round}: 1 day, ${r.events} events, current + proposed in ${(r.elapsedMs / 1000).toFixed(2)} s (${Math.round((2 * r.events) / (r.elapsedMs / 1000))} events/s); current ${r.current.decisions} decisions / ${sup(r.current.suppressions)} suppressions, proposed ${r.proposed.decisions} / ${sup(r.proposed.suppressions)}\n`)
  }
  await world.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
