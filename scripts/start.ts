/**
 * `npm start`: the Hermes decision flow, embedded, on a seeded synthetic world with simulated
 * clicks fed back, then a summary. Everything stays in .hermes/start/ (outputs, log, state).
 *
 * Sizes: HERMES_SAMPLE_USERS (default 2000), HERMES_SAMPLE_DAYS (default 3).
 */
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { SingleBar } from 'cli-progress'
import { loadConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { simulate } from './simulate.ts'
import type { Tally } from './simulate.ts'

const dir = resolve('.hermes', 'start')
rmSync(dir, { recursive: true, force: true })
const users = Number(process.env.HERMES_SAMPLE_USERS ?? 2000)
const days = Number(process.env.HERMES_SAMPLE_DAYS ?? 3)
const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } } } })
const logger = createLogger({ level: config.observability.log.level })
process.stdout.write(`Hermes: simulating ${users.toLocaleString('en-US')} users over ${days} days (seed 42), decisions fed back as clicks...\n`)
const tty = process.stderr.isTTY && !process.env.CI
const bar = tty ? new SingleBar({ format: 'simulating |{bar}| hour {value}/{total} | {events} events | {decisions} decisions', hideCursor: true }) : null
bar?.start(days * 24, 0, { events: 0, decisions: 0 })
const s = await simulate({
  users,
  days,
  seed: 42,
  start: Date.UTC(2026, 10, 2),
  config,
  logger,
  outDir: dir,
  onHour: (h, total, t) => {
    if (bar) bar.update(h, t)
    else if (h % 24 === 0 || h === total) process.stdout.write(`  ... day ${h / 24}: ${t.events.toLocaleString('en-US')} events, ${t.decisions.toLocaleString('en-US')} decisions\n`)
  },
})
bar?.stop()

const pct = (t: Tally): string => (t.decisions ? `${((100 * t.clicks) / t.decisions).toFixed(1)}%` : '-')
const rows = (m: { [k: string]: Tally }): string =>
  Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, t]) => `    ${k.padEnd(28)} ${String(t.decisions).padStart(7)} pushes  ${String(t.clicks).padStart(6)} clicks  CTR ${pct(t)}`)
    .join('\n')
const suppressed = Object.values(s.suppressions).reduce((a, b) => a + b, 0)
process.stdout.write(`
Hermes decision flow (embedded) — ${users.toLocaleString('en-US')} users, ${days} days
  behavior events     ${s.events.toLocaleString('en-US')} (incl. ${s.clicks.toLocaleString('en-US')} simulated clicks)
  records processed   ${s.processed.toLocaleString('en-US')} in ${(s.elapsedMs / 1000).toFixed(1)} s (both topologies, incl. config and feedback)
  decisions           ${s.decisions.toLocaleString('en-US')}
  suppressions        ${suppressed.toLocaleString('en-US')}
${Object.entries(s.suppressions)
  .sort((a, b) => b[1] - a[1])
  .map(([r, n]) => `    ${r.padEnd(28)} ${String(n).padStart(7)}`)
  .join('\n')}
  dead letters        ${s.deadLetters}
  click-through by policy
${rows(s.byPolicy)}
  click-through by experiment / arm
${rows(s.byArm)}
  click-through by task
${rows(s.byTask)}
  click-through by material (true CTR in brackets)
${Object.entries(s.byMaterial)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([k, t]) => `    ${k.padEnd(28)} ${String(t.decisions).padStart(7)} pushes  CTR ${pct(t)} [${(t.trueCtr * 100).toFixed(0)}%]`)
  .join('\n')}
  outputs             ${dir}/*.jsonl
`)
