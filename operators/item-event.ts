/**
 * Item events (topic `item-events`, keyed by `itemId`): what happens to an item, such as a price
 * drop or a restock, as opposed to what a user does (behavior events). Validated strictly where
 * they are read, so a bad one goes to the dead-letter topic with a reason naming the field.
 */
import { z } from 'zod'
import { unknownField } from './config.ts'
import { isWellFormedId } from './types.ts'

/** An item event (schemas/item-event.avsc; JSON with the same field names). */
export interface ItemEvent {
  eventId: string
  itemId: string
  type: string
  ts: number
  category?: string | null
  attrs?: { [k: string]: string | number } | null
}

const id = z
  .string({ error: 'must be a non-empty string' })
  .min(1, 'must be a non-empty string')
  .refine(isWellFormedId, { message: 'is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)' })

const FIELDS = ['eventId', 'itemId', 'type', 'ts', 'category', 'attrs']

const itemEventSchema = z.strictObject(
  {
    eventId: id,
    itemId: id,
    type: id,
    ts: z.number({ error: 'must be epoch milliseconds (a number)' }),
    category: z.string().nullable().optional(),
    // A flat map, as behavior events' attrs: rules read it, templates render it, state keeps it.
    attrs: z.record(z.string(), z.union([z.string(), z.number().finite()], { error: 'must be a string or a number (attrs is a flat map)' }), { error: 'must be a flat map of strings and numbers' }).nullable().optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? issue.keys.map((k) => unknownField(k, FIELDS)).join('; ') : undefined) },
)

/**
 * Checks an item event (the check of the item-events source's serde): the reason it is refused,
 * naming each bad field, or null when it is fine.
 */
export function checkItemEvent(value: { [k: string]: unknown }): string | null {
  const r = itemEventSchema.safeParse(value)
  if (r.success) return null
  const problems = r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? i.message : `${i.path.join('.') || '(record)'}: ${i.message}`))
  return `invalid item event: ${problems.join('; ')}`
}
