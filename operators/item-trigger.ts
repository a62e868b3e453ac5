/**
 * Item triggers on the user side: what the Task Center needs to turn a fan-out record
 * (operators/relations.ts) into a candidate.
 */
import type { Record } from '../pipeline/api/index.ts'
import type { ItemFanOut } from './relations.ts'
import { ITEM_FANOUT } from './relations.ts'
import type { BehaviorEvent } from './types.ts'

/**
 * Whether a record reaching the Task Center is a fan-out record: marked so, and not read from
 * the behavior-events topic (where a producer's field named `kind` must not change its meaning).
 */
export function isItemFanOut(record: Record<unknown>, eventsTopic: string): record is Record<ItemFanOut> {
  const v = record.value as { kind?: unknown } | null
  return record.topic !== eventsTopic && v !== null && typeof v === 'object' && v.kind === ITEM_FANOUT
}

/** The decision trigger of an item event: the decision id hashes user, task and this. */
export const itemTrigger = (itemEventId: string): string => `item:${itemEventId}`

/**
 * The item event as the recipient's event: what rules see as `event` and templates render as
 * `{{event.*}}` (so `{{event.itemId}}` and `{{event.attrs.dropPct}}` work for item triggers as
 * for event triggers). Its `eventId` is the item event's.
 */
export function recipientEvent(f: ItemFanOut): BehaviorEvent {
  const { item } = f
  return { eventId: item.eventId, userId: f.userId, type: item.type, ts: item.ts, itemId: item.itemId, category: item.category ?? null, attrs: item.attrs ?? null }
}
