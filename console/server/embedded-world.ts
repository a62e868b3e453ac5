/**
 * The embedded world: the state directory a run left (`npm start` → `.hermes/start/`), opened
 * with the same topologies, so that the console reads its configuration, inputs and outputs from
 * the embedded log, publishes changes by appending to the configuration topics and running the
 * topologies on them, and answers interactive queries from the RocksDB state.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { endOffsets, readTopicSince } from '../../pipeline/embedded/files.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { LogEntry } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { queryKey } from '../../pipeline/observability/key-query.ts'
import type { KeyQueryResult } from '../../pipeline/observability/key-query.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { parseSettings } from '../../operators/settings.ts'
import type { Settings } from '../../operators/settings.ts'
import type { Exposure } from '../../operators/exposures.ts'
import type { ItemEvent } from '../../operators/item-event.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { CLOCK_TOPIC, historyOfLog, inputTopics } from './replay-history.ts'
import type { History } from './replay-history.ts'
import type { LiveRates, SimulationResult, TopicKind, UserProfile, World } from './world.ts'
import { ConfigView, RateMeter, splitAudienceId } from './world.ts'

/** Values of one topic read so far, in append order, read on from where the last call stopped. */
class TopicReader<T> {
  private readonly positions: number[] = []
  readonly items: Array<{ key: string | null; value: T; ts: number }> = []
  constructor(private readonly log: EmbeddedLog, readonly topic: string) {}

  /** Reads what was appended since the last call; returns the new items. */
  refresh(): Array<{ key: string | null; value: T; ts: number }> {
    if (!this.log.hasTopic(this.topic)) return []
    const fresh: LogEntry[] = []
    for (let p = 0; p < this.log.partitions(this.topic); p++) {
      const end = this.log.endOffset(this.topic, p)
      for (let o = this.positions[p] ?? 0; o < end; o++) fresh.push(this.log.read(this.topic, p, o) as LogEntry)
      this.positions[p] = end
    }
    fresh.sort((a, b) => a.seq - b.seq)
    const out: Array<{ key: string | null; value: T; ts: number }> = []
    for (const e of fresh) {
      let value: unknown = null
      if (e.value !== null) {
        try {
          value = JSON.parse(e.value.toString('utf8'))
        } catch {
          continue // not JSON (a dead letter's business, not the console's)
        }
      }
      const item = { key: e.key, value: value as T, ts: e.timestamp }
      this.items.push(item)
      out.push(item)
    }
    return out
  }
}

/** Options of {@link EmbeddedWorld.open}. */
export interface EmbeddedWorldOptions {
  /** The directory a run left: `.hermes/start` (with `state/log`) or a `hermes run --state-dir`. */
  stateDir: string
  config: HermesConfig
  logger: HermesLogger
}

/** Where the embedded log and state of a run live under the directory given. */
export function runtimeDirOf(stateDir: string): string {
  const abs = resolve(stateDir)
  return existsSync(join(abs, 'state', 'log')) ? join(abs, 'state') : abs
}

/** The world of an embedded run, opened for the console. */
export class EmbeddedWorld implements World {
  readonly mode = 'embedded' as const
  private readonly view = new ConfigView()
  private readonly readers: { [k in TopicKind | 'users']: TopicReader<unknown> }
  private readonly eventReader: TopicReader<BehaviorEvent>
  private readonly decisionReader: TopicReader<Decision>
  private readonly suppressionReader: TopicReader<Suppression>
  private readonly exposureReader: TopicReader<Exposure>
  private readonly itemReader: TopicReader<ItemEvent>
  private sortedEvents: BehaviorEvent[] = []
  private queue: Promise<unknown> = Promise.resolve()
  private readonly meter = new RateMeter()
  private readonly topics: Settings['topics']
  private readonly settings: Settings

