/**
 * `npm start`: generates a seeded sample workload and runs the default topology on it embedded,
 * with progress and a summary. Outputs stay in .hermes/start/ (inputs, outputs, log and state).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { SingleBar } from 'cli-progress'
import { loadConfig } from '../pipeline/config/load.ts'
import { createLogger } from '../pipeline/observability/logger.ts'
import { loadTopology } from '../pipeline/cli/topologies.ts'
import { runEmbedded } from '../pipeline/cli/run.ts'
import { generateEvents } from './workload.ts'

const dir = resolve('.hermes', 'start')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const events = Number(process.env.HERMES_SAMPLE_EVENTS ?? 200_000)
process.stdout.write(`Generating ${events.toLocaleString('en-US')} seeded behavior events...\n`)
const lines = generateEvents({ events, users: 5000, seed: 42 })
const input = join(dir, 'behavior-events.jsonl')
writeFileSync(input, `${lines.join('\n')}\n`)

const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { port: 0 }, log: { level: 'warn' } } } })
const logger = createLogger({ level: config.observability.log.level })
const topology = await loadTopology('activity-counts', { settings: config.hermes })
const outputs = ['user-activity-hourly', 'user-sessions', 'behavior-events-late', 'activity-counts.dlq'].map((topic) => ({ topic, file: join(dir, `${topic}.jsonl`) }))
const bar = process.stderr.isTTY && !process.env.CI ? new SingleBar({ format: 'processing |{bar}| {percentage}% | {value}/{total} records', hideCursor: true }) : null
let started = false
let lastLog = 0
const summary = await runEmbedded({
  topologies: [topology],
  config,
  inputs: [{ topic: 'behavior-events', file: input }],
  outputs,
  logger,
  onProgress: (s, pending) => {
    if (bar) {
      if (!started) bar.start(pending, 0)
      started = true
      bar.update(Math.min(s.records, pending))
    } else if (s.records - lastLog >= 50_000 || s.records >= pending) {
      lastLog = s.records
      process.stdout.write(`  ... ${s.records.toLocaleString('en-US')} / ${pending.toLocaleString('en-US')} records\n`)
    }
  },
})
bar?.stop()

const s = summary.stats
const sorted = [...s.latencySamplesUs].sort((a, b) => a - b)
const pct = (p: number): string => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number).toFixed(1) : '-')
process.stdout.write(`
Hermes sample run (embedded, topology ${topology.name})
  input events        ${(summary.loaded['behavior-events'] ?? 0).toLocaleString('en-US')}
  processed           ${s.records.toLocaleString('en-US')} records in ${(s.elapsedMs / 1000).toFixed(2)} s (${Math.round(s.records / (s.elapsedMs / 1000)).toLocaleString('en-US')} records/s)
  per-record latency  p50 ${pct(50)} us, p99 ${pct(99)} us (sampled)
  hourly windows      ${(summary.written['user-activity-hourly'] ?? 0).toLocaleString('en-US')}
  sessions            ${(summary.written['user-sessions'] ?? 0).toLocaleString('en-US')}
  late records        ${(summary.written['behavior-events-late'] ?? 0).toLocaleString('en-US')} (kept on behavior-events-late)
  dead letters        ${s.deadLetters.toLocaleString('en-US')} (malformed lines, with reasons, on activity-counts.dlq)
  timers fired        ${s.timersFired.toLocaleString('en-US')}
  outputs             ${dir}/*.jsonl
`)
