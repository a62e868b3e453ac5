/**
 * A seeded synthetic world for exercising the decision flow (the Kafka and registry equivalence
 * tests, bench/decisions.bench.ts): users in several time zones with daily rhythms and segments,
 * materials with different true click rates, tasks of all three trigger types, and behavior events
 * hour by hour. Decision quality is measured in another world, scripts/sim/ (docs/quality.md).
 */
import { mulberry32 } from '../operators/ids.ts'
import { partitionFor } from '../pipeline/runtime/partitioner.ts'

const HOUR = 3_600_000

/** The users' time zones, each with the fixed UTC offset (hours) its daily rhythm follows. */
const ZONES: Array<[timezone: string, offsetH: number]> = [
  ['Asia/Shanghai', 8],
  ['Europe/Berlin', 1],
  ['America/New_York', -5],
  ['America/Los_Angeles', -8],
  ['Asia/Kolkata', 5.5],
  ['UTC', 0],
]
const SEGMENTS = ['vip', 'bargain-hunters', 'new', 'churned']
const TYPES: Array<[string, number]> = [['app_open', 3], ['view', 6], ['search', 2], ['add_to_cart', 1.2], ['purchase', 0.4], ['chat', 0.6], ['price_drop', 0.8]]

export interface SimUser {
  userId: string
  timezone: string
  offsetH: number
  pushEnabled: boolean
  segments: string[]
  activity: number
}

export interface World {
  users: SimUser[]
  materials: Array<{ materialId: string; title: string; body: string; deeplink: string; segments: string[]; prior: { alpha: number; beta: number }; status: string }>
  /** True click rate of each material (the simulation's ground truth, unknown to Hermes). */
  trueCtr: { [materialId: string]: number }
  tasks: Array<{ taskId: string; [field: string]: unknown }>
}

/**
 * The sample world's tasks: one of each trigger type, experiments, a quiet-hours policy of each
 * kind. scripts/sim/sample-config.ts keeps them as its "before" set.
 */
export const SAMPLE_TASKS: Array<{ taskId: string; [field: string]: unknown }> = [
  {
    taskId: 'price-drop',
    priority: 10,
    trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } },
    audience: { include: [], exclude: ['churned'] },
    materials: ['m1', 'm2', 'm3'],
    fatigue: { max: 2, windowMs: 24 * HOUR },
    experiment: { id: 'exp-price', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'thompson', weight: 50, policy: 'thompson' }] },
    quietHours: 'defer',
  },
  {
    taskId: 'cart-abandon',
    priority: 20,
    trigger: { type: 'event', events: ['add_to_cart'], delayMs: HOUR, unless: { events: ['purchase'], withinMs: HOUR } },
    materials: ['m4', 'm5'],
    experiment: { id: 'exp-cart', arms: [{ name: 'ucb', weight: 50, policy: 'ucb' }, { name: 'greedy', weight: 50, policy: 'greedy' }] },
    quietHours: 'drop',
  },
  {
    taskId: 'morning-vip',
    priority: 5,
    trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Asia/Shanghai', spreadMs: 20 * 60_000 },
    audience: { include: ['vip'], exclude: [] },
    materials: ['m6', 'm8'],
    policy: 'thompson',
    quietHours: 'defer',
  },
  {
    taskId: 'evening-picks',
    priority: 3,
    trigger: { type: 'personalized', windowStartHour: 18, windowEndHour: 22 },
    audience: { include: ['bargain-hunters'], exclude: ['churned'] },
    materials: ['m6', 'm7'],
    policy: 'thompson',
    minExpectedCtr: 0.02,
  },
  {
    taskId: 'win-back',
    priority: 1,
    trigger: { type: 'event', events: ['app_open'], when: { '<=': [{ var: 'counts.app_open.7d' }, 1] } },
    materials: ['m3', 'm7'],
    policy: 'ucb',
  },
]

export function buildWorld(options: { users: number; seed: number }): World {
  const rand = mulberry32(options.seed)
  const users: SimUser[] = []
  for (let i = 0; i < options.users; i++) {
    const [timezone, offsetH] = ZONES[Math.floor(rand() * ZONES.length)] as [string, number]
    const segments = SEGMENTS.filter((s) => rand() < (s === 'churned' ? 0.05 : s === 'vip' ? 0.15 : 0.3))
    users.push({ userId: `u${i}`, timezone, offsetH, pushEnabled: rand() > 0.05, segments, activity: 0.3 + rand() * 1.7 })
  }
  const trueCtr: { [id: string]: number } = { m1: 0.03, m2: 0.09, m3: 0.05, m4: 0.12, m5: 0.04, m6: 0.02, m7: 0.07, m8: 0.1 }
  const materials = Object.keys(trueCtr).map((id, i) => ({
    materialId: id,
    title: `Offer ${id.toUpperCase()}`,
    body: i < 3 ? 'The price of {{event.itemId}} just dropped' : i < 5 ? 'Still thinking about {{event.itemId}}?' : 'Picked for you this evening',
    deeplink: i < 5 ? 'app://item/{{event.itemId}}' : 'app://home',
    segments: id === 'm8' ? ['vip'] : [],
    prior: { alpha: 1, beta: 20 },
    status: 'active',
  }))
  const tasks = structuredClone(SAMPLE_TASKS)
  return { users, materials, trueCtr, tasks }
}

/** One record for a configuration topic. */
export interface ConfigRecord {
  topic: string
  key: string
  value: object
}

/**
 * The world's configuration as records, in load order: materials, then the tasks that use them,
 * then each user's profile followed by their segment memberships.
 */
