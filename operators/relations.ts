/**
 * Relations: the user-item half of relational IFTTT, keyed by item.
 *
 * Input: one stream keyed by item merging behavior events that build or end a relation
 * (repartitioned by `itemId`) and item events (`item-events`); broadcast: tasks (and materials,
 * so that tasks apply here when they apply in the Task Center).
 * - A behavior event of a type in `hermes.relations.<type>.events` builds (or refreshes) the
 *   user's relation of that type to the item: first and latest event time, count. One in
 *   `removedBy` ends it. A relation lasts `ttlMs` after its latest event; at most
 *   `hermes.maxRelationsPerItem` are kept per item, the most recent.
 * - An item event of a type a live `item` task listens to fans out to the users related to the
 *   item by one of the trigger's `relation.types` (the first listed wins when a user holds
 *   several), within `relation.withinMs` of the relation's latest event when set. At most
 *   `fanout.maxUsers` users per item event and task, the most recent relations first; the others
 *   are counted (`hermes_operator_events_total{event="fanout_limited",reason=<taskId>}`), not
 *   suppressed one by one, so that a popular item costs no more than the limit. Each recipient
 *   gets a send time spread over `fanout.spreadMs` by a stable hash of (task, user, item event).
 *
 * The fan-out records, keyed by user, go back to the user side (a repartition by user), where the
 * Task Center checks the task, the audience and `when` with the user's state (operators/task-center.ts).
 */
import type { Processor, ProcessorContext, Record, StoreSpec } from '../pipeline/api/index.ts'
import { Record as RecordCtor, mapStore } from '../pipeline/api/index.ts'
import type { MaterialConfig, TaskConfig } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { ingestConfig, taskLive } from './config-ingest.ts'
import { unitHash } from './ids.ts'
import type { ItemEvent } from './item-event.ts'
import type { Settings } from './settings.ts'
import type { BehaviorEvent, ItemRelation } from './types.ts'

/** The `kind` of a fan-out record: how the Task Center tells it from a behavior event. */
export const ITEM_FANOUT = 'item-fanout'

/** One recipient of an item event for one task: the output of {@link relations}, keyed by user. */
export interface ItemFanOut {
  kind: typeof ITEM_FANOUT
  userId: string
  taskId: string
  item: ItemEvent
  relation: ItemRelation
  /** When the candidate goes out: the item event's time plus this user's share of `fanout.spreadMs`. */
  sendAt: number
}

/** One relation as stored: [firstTs, lastTs, count], under the field `<type> NUL <userId>`. */
type Entry = [number, number, number]
const SEP = '\u0000'

/** Options of {@link relations}. */
export interface RelationsOptions {
  topics: ConfigTopics & { items: string }
  settings: Settings
}

/** The keyed stores the relations node needs, as a topology declares them. */
export function relationsStores(settings: Settings): { [name: string]: StoreSpec } {
  const longest = Math.max(1, ...Object.values(settings.relations).map((r) => r.ttlMs))
  // An item with no relation event for longer than the longest lifetime holds nothing alive.
  return { relations: mapStore({ ttlMs: longest }) }
}

/** The behavior event types that build or end a relation: the only ones worth sending to the item side. */
export function relationEventTypes(settings: Settings): Set<string> {
  const types = new Set<string>()
  for (const r of Object.values(settings.relations)) for (const t of [...r.events, ...r.removedBy]) types.add(t)
  return types
}

/**
 * Refuses an item task naming a relation type that `hermes.relations` does not define (it could
 * never fire): the reason, or null. For {@link ingestConfig}'s `checkTask`.
 */
