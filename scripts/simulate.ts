/**
 * A closed-loop simulation of the decision flow, embedded, in the world of scripts/sim/world.ts:
 * the world's behavior events (and item events) go in hour by hour, both topologies run
 * (push-decisions and material-stats over one log), and each decision is judged by the world's
 * click model (scripts/sim/clicks.ts), a click arriving as a push_click event a few minutes after
 * the send. Push 1.0 (scripts/sim/push1.ts) pushes into the same world in the same loop, so both
 * are judged by one truth. Deterministic for a seed.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { HermesConfig } from '../pipeline/config/schema.ts'
import { EmbeddedLog } from '../pipeline/embedded/log.ts'
import { endOffsets, readTopicSince, writeLines } from '../pipeline/embedded/files.ts'
import { EmbeddedRunner } from '../pipeline/embedded/runner.ts'
import type { HermesLogger } from '../pipeline/observability/logger.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'
import type { Decision, Suppression } from '../operators/types.ts'
import materialStats from '../topologies/material-stats.ts'
import { parseSettings } from '../operators/settings.ts'
import pushDecisions from '../topologies/push-decisions.ts'
import { clickProbability, drawClick, pushedItem, PushLedger } from './sim/clicks.ts'
import type { Push } from './sim/clicks.ts'
import { Push1 } from './sim/push1.ts'
import type { JudgedPush } from './sim/push1.ts'
import { countViolations, systemQuality } from './sim/quality.ts'
import type { Rules, SystemQuality } from './sim/quality.ts'
import { appealOf, materialRecord } from './sim/sample-config.ts'
import type { SampleConfig } from './sim/sample-config.ts'
import { DAY, HOUR, World } from './sim/world.ts'
import type { WorldOptions } from './sim/world.ts'

/** Options of {@link simulate}. */
export interface SimulationOptions {
  users: number
  days: number
  seed: number
  start: number
  /** A variant of the world (scripts/sim/world.ts, `WorldOptions.variant`): does a result generalize? */
  variant?: WorldOptions['variant']
  config: HermesConfig
  /** Materials and tasks Hermes runs with (scripts/sim/sample-config.ts). */
  sample: SampleConfig
  logger: HermesLogger
  /** Where outputs (JSONL) are written; the log and state go under config.runtime.stateDir. */
  outDir: string
  /**
   * Days of the world's history fed to Hermes before `start` (default 0): activity histograms,
   * counts and relations fill up; tasks go live at `start` (their `validFrom`), Push 1.0 starts
   * then too, and only pushes from `start` on are measured.
   */
  warmupDays?: number
  /** Local hour of Push 1.0's daily push (default 20). */
  push1Hour?: number
  onHour?: (hour: number, hours: number, totals: { events: number; decisions: number }) => void
}

/** Pushes, clicks and expected clicks of one group of decisions. */
export interface Tally {
  decisions: number
  clicks: number
  /** Sum of the true click probabilities of the decisions. */
  expected: number
}

/** What a simulation run produced. */
export interface SimulationSummary {
  events: number
  itemEvents: number
  clicks: number
  decisions: number
  suppressions: { [reason: string]: number }
  byPolicy: { [policy: string]: Tally }
  byArm: { [arm: string]: Tally }
  byTask: { [task: string]: Tally }
  byMaterial: { [material: string]: Tally }
  deadLetters: number
  processed: number
  elapsedMs: number
  outputs: { [topic: string]: string }
  hermes: SystemQuality
  push1: SystemQuality
  push1Scene: string
  push1Hour: number
  /** Hermes' pushes as the world judged them, in send order. */
  pushes: JudgedPush[]
  /** Every Push 1.0 scene's mean true click rate, best first (the choice of its scene). */
  push1Scenes: Array<{ scene: string; expectedCtr: number }>
}

/** The rules the world checks pushes against: Hermes' fatigue settings and the tasks' own caps. */
export function rulesOf(config: HermesConfig, sample: SampleConfig): Rules {
  const f = parseSettings(config.hermes).fatigue
  const taskCaps: Rules['taskCaps'] = {}
  for (const t of sample.tasks) {
    const cap = t.fatigue as { max: number; windowMs: number } | undefined
    if (cap) taskCaps[t.taskId] = cap
  }
  return { ...f, taskCaps, contentCaps: sample.features.includes('model') }
}

