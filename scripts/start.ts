/**
 * `npm start`: the Hermes decision flow, embedded, on a seeded simulated world (scripts/sim/) with
 * its clicks fed back, beside the Push 1.0 baseline in the same world; then a summary and the
 * side-by-side decision quality. Everything stays in .hermes/start/ (outputs, log, state).
 *
 * Sizes: HERMES_SAMPLE_USERS (default 2000), HERMES_SAMPLE_DAYS (default 3, measured), after
 * HERMES_SAMPLE_WARMUP_DAYS (default 2) of history in which no task is live yet.
 * Configuration: HERMES_SAMPLE_CONFIG (`tuned`, default, or `before`), HERMES_SAMPLE_FEATURES
 * (comma-separated: `relations`, `model`; default both; empty: neither).
 */
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { SingleBar } from 'cli-progress'
import { loadConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { formatComparison } from './sim/quality.ts'
import { DEFAULT_FEATURES, parseFeatures, sampleConfig, writeWorldConfig } from './sim/sample-config.ts'
import { simulate } from './simulate.ts'
import type { Tally } from './simulate.ts'

const dir = resolve('.hermes', 'start')
rmSync(dir, { recursive: true, force: true })
const users = Number(process.env.HERMES_SAMPLE_USERS ?? 2000)
const days = Number(process.env.HERMES_SAMPLE_DAYS ?? 3)
const warmupDays = Number(process.env.HERMES_SAMPLE_WARMUP_DAYS ?? 2)
const sample = sampleConfig(process.env.HERMES_SAMPLE_CONFIG ?? 'tuned', parseFeatures(process.env.HERMES_SAMPLE_FEATURES ?? DEFAULT_FEATURES))
const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
const logger = createLogger({ level: config.observability.log.level })
writeWorldConfig(dir, sample)
const features = sample.features.length ? `, features ${sample.features.join('+')}` : ''
process.stdout.write(`Hermes: simulating ${users.toLocaleString('en-US')} users over ${days} days after ${warmupDays} days of history (seed 42, configuration "${sample.name}"${features}), clicks fed back, Push 1.0 beside it...\n`)
const tty = process.stderr.isTTY && !process.env.CI
const bar = tty ? new SingleBar({ format: 'simulating |{bar}| hour {value}/{total} | {events} events | {decisions} decisions', hideCursor: true }) : null
bar?.start((warmupDays + days) * 24, 0, { events: 0, decisions: 0 })
const s = await simulate({
  users,
  days,
  seed: 42,
  start: Date.UTC(2026, 10, 2),
  warmupDays,
  config,
  sample,
  logger,
  outDir: dir,
  onHour: (h, total, t) => {
    if (bar) bar.update(h, t)
    else if (h % 24 === 0 || h === total) {
      const day = h / 24
      const label = day <= warmupDays ? `history day ${day}` : `day ${day - warmupDays}`
      process.stdout.write(`  ... ${label}: ${t.events.toLocaleString('en-US')} events, ${t.decisions.toLocaleString('en-US')} decisions\n`)
    }
  },
})
bar?.stop()

const pct = (n: number, d: number): string => (d ? `${((100 * n) / d).toFixed(1)}%` : '-')
const rows = (m: { [k: string]: Tally }, expected = false): string =>
  Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([k, t]) => `    ${k.padEnd(28)} ${String(t.decisions).padStart(7)} pushes  ${String(t.clicks).padStart(6)} clicks  CTR ${pct(t.clicks, t.decisions)}${expected ? ` [${pct(t.expected, t.decisions)}]` : ''}`)
    .join('\n')
const suppressed = Object.values(s.suppressions).reduce((a, b) => a + b, 0)
process.stdout.write(`
Hermes decision flow (embedded) — ${users.toLocaleString('en-US')} users, ${days} days
  behavior events     ${s.events.toLocaleString('en-US')} (incl. ${s.clicks.toLocaleString('en-US')} simulated clicks); item events ${s.itemEvents.toLocaleString('en-US')}
  records processed   ${s.processed.toLocaleString('en-US')} in ${(s.elapsedMs / 1000).toFixed(1)} s (both topologies, incl. config and feedback; Push 1.0 included in the time)
  decisions           ${s.decisions.toLocaleString('en-US')}
  suppressions        ${suppressed.toLocaleString('en-US')}
${Object.entries(s.suppressions)
  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  .map(([r, n]) => `    ${r.padEnd(28)} ${String(n).padStart(7)}`)
  .join('\n')}
  dead letters        ${s.deadLetters}
  click-through by policy
${rows(s.byPolicy)}
  click-through by experiment / arm
${rows(s.byArm)}
  click-through by task
${rows(s.byTask)}
  click-through by material (mean true click rate in brackets)
${rows(s.byMaterial, true)}

${formatComparison(s.hermes, s.push1, s.push1Scene, s.push1Hour)}
    Push 1.0 scenes by mean true rate: ${s.push1Scenes.map((x) => `${x.scene} ${(100 * x.expectedCtr).toFixed(2)}%`).join(', ')}
  outputs             ${dir}/*.jsonl
`)
