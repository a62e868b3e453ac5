/**
 * A closed-loop simulation of the decision flow, embedded: a synthetic world's behavior events
 * go in hour by hour, both topologies run (push-decisions and material-stats over one log),
 * and each decision is clicked with its material's true click rate (seeded by the decision id),
 * the click arriving as a push_click event a few minutes after the send. Deterministic for a seed.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { HermesConfig } from '../pipeline/config/schema.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { endOffsets, readTopicSince, writeLines } from '../pipeline/embedded/files.ts'
import { EmbeddedRunner } from '../pipeline/embedded/runner.ts'
import type { HermesLogger } from '../pipeline/observability/logger.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import { seededRandom } from '../operators/scoring.ts'
import type { Decision, Suppression } from '../operators/types.ts'
import materialStats from '../topologies/material-stats.ts'
import { parseSettings } from '../operators/settings.ts'
import pushDecisions from '../topologies/push-decisions.ts'
import { buildWorld, configRecords, eventsForHour } from './hermes-workload.ts'

const HOUR = 3_600_000

export interface SimulationOptions {
  users: number
  days: number
  seed: number
  start: number
  config: HermesConfig
  logger: HermesLogger
  /** Where outputs (JSONL) are written; the log and state go under config.runtime.stateDir. */
  outDir: string
  onHour?: (hour: number, hours: number, totals: { events: number; decisions: number }) => void
}

export interface Tally {
  decisions: number
  clicks: number
}

export interface SimulationSummary {
  events: number
  clicks: number
  decisions: number
  suppressions: { [reason: string]: number }
  byPolicy: { [policy: string]: Tally }
  byArm: { [arm: string]: Tally }
  byTask: { [task: string]: Tally }
  byMaterial: { [material: string]: Tally & { trueCtr: number } }
  deadLetters: number
  processed: number
  elapsedMs: number
  outputs: { [topic: string]: string }
}

export async function simulate(o: SimulationOptions): Promise<SimulationSummary> {
  const started = performance.now()
  const world = buildWorld({ users: o.users, seed: o.seed })
  const env = { settings: o.config.hermes }
  const topologies = [pushDecisions(env), materialStats(env)]
  // The names the topologies were built with: `hermes.topics` may rename them.
  const topics = parseSettings(o.config.hermes).topics
  mkdirSync(o.config.runtime.stateDir, { recursive: true })
  const log = EmbeddedLog.open(join(o.config.runtime.stateDir, 'log'))
  const state = o.config.runtime.stateBackend === 'rocksdb' ? ({ kind: 'rocksdb', dir: join(o.config.runtime.stateDir, 'state') } as const) : ({ kind: 'memory', maps: new Map() } as const)
  const runner = await EmbeddedRunner.open({ topologies, config: o.config, log, state, logger: o.logger })
  const watched = [topics.decisions, topics.suppressions, topics.stats, ...topologies.map((t) => `${t.name}.dlq`)]
  const from = new Map(watched.map((t) => [t, endOffsets(log, t)]))
  const append = (topic: string, key: string, value: object, ts: number): void => {
    log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
  }
  for (const r of configRecords(world, topics)) append(r.topic, r.key, r.value, 0)
  let processed = (await runner.run()).records
  const summary: SimulationSummary = { events: 0, clicks: 0, decisions: 0, suppressions: {}, byPolicy: {}, byArm: {}, byTask: {}, byMaterial: {}, deadLetters: 0, processed: 0, elapsedMs: 0, outputs: {} }
  const tally = (map: { [k: string]: Tally }, k: string, clicked: boolean): void => {
    const t = (map[k] ??= { decisions: 0, clicks: 0 })
    t.decisions++
    if (clicked) t.clicks++
  }
  const pendingClicks: Array<{ [k: string]: unknown }> = []
  let readFrom = endOffsets(log, topics.decisions)
  const hours = o.days * 24
  for (let h = 0; h < hours; h++) {
    const hourStart = o.start + h * HOUR
    const due = pendingClicks.filter((c) => (c.ts as number) < hourStart + HOUR)
    const later = pendingClicks.filter((c) => (c.ts as number) >= hourStart + HOUR)
    pendingClicks.length = 0
    pendingClicks.push(...later)
    const events = [...eventsForHour(world, hourStart, o.seed * 1000 + h), ...due].sort((a, b) => (a.ts as number) - (b.ts as number))
    for (const e of events) append(topics.events, e.userId as string, e, e.ts as number)
    summary.events += events.length
    processed += (await runner.run()).records
    for (const line of readTopicSince(log, topics.decisions, readFrom)) {
      const d = JSON.parse(line) as Decision
      const rand = seededRandom(`click\u0000${d.decisionId}`)
      const clicked = rand() < (world.trueCtr[d.materialId] ?? 0)
      summary.decisions++
      tally(summary.byPolicy, d.policy, clicked)
      tally(summary.byArm, `${d.experimentId ?? d.taskId}/${d.arm ?? d.policy}`, clicked)
      tally(summary.byTask, d.taskId, clicked)
      tally(summary.byMaterial as { [k: string]: Tally }, d.materialId, clicked)
      if (clicked) {
        summary.clicks++
        const ts = d.sendAt + 60_000 + Math.floor(rand() * 20 * 60_000)
        pendingClicks.push({ eventId: `click-${d.decisionId}`, userId: d.userId, type: 'push_click', ts, attrs: { decisionId: d.decisionId, materialId: d.materialId } })
      }
    }
    readFrom = endOffsets(log, topics.decisions)
    o.onHour?.(h + 1, hours, { events: summary.events, decisions: summary.decisions })
  }
  for (const [id, t] of Object.entries(summary.byMaterial)) t.trueCtr = world.trueCtr[id] ?? 0
  for (const line of readTopicSince(log, topics.suppressions, from.get(topics.suppressions) ?? [])) {
    const s = JSON.parse(line) as Suppression
    summary.suppressions[s.reason] = (summary.suppressions[s.reason] ?? 0) + 1
  }
  mkdirSync(o.outDir, { recursive: true })
  for (const t of watched) {
    const file = join(o.outDir, `${t}.jsonl`)
    await writeLines(file, readTopicSince(log, t, from.get(t) ?? []))
    summary.outputs[t] = file
  }
  summary.deadLetters = runner.deadLetters()
  summary.processed = processed
  await runner.close()
  summary.elapsedMs = performance.now() - started
  return summary
}
