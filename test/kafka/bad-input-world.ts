/**
 * The bad-input suite's world: topic and application names of one run, the production plan
 * (configuration first, profiles next, events last, each event timed when it is sent), what the
 * run produced, and the checks the cases are made of. The cases themselves are in
 * bad-input-cases.ts.
 */
import type { Decision, Suppression } from '../../operators/types.ts'
import type { Send } from './bad-input-producers.ts'
import type { OutRecord } from './helpers.ts'

/** Partitions of every keyed topic of the run. */
export const PARTITIONS = 4

/** Topic names of one push-decisions application (the `hermes.topics` setting). */
export interface FlowTopics {
  events: string
  audiences: string
  users: string
  tasks: string
  materials: string
  stats: string
  decisions: string
  suppressions: string
}

/** Names of one run: the JSON flow (push-decisions + material-stats) and an Avro flow beside it. */
export interface Names {
  json: FlowTopics
  avro: FlowTopics
  /** A third flow renamed by `hermes.topics` only, with no per-topic overrides (C12). */
  renamed: FlowTopics
  apps: { decisions: string; stats: string; avro: string; renamed: string }
}

const BASE: FlowTopics = { events: 'behavior-events', audiences: 'config.audiences', users: 'config.users', tasks: 'config.tasks', materials: 'config.materials', stats: 'material-stats', decisions: 'push-decisions', suppressions: 'push-suppressions' }

/** Names of a run with suffix `id` (see runId). */
export function names(id: string): Names {
  const suffixed = (tag: string): FlowTopics => Object.fromEntries(Object.entries(BASE).map(([k, v]) => [k, `${v}-${tag}${id}`])) as unknown as FlowTopics
  return {
    json: suffixed(''),
    avro: suffixed('avro-'),
    renamed: suffixed('renamed-'),
    apps: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}`, avro: `push-decisions-avro-${id}`, renamed: `push-decisions-renamed-${id}` },
  }
}

/** The default topic name a run's topic stands for (to copy `topics.overrides` from config/default.yaml). */
export function baseTopic(n: Names, topic: string): string | undefined {
  for (const flow of [n.json, n.avro]) for (const [k, v] of Object.entries(flow)) if (v === topic) return BASE[k as keyof FlowTopics]
  return undefined
}

/** An event record built when it is sent, so its `ts` is the wall clock of sending (after every configuration record). */
export type LazySend = (now: (aheadMs?: number) => number) => Send

/** What to produce, in order, per phase. */
export class Plan {
  /** kcat, before the profiles: tasks and materials. */
  readonly config: Send[] = []
  /** `hermes produce` (Kafka mode), per topic, after the kcat configuration: JSON lines. */
  readonly cli: Array<{ topic: string; lines: string[] }> = []
  /** The Java client (murmur2), per topic: profiles and audience memberships. */
  readonly java = new Map<string, Array<{ key: string; value: string }>>()
  /** kcat, next: events of both flows, each case followed by its probe. */
  readonly events: LazySend[] = []
  /**
   * kcat, in a second run (a restart: state is read back from RocksDB, no cache): one record per
   * partition 65 s of event time on, which fires schedules and ends waits.
   */
  readonly ticks: LazySend[] = []
  /**
   * kcat, in a third run after the others have committed: the output too large for the broker,
   * which stalled the whole run before issue 11 (every commit failed, every partition replayed),
   * so on old code it cannot blur the other cases; then the last record of every partition.
   */
  readonly finalEvents: LazySend[] = []

  javaRecord(topic: string, key: string, value: object | string): void {
    let list = this.java.get(topic)
    if (!list) this.java.set(topic, (list = []))
    list.push({ key, value: typeof value === 'string' ? value : JSON.stringify(value) })
  }
}

/** A decision or suppression read back, with the application whose topic held it. */
export interface Out<T> {
  app: 'json' | 'avro'
  key: string | null
  value: T
}

/** Everything a run left behind, for the checks. */
export interface Outputs {
  decisions: Array<Out<Decision>>
  suppressions: Array<Out<Suppression>>
  /** Dead letters of every application, with the application whose DLQ held it. */
  dlq: Array<OutRecord & { app: string }>
  /** Topic configs (cleanup.policy, retention.ms) of the configuration topics; `<name>#topic` when set on the topic itself. */
  topicConfigs: Map<string, { [name: string]: string }>
  /** `hermes_operator_events_total` over all runs, per label set. */
  counts: Array<{ labels: { [name: string]: string | number }; value: number }>
  /** Every record of the JSON flow's configuration topics (tasks, materials). */
  configRecords: OutRecord[]
  /** Log lines at warn and above of all runs. */
  logs: Array<{ [k: string]: unknown }>
  names: Names
}