export function checkRelationTypes(settings: Settings): (task: TaskConfig) => string | null {
  const known = Object.keys(settings.relations)
  return (task) => {
    if (task.trigger.type !== 'item') return null
    const unknown = task.trigger.relation.types.filter((t) => !Object.hasOwn(settings.relations, t))
    if (unknown.length === 0) return null
    return `trigger.relation.types: unknown relation type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t}"`).join(', ')} (hermes.relations defines ${known.length ? known.join(', ') : 'none'})`
  }
}

export function relations(options: RelationsOptions): Processor<unknown, ItemFanOut> {
  const { topics, settings } = options
  const defs = settings.relations
  const checkTask = checkRelationTypes(settings)
  let ctx!: ProcessorContext<ItemFanOut>

  const store = () => ctx.mapStore<Entry>('relations')
  const ttlOf = (type: string): number => (Object.hasOwn(defs, type) ? (defs[type] as { ttlMs: number }).ttlMs : 0)
  const alive = (type: string, e: Entry, at: number): boolean => e[1] + ttlOf(type) > at

  /**
   * Drops expired relations (and those of types no longer configured); over the cap, also the
   * oldest, down to 90% of it, so that an item at its cap is not sorted again at every new relation.
   */
  const prune = (at: number): void => {
    const st = store()
    const live: Array<[string, number]> = []
    for (const [field, e] of st.entries()) {
      if (alive(field.slice(0, field.indexOf(SEP)), e, at)) live.push([field, e[1]])
      else st.delete(field)
    }
    if (live.length <= settings.maxRelationsPerItem) return
    const over = live.length - Math.floor(settings.maxRelationsPerItem * 0.9)
    live.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
    for (let i = 0; i < over; i++) st.delete((live[i] as [string, number])[0])
    ctx.count('relations_evicted', {}, over)
  }

  const onBehavior = (ev: BehaviorEvent, at: number): void => {
    const st = store()
    let changed = false
    for (const [type, def] of Object.entries(defs)) {
      const field = `${type}${SEP}${ev.userId}`
      if (def.removedBy.includes(ev.type)) {
        if (st.has(field)) st.delete(field)
        changed = true
      }
      if (!def.events.includes(ev.type)) continue
      const e = st.get(field)
      st.put(field, e && alive(type, e, at) ? [Math.min(e[0], at), Math.max(e[1], at), e[2] + 1] : [at, at, 1])
      changed = true
    }
    // Expired relations go when the item is read (onItemEvent) or grows past its cap, not at
    // every event: the cost of a relation event stays independent of the item's popularity.
    if (changed && st.size() > settings.maxRelationsPerItem) prune(at)
  }

  /** The users an item event reaches for one task, most recent relation first, each with the relation that qualifies them. */
  const recipients = (task: TaskConfig, entries: Array<[string, Entry]>, at: number): Array<[string, ItemRelation]> => {
    if (task.trigger.type !== 'item') return []
    const { types, withinMs } = task.trigger.relation
    const best = new Map<string, { rank: number; relation: ItemRelation }>()
    for (const [field, e] of entries) {
      const cut = field.indexOf(SEP)
      const type = field.slice(0, cut)
      const rank = types.indexOf(type)
      // Built after the item event (possible on Kafka, where partitions interleave): not yet related.
      if (rank < 0 || !alive(type, e, at) || e[0] > at) continue
      if (withinMs !== undefined && e[1] <= at - withinMs) continue
      const userId = field.slice(cut + 1)
      const held = best.get(userId)
      if (!held || rank < held.rank) best.set(userId, { rank, relation: { type, firstTs: e[0], lastTs: e[1], count: e[2] } })
    }
    return [...best]
      .map(([userId, b]): [string, ItemRelation] => [userId, b.relation])
      .sort((a, b) => b[1].lastTs - a[1].lastTs || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }

  const onItemEvent = (item: ItemEvent, at: number): void => {
    const tasks = ctx
      .broadcastStore<TaskConfig>('tasks')
      .entries()
      .filter(([, t]) => t.trigger.type === 'item' && t.trigger.events.includes(item.type) && taskLive(t, at))
    if (tasks.length === 0) return
    prune(at)
    const entries = store().entries()
    for (const [taskId, task] of tasks) {
      if (task.trigger.type !== 'item') continue
      const { maxUsers, spreadMs } = task.trigger.fanout
      const users = recipients(task, entries, at)
      if (users.length > maxUsers) ctx.count('fanout_limited', { reason: taskId }, users.length - maxUsers)
      const chosen = users.slice(0, maxUsers)
      for (const [userId, relation] of chosen) {
        const sendAt = at + Math.floor(unitHash(`${taskId}${SEP}${userId}${SEP}${item.eventId}`) * spreadMs)
        const value: ItemFanOut = { kind: ITEM_FANOUT, userId, taskId, item, relation, sendAt }
        // At the item event's time, not the send time: a later timestamp would move event time
        // ahead of the records still to come; the Task Center holds the candidate until sendAt.
        ctx.forward(new RecordCtor<ItemFanOut>({ key: userId, value, timestamp: at }))
      }
      if (chosen.length) ctx.count('fanout', { reason: taskId }, chosen.length)
    }
  }

  return {
    init(c) {
      ctx = c
    },
    processBroadcast(record) {
      // The Task Center reports bad tasks; this node only keeps the same view of them.
      ingestConfig(ctx, topics, { tasks: ctx.broadcastStore<TaskConfig>('tasks'), materials: ctx.broadcastStore<MaterialConfig>('materials') }, record, {
        deadLetter: false,
        materialWaitMs: settings.materialWaitMs,
        checkTask,
      })
    },
    process(record: Record<unknown>) {
      if (record.topic === topics.items) onItemEvent(record.value as ItemEvent, record.timestamp)
      else onBehavior(record.value as BehaviorEvent, record.timestamp)
    },
  }
}
