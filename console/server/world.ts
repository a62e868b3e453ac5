/**
 * What the console needs of the system it fronts, whatever the mode: the configuration in force,
 * a way to publish a change, the recorded inputs and outputs, and a user's live state. Embedded
 * mode implements it over the state directory `npm start` leaves (embedded-world.ts), Kafka mode
 * over the topics (kafka-world.ts).
 */
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import type { KeyQueryResult } from '../../pipeline/observability/key-query.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import type { Exposure } from '../../operators/exposures.ts'
import type { ItemEvent } from '../../operators/item-event.ts'
import type { History } from './replay-history.ts'

/** The kinds published to a topic of their own. */
export type TopicKind = 'tasks' | 'materials' | 'audiences'

/** A user as the configuration describes them. */
export interface UserProfile {
  userId: string
  timezone: string
  pushEnabled: boolean
  segments: string[]
}

/** Rates over the last minute of processing (or of records read, on Kafka). */
export interface LiveRates {
  ratePerSec: { events: number; decisions: number; suppressions: number }
  lag?: number
  watermark?: number
}

/** What a simulated event caused. */
export interface SimulationResult {
  decisions: Decision[]
  suppressions: Suppression[]
  deadLetters: string[]
}

/** The world behind a console. */
export interface World {
  readonly mode: 'embedded' | 'kafka'
  readonly config: HermesConfig
  /** The records in force, by id (audiences: `<segmentId>:<userId>`, members only). */
  current(kind: TopicKind): Map<string, unknown>
  /** Publishes a record (null: delete it) to its configuration topic. */
  publish(kind: TopicKind, id: string, record: unknown): Promise<void>
  /** Users with a profile or a segment membership. */
  users(): Map<string, UserProfile>
  /** Recorded behavior events, in time order. */
  events(): readonly BehaviorEvent[]
  decisions(): readonly Decision[]
  suppressions(): readonly Suppression[]
  /** Every candidate's exposure (sent, suppressed, held out) with its experiment and arm. */
  exposures(): readonly Exposure[]
  /** Recorded item events (price drops, restocks...), in time order. */
  itemEvents(): readonly ItemEvent[]
  /**
   * The recorded inputs in the runs that processed them, for backtests that reproduce the world
   * (embedded). Undefined when the runs are not known (Kafka): backtests then replay a snapshot.
   */
  history?(): History
  /** Configuration records in force as the pipeline reads them: profiles and memberships. */
  profiles(): unknown[]
  memberships(): unknown[]
  /**
   * Simulates a behavior event: processes it and returns what it caused; `deadLetters` holds the
   * reasons when the pipeline refused it (it is then in the dead-letter topic, as any bad input).
   */
  simulate(event: BehaviorEvent): Promise<SimulationResult>
  /** Event time for a simulated event that names none: just after the newest recorded event. */
  nextEventTime(): number
  /** The user's keyed state and timers from the task that owns them (null: unreachable). */
  userState(userId: string): Promise<KeyQueryResult | null>
  live(): LiveRates
  close(): Promise<void>
}

/** Splits an audience id `<segmentId>:<userId>`. */
export function splitAudienceId(id: string): { segmentId: string; userId: string } | null {
  const i = id.indexOf(':')
  return i > 0 && i < id.length - 1 ? { segmentId: id.slice(0, i), userId: id.slice(i + 1) } : null
}

/**
 * The configuration in force from a topic's records in order: the last record per id wins, a
 * null or `status: "deleted"` value removes it; audience records add or remove memberships.
 */
export class ConfigView {
  readonly tasks = new Map<string, unknown>()
  readonly materials = new Map<string, unknown>()
  readonly audiences = new Map<string, unknown>()
  readonly profiles = new Map<string, { userId: string; timezone: string; pushEnabled: boolean }>()

  /** Applies one record of a configuration topic (by kind, or `users`). */
  apply(kind: TopicKind | 'users', key: string | null, value: unknown): void {
    const v = value as { [k: string]: unknown } | null
    if (kind === 'users') {
      if (v && typeof v.userId === 'string') this.profiles.set(v.userId, { userId: v.userId, timezone: typeof v.timezone === 'string' ? v.timezone : 'UTC', pushEnabled: v.pushEnabled !== false })
      return
    }
    if (kind === 'audiences') {
      if (!v || typeof v.userId !== 'string' || typeof v.segmentId !== 'string') return
      const id = `${v.segmentId}:${v.userId}`
      if (v.member === false) this.audiences.delete(id)
      else this.audiences.set(id, v)
      return
    }
    const map = kind === 'tasks' ? this.tasks : this.materials
    const field = kind === 'tasks' ? 'taskId' : 'materialId'
    const id = key ?? (v && typeof v[field] === 'string' ? (v[field] as string) : null)
    if (id === null) return
    if (v === null || v.status === 'deleted') map.delete(id)
    else map.set(id, v)
  }

  /** Users with a profile or a membership, with their segments. */
  users(): Map<string, UserProfile> {
    const out = new Map<string, UserProfile>()
    for (const p of this.profiles.values()) out.set(p.userId, { ...p, segments: [] })
    for (const id of this.audiences.keys()) {
      const a = splitAudienceId(id)
      if (!a) continue
      let u = out.get(a.userId)
      if (!u) {
        u = { userId: a.userId, timezone: 'UTC', pushEnabled: true, segments: [] }
        out.set(a.userId, u)
      }
      u.segments.push(a.segmentId)
    }
    return out
  }
}

/** Counts per second over a sliding minute. */
export class RateMeter {
  private readonly marks: Array<{ at: number; events: number; decisions: number; suppressions: number }> = []
  constructor(private readonly clock: () => number = Date.now) {}
  add(n: { events: number; decisions: number; suppressions: number }): void {
    this.marks.push({ at: this.clock(), ...n })
  }
  rates(): LiveRates['ratePerSec'] {
    const since = this.clock() - 60_000
    while (this.marks.length && (this.marks[0] as { at: number }).at < since) this.marks.shift()
    const sum = { events: 0, decisions: 0, suppressions: 0 }
    for (const m of this.marks) {
      sum.events += m.events
      sum.decisions += m.decisions
      sum.suppressions += m.suppressions
    }
    return { events: sum.events / 60, decisions: sum.decisions / 60, suppressions: sum.suppressions / 60 }
  }
}