/** The sum of `hermes_operator_events_total` over the label sets that have every given label. */
export function counted(out: Outputs, labels: { [name: string]: string }): number {
  return out.counts.filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v)).reduce((n, c) => n + c.value, 0)
}

/** One check's result: whether it holds, and what was seen (for the table). */
export interface Verdict {
  pass: boolean
  observed: string
}

/** A row of the suite: what is sent (already in the plan) and how the outcome is judged. */
export interface Case {
  id: string
  name: string
  /** The issue 11 defect it covers ("1".."9"), or "-" for inputs that were already handled. */
  defect: string
  expected: string
  check(out: Outputs): Verdict
}

/** All parts must hold; the observations are joined. */
export function all(...parts: Verdict[]): Verdict {
  return { pass: parts.every((p) => p.pass), observed: parts.map((p) => (p.pass ? p.observed : `✗ ${p.observed}`)).join('; ') }
}

const short = (s: string, n = 90): string => (s.length > n ? `${s.slice(0, n)}…` : s)

/** Decisions addressed to `user` (by value or key) in one flow. */
export function decisionsFor(out: Outputs, user: string, app: 'json' | 'avro' = 'json'): Array<Decision> {
  return out.decisions.filter((d) => d.app === app && (d.value.userId === user || d.key === user)).map((d) => d.value)
}

/** Suppressions of `user` in one flow. */
export function suppressionsFor(out: Outputs, user: string, app: 'json' | 'avro' = 'json'): Array<Suppression> {
  return out.suppressions.filter((s) => s.app === app && (s.value.userId === user || s.key === user)).map((s) => s.value)
}

/** The probe event `eventId` of `user` became a decision of task t-probe, keyed and addressed to the user. */
export function probeDecided(out: Outputs, user: string, eventId: string, app: 'json' | 'avro' = 'json'): Verdict {
  const d = out.decisions.find((x) => x.app === app && x.value.triggerEventId === eventId && x.value.taskId === 't-probe')
  const pass = d !== undefined && d.value.userId === user && d.key === user
  return { pass, observed: d ? `next record decided${pass ? '' : ` but for user "${d.value.userId}" key "${d.key}"`}` : 'next record NOT decided' }
}

function sameBytes(a: Buffer | null | undefined, b: Buffer | null): boolean {
  if (b === null) return a === null || a === undefined
  return a !== null && a !== undefined && a.equals(b)
}

/**
 * The record went to `app`'s dead-letter topic with a reason matching every pattern and its
 * original bytes, and, if several applications read it, it is dead-lettered once or every copy
 * says which application saw it (`hermes.dlq.app`).
 */
export function deadLettered(out: Outputs, sent: Send, app: string, reasons: RegExp[]): Verdict {
  const matches = (r: OutRecord): boolean =>
    r.headers['hermes.dlq.topic'] === sent.topic && (sent.key !== undefined && sent.key !== null ? r.key === sent.key : sameBytes(r.bytes, sent.value))
  const copies = out.dlq.filter(matches)
  const mine = copies.find((c) => c.app === app)
  if (!mine) return { pass: false, observed: copies.length ? `dead-lettered only by ${copies.map((c) => c.app).join(', ')}` : 'NOT dead-lettered' }
  const reason = mine.headers['hermes.dlq.reason'] ?? ''
  const reasonOk = reason.length > 0 && reasons.every((p) => p.test(reason))
  const bytesOk = sameBytes(mine.bytes, sent.value)
  const apps = [...new Set(copies.map((c) => c.app))]
  const attributed = copies.length === 1 || copies.every((c) => c.headers['hermes.dlq.app'] === c.app)
  return all(
    { pass: reasonOk, observed: `DLQ reason "${short(reason)}"` },
    { pass: bytesOk, observed: bytesOk ? 'original bytes kept' : `bytes changed (${sent.value?.length ?? 'null'} → ${mine.bytes?.length ?? 'null'}: ${short(mine.bytes?.toString('utf8') ?? 'null', 40)})` },
    { pass: attributed, observed: copies.length === 1 ? 'dead-lettered once' : `${copies.length} copies (${apps.join(', ')})${attributed ? ' each with hermes.dlq.app' : ' without hermes.dlq.app'}` },
  )
}

/** A JSON value as bytes. */
export const json = (v: unknown, indent?: number): Buffer => Buffer.from(JSON.stringify(v, null, indent), 'utf8')
