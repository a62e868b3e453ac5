/**
 * The input of the fault run, a function of the seed only: users in several time zones with
 * segments (scripts/hermes-workload.ts), materials, tasks with delayed and `unless` triggers, and a
 * simulated day of behavior events in which many add-to-carts are followed by a purchase, some
 * within the cart push's 30 minutes (a cancellation) and some after it.
 */
import { mulberry32 } from '../../operators/ids.ts'
import { buildWorld, configRecords } from '../hermes-workload.ts'
import type { ConfigRecord } from '../hermes-workload.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The simulated day: fixed and in the past, so that every run of a seed has the same input. */
export const DAY_START = Date.UTC(2026, 10, 2)

/** Topic names of one run of the flow (see `hermes.topics`). */
export interface FlowTopics {
  events: string
  users: string
  audiences: string
  tasks: string
  materials: string
}

/** A behavior event as produced (JSON form of docs/producers.md). */
export interface ChaosEvent {
  eventId: string
  userId: string
  type: string
  ts: number
  itemId?: string
  attrs?: { [k: string]: string | number }
}

/** The input of a run: configuration records (loaded first) and events in time order. */
export interface ChaosInput {
  config: Array<ConfigRecord & { ts: number }>
  events: ChaosEvent[]
}

/**
 * The tasks: a cart push delayed 30 minutes and cancelled by a purchase within them; a browse
 * follow-up held 20 minutes and cancelled by a chat; an immediate price-drop push; a win-back
 * on the first app open of a day; a scheduled morning push to VIPs (timers across the day).
 */
export function chaosTasks(): Array<{ taskId: string; [k: string]: unknown }> {
  return [
    {
      taskId: 'cart-abandon',
      priority: 20,
      trigger: { type: 'event', events: ['add_to_cart'], delayMs: 30 * MINUTE, unless: { events: ['purchase'], withinMs: 30 * MINUTE } },
      materials: ['m4', 'm5'],
      policy: 'greedy',
      quietHours: 'defer',
    },
    {
      taskId: 'browse-follow-up',
      priority: 8,
      trigger: { type: 'event', events: ['view'], when: { '>=': [{ var: 'counts.view.1h' }, 3] }, delayMs: 15 * MINUTE, unless: { events: ['chat', 'purchase'], withinMs: 20 * MINUTE } },
      materials: ['m7', 'm3'],
      policy: 'thompson',
      fatigue: { max: 1, windowMs: 6 * HOUR },
    },
    {
      taskId: 'price-drop',
      priority: 10,
      trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } },
      audience: { include: [], exclude: ['churned'] },
      materials: ['m1', 'm2', 'm3'],
      experiment: { id: 'exp-price', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'thompson', weight: 50, policy: 'thompson' }] },
      quietHours: 'drop',
    },
    {
      taskId: 'win-back',
      priority: 1,
      trigger: { type: 'event', events: ['app_open'], when: { '<=': [{ var: 'counts.app_open.24h' }, 1] } },
      materials: ['m6', 'm7'],
      policy: 'greedy',
    },
    {
      taskId: 'morning-vip',
      priority: 5,
      trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Asia/Shanghai', spreadMs: 20 * MINUTE },
      audience: { include: ['vip'], exclude: [] },
      materials: ['m6', 'm8'],
      policy: 'thompson',
    },
  ]
}

/** Event types and their weights; an add-to-cart may bring a purchase after it (see {@link chaosInput}). */
const TYPES: Array<[string, number]> = [['app_open', 3], ['view', 6], ['add_to_cart', 2], ['chat', 0.6], ['price_drop', 0.8], ['search', 1.5]]

/**
 * The run's input for `seed`: `users` users and about `events` behavior events over
 * {@link DAY_START}'s day, in time order. Half of the add-to-carts are
 * followed by a purchase of the same item 1 to 60 minutes later (within the cart push's 30
 * minutes about half the time). Configuration records are dated a day earlier, so they are in
 * place before the first event.
 */
export function chaosInput(options: { seed: number; users: number; events: number; topics: FlowTopics }): ChaosInput {
  const world = buildWorld({ users: options.users, seed: options.seed })
  world.tasks = chaosTasks()
  const config = configRecords(world, options.topics).map((r) => ({ ...r, ts: DAY_START - DAY }))
  const rand = mulberry32(options.seed ^ 0x5eed)
  const total = TYPES.reduce((s, [, w]) => s + w, 0)
  const events: ChaosEvent[] = []
  let n = 0
  while (events.length < options.events) {
    const user = world.users[Math.floor(rand() * world.users.length)] as (typeof world.users)[number]
    const ts = DAY_START + Math.floor(rand() * DAY)
    // The first type whose cumulative weight reaches the draw.
    let left = rand() * total
    const type = TYPES.find(([, w]) => (left -= w) <= 0)?.[0] ?? 'view'
    const e: ChaosEvent = { eventId: `e${n++}`, userId: user.userId, type, ts }
    if (type !== 'app_open' && type !== 'chat') e.itemId = `item-${Math.floor(rand() * 200)}`
    if (type === 'price_drop') e.attrs = { dropPct: Math.floor(rand() * 40) }
    events.push(e)
    if (type === 'add_to_cart' && rand() < 0.5) {
      const at = ts + MINUTE + Math.floor(rand() * 59 * MINUTE)
      if (at < DAY_START + DAY) events.push({ eventId: `e${n++}`, userId: user.userId, type: 'purchase', ts: at, itemId: e.itemId as string })
    }
  }
  // Time order, ties by id: the producer sends them so, as a live source would.
  events.sort((a, b) => a.ts - b.ts || (a.eventId < b.eventId ? -1 : 1))
  return { config, events }
}