/**
 * Runs the closed loop: `warmupDays` of history, then `days` measured, Hermes and Push 1.0 in one
 * world. Writes the watched topics as JSONL under `outDir`; returns the summary and both systems'
 * decision quality. Deterministic for a seed (only `elapsedMs` varies).
 */
export async function simulate(o: SimulationOptions): Promise<SimulationSummary> {
  const started = performance.now()
  const warmupDays = o.warmupDays ?? 0
  const world = new World({ users: o.users, seed: o.seed, start: o.start - warmupDays * DAY, ...(o.variant ? { variant: o.variant } : {}) })
  const push1 = new Push1(world, { materials: o.sample.materials, hour: o.push1Hour })
  const env = { settings: o.config.hermes }
  const topologies = [pushDecisions(env), materialStats(env)]
  // The names the topologies were built with: `hermes.topics` may rename them.
  const topics = parseSettings(o.config.hermes).topics
  // Today's topologies do not read item events; they are written for the relations feature and
  // the outputs (a topic no topology reads is only stored).
  const itemTopic = (topics as { itemEvents?: string }).itemEvents ?? 'item-events'
  const deliveries = o.sample.features.includes('model')
  mkdirSync(o.config.runtime.stateDir, { recursive: true })
  const log = EmbeddedLog.open(join(o.config.runtime.stateDir, 'log'))
  const state = o.config.runtime.stateBackend === 'rocksdb' ? ({ kind: 'rocksdb', dir: join(o.config.runtime.stateDir, 'state') } as const) : ({ kind: 'memory', maps: new Map() } as const)
  const runner = await EmbeddedRunner.open({ topologies, config: o.config, log, state, logger: o.logger })
  if (!log.hasTopic(itemTopic)) log.createTopic(itemTopic, o.config.topics.defaultPartitions)
  const watched = [topics.decisions, topics.suppressions, topics.stats, itemTopic, ...topologies.map((t) => `${t.name}.dlq`)]
  const from = new Map(watched.map((t) => [t, endOffsets(log, t)]))
  const append = (topic: string, key: string, value: object, ts: number): void => {
    log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
  }
  for (const m of o.sample.materials) append(topics.materials, m.materialId, materialRecord(m), 0)
  for (const t of o.sample.tasks) append(topics.tasks, t.taskId, { ...t, validFrom: Math.max(o.start, (t.validFrom as number | undefined) ?? 0) }, 0)
  for (const u of world.users) {
    append(topics.users, u.userId, { userId: u.userId, timezone: u.timezone, pushEnabled: u.pushEnabled }, 0)
    for (const s of u.segments) append(topics.audiences, u.userId, { userId: u.userId, segmentId: s, member: true }, 0)
  }
  let processed = (await runner.run()).records
  const summary = { events: 0, itemEvents: 0, clicks: 0, decisions: 0, suppressions: {}, byPolicy: {}, byArm: {}, byTask: {}, byMaterial: {} } as Pick<
    SimulationSummary,
    'events' | 'itemEvents' | 'clicks' | 'decisions' | 'suppressions' | 'byPolicy' | 'byArm' | 'byTask' | 'byMaterial'
  >
  const tally = (map: { [k: string]: Tally }, k: string, clicked: boolean, p: number): void => {
    const t = (map[k] ??= { decisions: 0, clicks: 0, expected: 0 })
    t.decisions++
    t.expected += p
    if (clicked) t.clicks++
  }
  const ledger = new PushLedger()
  const judged: JudgedPush[] = []
  const pending: Array<{ [k: string]: unknown; ts: number }> = []
  let readFrom = endOffsets(log, topics.decisions)
  // Event time of every event that may trigger a push, by event id: a push's delay after its trigger (held or not).
  const eventTs = new Map<string, number>()
  const hours = (warmupDays + o.days) * 24
  for (let h = 0; h < hours; h++) {
    const { hourStart, itemEvents, events } = world.advance()
    const hourEnd = hourStart + HOUR
    const due = pending.filter((c) => c.ts < hourEnd)
    const later = pending.filter((c) => c.ts >= hourEnd)
    pending.length = 0
    pending.push(...later)
    for (const e of itemEvents) {
      append(itemTopic, e.itemId, e, e.ts)
      eventTs.set(e.eventId, e.ts)
    }
    const all = [...events, ...due].sort((a, b) => a.ts - b.ts)
    for (const e of all) {
      append(topics.events, e.userId as string, e, e.ts)
      if (typeof e.eventId === 'string') eventTs.set(e.eventId, e.ts)
    }
    summary.events += all.length
    summary.itemEvents += itemEvents.length
    processed += (await runner.run()).records
    // Judged in send order, so each push's fatigue counts exactly the pushes sent before it.
    const decisions = readTopicSince(log, topics.decisions, readFrom).map((line) => JSON.parse(line) as Decision)
    decisions.sort((a, b) => a.sendAt - b.sendAt || (a.decisionId < b.decisionId ? -1 : 1))
    for (const d of decisions) {
      const push: Push = { userId: d.userId, decisionId: d.decisionId, sendAt: d.sendAt, materialId: d.materialId, itemId: pushedItem(d.deeplink) }
      const factors = clickProbability(world, push, appealOf(d.materialId), ledger)
      const p = factors.p
      ledger.add(d.userId, d.sendAt, push.itemId)
      const draw = drawClick(world.seed, push, p)
      const triggerTs = d.triggerEventId === null ? undefined : eventTs.get(d.triggerEventId)
      judged.push({ ...push, taskId: d.taskId, p, delivered: draw.delivered, clicked: draw.clicked, factors, ...(triggerTs === undefined ? {} : { triggerTs }) })
      summary.decisions++
      tally(summary.byPolicy, d.policy, draw.clicked, p)
      tally(summary.byArm, `${d.experimentId ?? d.taskId}/${d.arm ?? d.policy}`, draw.clicked, p)
      tally(summary.byTask, d.taskId, draw.clicked, p)
      tally(summary.byMaterial, d.materialId, draw.clicked, p)
      const attrs = { decisionId: d.decisionId, materialId: d.materialId }
      if (deliveries) pending.push({ eventId: `delivery-${d.decisionId}`, userId: d.userId, type: draw.delivered ? 'push_delivered' : 'push_failed', ts: d.sendAt + 5_000, attrs })
      if (draw.clicked && draw.clickAt !== null) {
        summary.clicks++
        pending.push({ eventId: `click-${d.decisionId}`, userId: d.userId, type: 'push_click', ts: draw.clickAt, attrs })
      }
    }
    readFrom = endOffsets(log, topics.decisions)
    if (hourStart >= o.start) push1.step(hourStart)
    o.onHour?.(h + 1, hours, { events: summary.events, decisions: summary.decisions })
  }
  const suppressions: { [reason: string]: number } = {}
  for (const line of readTopicSince(log, topics.suppressions, from.get(topics.suppressions) ?? [])) {
    const s = JSON.parse(line) as Suppression
    suppressions[s.reason] = (suppressions[s.reason] ?? 0) + 1
  }
  mkdirSync(o.outDir, { recursive: true })
  const outputs: { [topic: string]: string } = {}
  for (const t of watched) {
    const file = join(o.outDir, `${t}.jsonl`)
    await writeLines(file, readTopicSince(log, t, from.get(t) ?? []))
    outputs[t] = file
  }
  const deadLetters = runner.deadLetters()
  await runner.close()
  const rules = rulesOf(o.config, o.sample)
  const tz = (userId: string): string => world.user(userId)?.timezone ?? 'UTC'
  const userDays = o.users * o.days
  const best = push1.best()
  return {
    ...summary,
    suppressions,
    deadLetters,
    processed,
    elapsedMs: performance.now() - started,
    outputs,
    pushes: judged,
    hermes: systemQuality('Hermes', judged, userDays, countViolations(judged, rules, tz)),
    push1: systemQuality('Push 1.0', best.pushes, userDays, countViolations(best.pushes, rules, tz)),
    push1Scene: best.scene,
    push1Hour: push1.hour,
    push1Scenes: push1.results().map((r) => ({ scene: r.scene, expectedCtr: r.pushes.length ? r.expectedClicks / r.pushes.length : 0 })),
  }
}
