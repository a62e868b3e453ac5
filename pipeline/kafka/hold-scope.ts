import type { Plan, SubTopology } from '../runtime/plan.ts'

/** The topics one sub-topology reads (broadcast ones included) and writes (sinks, repartitions). */
export interface ScopeUnit {
  reads: readonly string[]
  writes: readonly string[]
}

/** A sub-topology as a {@link ScopeUnit}: its sources; its sinks, keyBy repartition topics and misplaced-record topics. */
export function scopeUnit(plan: Plan, sub: SubTopology): ScopeUnit {
  const writes: string[] = []
  for (const n of sub.nodes) {
    if (n.kind === 'sink') writes.push(n.topic)
    else if (n.kind === 'keyBy') writes.push(plan.repartitionTopics.get(n.id) as string)
  }
  for (const s of sub.sources) if (s.misplacedTopic !== undefined) writes.push(s.misplacedTopic)
  return { reads: sub.sources.map((s) => s.topic), writes }
}

/**
 * Which processing a record of ours still on its way (written to a partition this process also
 * reads, see {@link InFlightTimes}) holds back, so that a Kafka run gives what the embedded log's
 * global timestamp order gives without stopping everything else: holding back every task made
 * the loop stall at every produce/fetch round trip (issue 9).
 *
 * The order that matters is the order in which records reach each partition this process reads,
 * and each task. Say a record at time t is on its way to a partition read by sub-topology Y.
 * Processing a later record r of sub-topology S now is safe unless r's effects and t's can meet
 * in some partition in the wrong order: when Y writes, directly or further down, to topics this
 * process reads (keyed or broadcast) that S also reaches, r's effects could get there first, as
 * happened to material-stats when only Y's own tasks were held (test/kafka/decisions.kafka.test.ts).
 * So:
 * - Y reaches no topic read here (the bench's running count, writing only to an output topic):
 *   only the tasks reading t's partition wait (they merge it with their other partitions by
 *   timestamp). Y's other tasks and the sub-topologies upstream go on; what they write to t's
 *   partition lands after t there, since one producer writes a partition in the order records
 *   were produced. The tasks reading it keep their time as embedded (see InputView.appClock).
 * - otherwise every sub-topology whose reach shares a topic with Y's (Y itself, and every one
 *   upstream of Y, which reaches what Y reaches) waits, as the global wait did.
 * Reach spans every app of the process (push-decisions feeds material-stats, whose stats come
 * back as broadcast state). Only sound where one producer writes each partition read here in the
 * order records were produced: at-least-once (one producer for all outputs) and exactly_once_v2
 * (one transactional producer per app, if no two apps write a topic read here; a read_committed
 * reader sees a transaction's records together, in that order, once it commits; the runner
 * uses it there only while one instance holds every task, see KafkaRunner.start). With a
 * transactional producer per task (exactly_once v1), records of different tasks reach a
 * partition in any order, so the runner keeps the global wait there.
 */
export class HoldScope {
  /** First unit index of each app; unit = base[app] + sub id. */
  private readonly base: number[] = []
  /** Per unit: the units a record on its way to it holds back, or null: only the tasks reading its partition. */
  private readonly held: Array<number[] | null> = []
  /** Scratch for the loop: the latest timestamp each unit may process now. */
  readonly limits: Float64Array

  /** `units[app][subId]`: the topics each sub-topology of each app reads and writes. */
  constructor(units: ReadonlyArray<ReadonlyArray<ScopeUnit>>) {
    const flat: ScopeUnit[] = []
    for (const app of units) {
      this.base.push(flat.length)
      flat.push(...app)
    }
    const readers = new Map<string, number[]>()
    flat.forEach((u, i) => {
      for (const t of u.reads) {
        let list = readers.get(t)
        if (!list) readers.set(t, (list = []))
        if (!list.includes(i)) list.push(i)
      }
    })
    const reach = flat.map((_, i) => reachOf(i, flat, readers))
    for (let y = 0; y < flat.length; y++) {
      const ry = reach[y] as Set<string>
      if (ry.size === 0) {
        this.held.push(null)
        continue
      }
      const list: number[] = []
      for (let s = 0; s < flat.length; s++) if (s === y || [...(reach[s] as Set<string>)].some((t) => ry.has(t))) list.push(s)
      this.held.push(list)
    }
    this.limits = new Float64Array(flat.length).fill(Infinity)
  }

  /**
   * The scope of the apps' plans (one unit per sub-topology, in app order). `producerPerApp`
   * (exactly_once_v2: one transactional producer per app): undefined, for the global wait, when
   * two apps write a topic read here, since their producers' records reach its partitions in no
   * order of ours.
   */
  static of(apps: ReadonlyArray<{ app: { plan: Plan } }>, producerPerApp = false): HoldScope | undefined {
    const units = apps.map((a) => a.app.plan.subtopologies.map((sub) => scopeUnit(a.app.plan, sub)))
    return producerPerApp && !oneWriterAppPerTopic(units) ? undefined : new HoldScope(units)
  }

  /** The unit of sub-topology `subId` of the app at `appIndex`. */
  unit(appIndex: number, subId: number): number {
    return (this.base[appIndex] as number) + subId
  }

  /** What a record on its way to unit `u` holds back: units, or null for only the tasks reading its partition. */
  holds(u: number): readonly number[] | null {
    return this.held[u] ?? null
  }
}

/** Topics read in this process that unit `start` writes to, directly or through their readers. */
function reachOf(start: number, units: readonly ScopeUnit[], readers: ReadonlyMap<string, readonly number[]>): Set<string> {
  const out = new Set<string>()
  const seen = new Set<number>([start])
  const stack = [start]
  while (stack.length) {
    const u = units[stack.pop() as number] as ScopeUnit
    for (const t of u.writes) {
      const rs = readers.get(t)
      if (!rs) continue
      out.add(t)
      for (const r of rs) {
        if (seen.has(r)) continue
        seen.add(r)
        stack.push(r)
      }
    }
  }
  return out
}

/** Whether each topic read in this process is written by the units of one app at most. */
export function oneWriterAppPerTopic(units: ReadonlyArray<ReadonlyArray<ScopeUnit>>): boolean {
  const read = new Set(units.flatMap((app) => app.flatMap((u) => u.reads)))
  const writer = new Map<string, number>()
  for (let i = 0; i < units.length; i++) {
    for (const u of units[i] as ReadonlyArray<ScopeUnit>) {
      for (const t of u.writes) {
        if (!read.has(t)) continue
        if ((writer.get(t) ?? i) !== i) return false
        writer.set(t, i)
      }
    }
  }
  return true
}