export function configRecords(world: World, topics: { materials: string; tasks: string; users: string; audiences: string }): ConfigRecord[] {
  const out: ConfigRecord[] = []
  for (const m of world.materials) out.push({ topic: topics.materials, key: m.materialId, value: m })
  for (const t of world.tasks) out.push({ topic: topics.tasks, key: t.taskId, value: t })
  for (const u of world.users) {
    out.push({ topic: topics.users, key: u.userId, value: { userId: u.userId, timezone: u.timezone, pushEnabled: u.pushEnabled } })
    for (const s of u.segments) out.push({ topic: topics.audiences, key: u.userId, value: { userId: u.userId, segmentId: s, member: true } })
  }
  return out
}

/** Behavior events of one hour, in time order (without clicks). */
export function eventsForHour(world: World, hourStart: number, seed: number): Array<{ [k: string]: unknown }> {
  const rand = mulberry32(seed)
  const out: Array<{ [k: string]: unknown }> = []
  const totalWeight = TYPES.reduce((s, [, w]) => s + w, 0)
  for (const u of world.users) {
    const localHour = (((hourStart / HOUR + u.offsetH) % 24) + 24) % 24
    const rhythm = 0.05 + Math.exp(-((localHour - 20) ** 2) / 8) + 0.6 * Math.exp(-((localHour - 12.5) ** 2) / 4) + 0.4 * Math.exp(-((localHour - 8) ** 2) / 2)
    const expected = 0.35 * u.activity * rhythm
    let n = Math.floor(expected) + (rand() < expected % 1 ? 1 : 0)
    while (n-- > 0) {
      let pick = rand() * totalWeight
      let type = 'view'
      for (const [t, w] of TYPES) {
        pick -= w
        if (pick <= 0) {
          type = t
          break
        }
      }
      const ts = hourStart + Math.floor(rand() * HOUR)
      const e: { [k: string]: unknown } = { eventId: `${u.userId}-${ts}-${out.length}`, userId: u.userId, type, ts }
      if (type !== 'app_open' && type !== 'chat') e.itemId = `item-${Math.floor(rand() * 300)}`
      if (type === 'price_drop') e.attrs = { dropPct: Math.floor(rand() * 40) }
      out.push(e)
    }
  }
  out.sort((a, b) => (a.ts as number) - (b.ts as number))
  return out
}

/**
 * The same events packed into denser event time (the decision benches' `--packed-seconds-per-hour`):
 * each hour from `start` becomes `secondsPerHour` seconds, the events' order and relative spacing
 * kept (times rounded down to the millisecond). Why: the world's 5,000 users make 0.2 events per
 * second of event time, so on Kafka nearly every event waits for its own repartitioned records
 * (`kafka.maxAheadMs`, 2 s), where a live stream at 30k events/s holds 60k events within 2 s.
 * Packing changes what the flow decides (delays, fatigue windows, quiet hours and schedules keep
 * their lengths in event time, so they span more events), the same way in every mode.
 */
export function packEvents(events: ReadonlyArray<{ [k: string]: unknown }>, start: number, secondsPerHour: number): Array<{ [k: string]: unknown }> {
  const scale = (secondsPerHour * 1000) / HOUR
  return events.map((e) => ({ ...e, ts: start + Math.floor(((e.ts as number) - start) * scale) }))
}

/**
 * The decision benches' behavior events (bench/decisions.bench.ts, decisions-kafka.bench.ts,
 * decisions-digest.ts): `days` of hours from `start`, hour h with seed 1000 + h, packed into
 * `packedSecondsPerHour` seconds per hour when given ({@link packEvents}).
 */
export function benchEvents(world: World, start: number, days: number, packedSecondsPerHour?: number): Array<{ [k: string]: unknown }> {
  const events: Array<{ [k: string]: unknown }> = []
  for (let h = 0; h < days * 24; h++) for (const e of eventsForHour(world, start + h * HOUR, 1000 + h)) events.push(e)
  if (packedSecondsPerHour === undefined) return events
  const packed = packEvents(events, start, packedSecondsPerHour)
  const last = packed.length > 0 ? (packed[packed.length - 1]?.ts as number) : start
  return [...packed, ...closingEvents(last + 24 * HOUR)]
}

/**
 * One `chat` event (which triggers no task) at `ts` on each of the events topic's `partitions`,
 * for users outside the world (`zz-close-<i>`, the first keys that land on each partition).
 * Packed events end before most timers they set are due (an hour's delay, a daily plan or
 * schedule, against minutes of packed time), and event time only moves with events: these move it
 * a day past the last event on every partition, so that those timers fire, in both modes.
 */
export function closingEvents(ts: number, partitions = 4): Array<{ [k: string]: unknown }> {
  const out: Array<{ [k: string]: unknown }> = []
  const covered = new Set<number>()
  for (let i = 0; covered.size < partitions; i++) {
    const userId = `zz-close-${i}`
    const p = partitionFor(userId, partitions)
    if (covered.has(p)) continue
    covered.add(p)
    out.push({ eventId: `${userId}-${ts}`, userId, type: 'chat', ts })
  }
  return out
}

/** Behavior events per second of event time, the closing events left out: what `kafka.maxAheadMs` is weighed against. */
export function eventTimeDensity(events: ReadonlyArray<{ [k: string]: unknown }>): number {
  const world = events.filter((e) => !(e.userId as string).startsWith('zz-close-'))
  if (world.length < 2) return 0
  const span = (world[world.length - 1]?.ts as number) - (world[0]?.ts as number)
  return span > 0 ? Math.round((world.length * 1000) / span) : Infinity
}