  private constructor(readonly config: HermesConfig, private readonly log: EmbeddedLog, private readonly runner: EmbeddedRunner) {
    this.settings = parseSettings(config.hermes)
    this.topics = this.settings.topics
    const t = this.topics
    this.readers = { tasks: new TopicReader(log, t.tasks), materials: new TopicReader(log, t.materials), audiences: new TopicReader(log, t.audiences), users: new TopicReader(log, t.users) }
    this.eventReader = new TopicReader(log, t.events)
    this.decisionReader = new TopicReader(log, t.decisions)
    this.suppressionReader = new TopicReader(log, t.suppressions)
    this.exposureReader = new TopicReader(log, t.exposures)
    this.itemReader = new TopicReader(log, t.items)
    this.refresh()
  }

  /** Opens the log and state of a run (which must have ended: RocksDB allows one process). */
  static async open(o: EmbeddedWorldOptions): Promise<EmbeddedWorld> {
    const dir = runtimeDirOf(o.stateDir)
    mkdirSync(dir, { recursive: true })
    const config: HermesConfig = { ...o.config, runtime: { ...o.config.runtime, stateDir: dir } }
    const log = EmbeddedLog.open(join(dir, 'log'))
    const env = { settings: config.hermes }
    const state = config.runtime.stateBackend === 'rocksdb' ? ({ kind: 'rocksdb', dir: join(dir, 'state') } as const) : ({ kind: 'memory', maps: new Map() } as const)
    let runner: EmbeddedRunner
    try {
      runner = await EmbeddedRunner.open({ topologies: [pushDecisions(env), materialStats(env)], config, log, state, logger: o.logger })
    } catch (err) {
      // RocksDB admits one process: the usual cause is a run still going on the same directory.
      if (/lock/i.test((err as Error).message)) throw new Error(`the state in ${join(dir, 'state')} is in use by another process (is \`npm start\` or \`hermes run\` still running on it?): ${(err as Error).message}`)
      throw err
    }
    // Anything appended since the run stopped (a crash between append and run) is processed now.
    await runner.run()
    return new EmbeddedWorld(config, log, runner)
  }

  private refresh(): void {
    for (const kind of ['users', 'tasks', 'materials', 'audiences'] as const) {
      for (const r of this.readers[kind].refresh()) this.view.apply(kind, r.key, r.value)
    }
    const fresh = this.eventReader.refresh()
    if (fresh.length) {
      const all = this.sortedEvents.concat(fresh.map((f) => f.value).filter((e) => e && typeof e.ts === 'number'))
      // Stable: events of equal time keep their log order.
      this.sortedEvents = all.sort((a, b) => a.ts - b.ts)
    }
    this.decisionReader.refresh()
    this.suppressionReader.refresh()
    this.exposureReader.refresh()
    this.itemReader.refresh()
  }

  history(): History {
    return historyOfLog(this.log, inputTopics(this.settings))
  }

  profiles(): unknown[] {
    this.refresh()
    return [...this.view.profiles.values()]
  }

  memberships(): unknown[] {
    this.refresh()
    return [...this.view.audiences.values()]
  }

  current(kind: TopicKind): Map<string, unknown> {
    this.refresh()
    return this.view[kind]
  }

  users(): Map<string, UserProfile> {
    this.refresh()
    return this.view.users()
  }

  events(): readonly BehaviorEvent[] {
    this.refresh()
    return this.sortedEvents
  }

  decisions(): readonly Decision[] {
    this.refresh()
    return this.decisionReader.items.map((i) => i.value)
  }

  suppressions(): readonly Suppression[] {
    this.refresh()
    return this.suppressionReader.items.map((i) => i.value)
  }

  exposures(): readonly Exposure[] {
    this.refresh()
    return this.exposureReader.items.map((i) => i.value)
  }

  itemEvents(): readonly ItemEvent[] {
    this.refresh()
    return this.itemReader.items.map((i) => i.value).filter((e) => e && typeof e.ts === 'number').sort((a, b) => a.ts - b.ts)
  }

  /** Event time of the newest event in the world (changes are appended at it, so they apply "now"). */
  private now(): number {
    const ev = this.events()
    return ev.length ? (ev[ev.length - 1] as BehaviorEvent).ts : 0
  }

  private append(topic: string, key: string, value: unknown, ts: number): void {
    if (!this.log.hasTopic(topic)) throw new Error(`topic ${topic} does not exist in the embedded log`)
    this.log.append(topic, partitionFor(key, this.log.partitions(topic)), key, value === null ? null : Buffer.from(JSON.stringify(value)), ts)
  }

  /** Runs `fn` after every earlier change: the runner processes one batch at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn)
    this.queue = p.catch(() => undefined)
    return p
  }

  publish(kind: TopicKind, id: string, record: unknown): Promise<void> {
    return this.serial(async () => {
      const ts = this.now()
      if (kind === 'audiences') {
        const a = splitAudienceId(id)
        if (!a) throw new Error(`audience id "${id}" is not <segmentId>:<userId>`)
        // Memberships are keyed by user; a deletion is `member: false`.
        this.append(this.topics.audiences, a.userId, record ?? { userId: a.userId, segmentId: a.segmentId, member: false }, ts)
      } else this.append(kind === 'tasks' ? this.topics.tasks : this.topics.materials, id, record, ts)
      await this.runner.run()
      this.refresh()
    })
  }

  simulate(event: BehaviorEvent): Promise<SimulationResult> {
    return this.serial(async () => {
      this.refresh()
      const d0 = this.decisionReader.items.length
      const s0 = this.suppressionReader.items.length
      const dlqs = this.runner.apps.map((a) => a.dlqTopic)
      const dlq0 = dlqs.map((t) => endOffsets(this.log, t))
      this.append(this.topics.events, event.userId, event, event.ts)
      await this.runner.run()
      // The world stands still after its run: nothing later moves event time, so a candidate
      // would wait in arbitration forever. The simulated event is "now", and time moves on just
      // past its arbitration window (delays, quiet hours and schedules still wait their time).
      const settle = event.ts + this.config.time.maxOutOfOrdernessMs + this.settings.fatigue.arbitrationWindowMs + 1
      // Recorded in the log, so that a backtest's replay moves time here too (replay.ts).
      if (!this.log.hasTopic(CLOCK_TOPIC)) this.log.createTopic(CLOCK_TOPIC, 1)
      this.log.append(CLOCK_TOPIC, 0, null, Buffer.from(JSON.stringify({ advanceTo: settle, after: event.eventId })), settle)
      this.runner.advanceEventTime(settle)
      await this.runner.run()
      this.refresh()
      const decisions = this.decisionReader.items.slice(d0).map((i) => i.value)
      const suppressions = this.suppressionReader.items.slice(s0).map((i) => i.value)
      this.meter.add({ events: 1, decisions: decisions.length, suppressions: suppressions.length })
      // Both topologies read the events: the same refusal comes once from each.
      const deadLetters = dlqs.flatMap((t, i) => readTopicSince(this.log, t, dlq0[i] ?? []).map((line) => String((JSON.parse(line) as { reason?: unknown }).reason)))
      return { decisions, suppressions, deadLetters: [...new Set(deadLetters)] }
    })
  }

  userState(userId: string): Promise<KeyQueryResult | null> {
    return this.serial(() => queryKey(this.runner.apps, userId))
  }

  live(): LiveRates {
    const wm = Math.min(...this.runner.apps.map((a) => a.watermark()))
    return { ratePerSec: this.meter.rates(), lag: 0, ...(Number.isFinite(wm) ? { watermark: wm } : {}) }
  }

  nextEventTime(): number {
    // An empty world has no event time yet: the wall clock then (time 0 would be refused).
    return this.events().length ? this.now() + 1000 : Date.now()
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      await this.runner.close()
      this.log.flush()
    })
  }
}
