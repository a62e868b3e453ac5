/**
 * A long seeded random workload through the decision flow and the stats feedback, then the
 * invariants checked over every decision: caps in every rolling window, the gap, quiet hours,
 * opt-outs, the whether-to-send threshold; and byte-identical output from a second run.
 */
import { describe, expect, it } from 'vitest'
import { readTopicSince } from '../../pipeline/embedded/files.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { inQuietHours } from '../../operators/clock.ts'
import { seededRandom } from '../../operators/scoring.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
import { DAY, HOUR, MIN, deadLetters, flow, material } from './helpers.ts'

const START = Date.UTC(2026, 9, 29, 0, 0) // Thursday; the run spans the end of US daylight saving time (Nov 1)
const DAYS = 6
const END = START + DAYS * DAY
const PHASE = 6 * HOUR
const USERS = 400
const EVENTS = 6000
const ZONES = ['UTC', 'Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'America/Los_Angeles', 'Australia/Sydney']
const USER_MAX = 3
/** Above the default of 1, so that the task caps are not hidden behind the material cap. */
const MATERIAL_MAX = 2
const MIN_GAP = 30 * MIN
const ARBITRATION = 1000
// Both at phase boundaries (phases are 6 h long), where the config changes are applied.
const PAUSE_CART = START + 2 * DAY + 6 * HOUR
const RESUME_CART = START + 3 * DAY + 6 * HOUR

const tasks = [
  {
    taskId: 'price-drop', priority: 10, materials: ['m01', 'm02', 'm03'], quietHours: 'defer', fatigue: { max: 2, windowMs: DAY },
    trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } },
    experiment: { id: 'exp-pd', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'ts', weight: 50, policy: 'thompson' }] },
  },
  {
    taskId: 'browse', priority: 5, materials: ['m04', 'm05'], policy: 'ucb', quietHours: 'drop', rateLimit: { max: 1, windowMs: HOUR },
    trigger: { type: 'event', events: ['view'], when: { '>=': [{ var: 'counts.view.1h' }, 3] }, unless: { events: ['chat'], withinMs: 30 * MIN } },
  },
  {
    taskId: 'cart', priority: 7, materials: ['m02', 'm06'], quietHours: 'defer', minExpectedCtr: 0.05, fatigueCost: 2,
    audience: { include: ['shoppers'], exclude: [] }, trigger: { type: 'event', events: ['cart_add'], delayMs: 2 * HOUR },
  },
  {
    taskId: 'daily-noon', priority: 6, materials: ['m07', 'm08'], quietHours: 'defer', audience: { include: [], exclude: ['churned'] },
    trigger: { type: 'schedule', cron: '0 12 * * *', timezone: 'UTC', spreadMs: 30 * MIN },
    experiment: { id: 'exp-noon', arms: [{ name: 'ucb', weight: 30, policy: 'ucb' }, { name: 'greedy', weight: 70, policy: 'greedy' }] },
  },
  {
    taskId: 'berlin-evening', priority: 8, materials: ['m09'], quietHours: 'drop', fatigue: { max: 1, windowMs: 7 * DAY },
    trigger: { type: 'schedule', cron: '30 19 * * 1-5', timezone: 'Europe/Berlin', spreadMs: 10 * MIN },
  },
  { taskId: 'best-time', priority: 3, materials: ['m10', 'm11'], quietHours: 'defer', trigger: { type: 'personalized', windowStartHour: 9, windowEndHour: 21 } },
  { taskId: 'late', priority: 4, materials: ['m12'], quietHours: 'drop', policy: 'thompson', trigger: { type: 'personalized', windowStartHour: 18, windowEndHour: 23 } },
]
const TASK_CAPS: { [taskId: string]: { max: number; windowMs: number } } = { 'price-drop': { max: 2, windowMs: DAY }, 'berlin-evening': { max: 1, windowMs: 7 * DAY } }

interface Append {
  topic: string
  values: unknown[]
  key?: string | null
}
type Batch = Append[]

interface Workload {
  zone: Map<string, string>
  /** Users opted out from the start. */
  optedOut: Set<string>
  /** Users who opt out during the run, and when. */
  optOutAt: Map<string, number>
  /** Users who are ever in the shoppers segment. */
  shoppers: Set<string>
}

/** The fixed part of the workload: users, config, events; clicks are added per phase from the decisions. */
function generate(seed: string): { workload: Workload; config: Batch; phases: Array<{ end: number; appends: Append[] }> } {
  const rand = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const users = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(3, '0')}`)
  const workload: Workload = { zone: new Map(), optedOut: new Set(), optOutAt: new Map(), shoppers: new Set() }
  const profiles: object[] = []
  const memberships: object[] = []
  const timed: Array<{ topic: string; ts: number; value: object }> = []
  for (const u of users) {
    const tz = pick(ZONES)
    workload.zone.set(u, tz)
    const enabled = rand() >= 0.08
    if (!enabled) workload.optedOut.add(u)
    profiles.push({ userId: u, timezone: tz, pushEnabled: enabled, ts: START - DAY })
    if (rand() < 0.2) memberships.push({ userId: u, segmentId: 'vip', member: true, ts: START - DAY })
    if (rand() < 0.4) {
      memberships.push({ userId: u, segmentId: 'shoppers', member: true, ts: START - DAY })
      workload.shoppers.add(u)
    }
    if (rand() < 0.1) memberships.push({ userId: u, segmentId: 'churned', member: true, ts: START - DAY })
    if (enabled && rand() < 0.04) {
      const at = START + Math.floor(rand() * DAYS * DAY)
      workload.optOutAt.set(u, at)
      timed.push({ topic: 'config.users', ts: at, value: { userId: u, timezone: tz, pushEnabled: false, ts: at } })
    }
    if (rand() < 0.05) {
      const at = START + Math.floor(rand() * DAYS * DAY)
      workload.shoppers.add(u)
      timed.push({ topic: 'config.audiences', ts: at, value: { userId: u, segmentId: 'shoppers', member: !memberships.some((m) => (m as { userId: string; segmentId: string }).userId === u && (m as { segmentId: string }).segmentId === 'shoppers'), ts: at } })
    }
  }
  // Some users are much busier than others.
  const weights = users.map(() => rand() ** 3)
  const total = weights.reduce((a, b) => a + b, 0)
  const busyPick = (): string => {
    let x = rand() * total
    for (let i = 0; i < users.length; i++) {
      x -= weights[i] as number
      if (x <= 0) return users[i] as string
    }
    return users[users.length - 1] as string
  }
  const types: Array<[string, number]> = [['view', 0.5], ['price_drop', 0.15], ['cart_add', 0.1], ['chat', 0.1], ['purchase', 0.05], ['search', 0.1]]
  const randomType = (): string => {
    let x = rand()
    for (const [t, p] of types) {
      x -= p
      if (x <= 0) return t
    }
    return 'view'
  }
  // Events come in sessions: a few events of one user within three quarters of an hour.
  for (let i = 0; i < EVENTS; ) {
    const userId = rand() < 0.7 ? busyPick() : pick(users)
    const start = START + Math.floor(rand() * DAYS * DAY)
    const length = 1 + Math.floor(rand() * 8)
    for (let j = 0; j < length && i < EVENTS; j++, i++) {
      const type = j < 3 && rand() < 0.6 ? 'view' : randomType()
      const ts = start + Math.floor(rand() * 45 * MIN)
      const attrs = type === 'price_drop' ? { dropPct: Math.floor(rand() * 30) } : undefined
      timed.push({ topic: 'behavior-events', ts, value: { eventId: `ev-${i}`, userId, type, ts, itemId: `item-${Math.floor(rand() * 50)}`, ...(attrs ? { attrs } : {}) } })
    }
  }
  // A steady trickle of events from one more user keeps the watermark moving in the quiet hours of the run.
  for (let t = START; t <= END; t += 10 * MIN) timed.push({ topic: 'behavior-events', ts: t, value: { eventId: `tick-${t}`, userId: 'zz-clock', type: 'tick', ts: t } })
  // Events whose time is no integer millisecond, from producers that divide: refused at the
  // source, they never reach a decision (before, a cart push was sent at a fractional sendAt).
  const buyers = [...workload.shoppers].filter((u) => !workload.optedOut.has(u)).slice(0, 3)
  buyers.forEach((userId, k) => {
    const ts = START + (k + 1) * DAY + 10 * HOUR + 0.5
    timed.push({ topic: 'behavior-events', ts, value: { eventId: `frac-${k}`, userId, type: 'cart_add', ts } })
    timed.push({ topic: 'behavior-events', ts, value: { eventId: `frac-pd-${k}`, userId, type: 'price_drop', ts, attrs: { dropPct: 25 } } })
  })
  timed.sort((a, b) => a.ts - b.ts)

  const materials = Array.from({ length: 12 }, (_, i) => {
    const id = `m${String(i + 1).padStart(2, '0')}`
    return material(id, { prior: { alpha: 1 + Math.floor(rand() * 3), beta: 15 + Math.floor(rand() * 30) }, ...(id === 'm03' ? { segments: ['vip'] } : {}) })
  })
  const config: Batch = [
    { topic: 'config.materials', values: materials },
    { topic: 'config.tasks', values: tasks },
    { topic: 'config.users', values: [...profiles, { userId: 'zz-clock', timezone: 'UTC', pushEnabled: false, ts: START - DAY }] },
    { topic: 'config.audiences', values: memberships },
  ]
  const phases: Array<{ end: number; appends: Append[] }> = []
  for (let from = START; from <= END; from += PHASE) {
    const to = from + PHASE
    const appends: Append[] = []
    // Config changes between phases: a pause and a resume, a material update, an invalid task update.
    if (from === PAUSE_CART) appends.push({ topic: 'config.tasks', values: [{ ...tasks[2], status: 'paused' }] })
    if (from === RESUME_CART) appends.push({ topic: 'config.tasks', values: [tasks[2]] })
    if (from === START + DAY) appends.push({ topic: 'config.materials', values: [material('m01', { title: 'Updated {{event.itemId}}' })] })
    if (from === START + DAY + PHASE) appends.push({ topic: 'config.tasks', values: [{ ...tasks[3], trigger: { type: 'schedule', cron: 'every noon', timezone: 'UTC' } }] })
    for (const topic of ['config.users', 'config.audiences', 'behavior-events']) {
      const values = timed.filter((r) => r.topic === topic && r.ts >= from && r.ts < to).map((r) => r.value)
      if (values.length) appends.push({ topic, values })
    }
    phases.push({ end: to, appends })
  }
  return { workload, config, phases }
}

interface RunResult {
  decisions: Decision[]
  suppressions: Suppression[]
  /** Raw output lines per topic, for the byte-for-byte comparison. */
  raw: { [topic: string]: string[] }
  batches: Batch[]
}

function apply(d: TopologyTestDriver, batch: Batch): Promise<unknown> {
  for (const a of batch) d.append(a.topic, a.values, a.key === undefined ? {} : { key: a.key })
  return d.run()
}

/** Runs the workload, adding clicks on about 15 % of each phase's decisions to the next phase. */
async function run(seed: string, replay?: Batch[]): Promise<RunResult> {
  const d = await flow({ stats: true, settings: { fatigue: { materialMax: MATERIAL_MAX } } })
  const batches: Batch[] = []
  if (replay) {
    for (const b of replay) await apply(d, b)
  } else {
    const { config, phases } = generate(seed)
    const rand = seededRandom(`${seed}/clicks`)
    batches.push(config)
    await apply(d, config)
    let clicks: Array<{ ts: number; value: object }> = []
    for (const phase of phases) {
      const events = phase.appends.find((a) => a.topic === 'behavior-events')
      const merged = [...(events?.values ?? []) as Array<{ ts: number }>, ...clicks.map((c) => c.value as { ts: number })].sort((a, b) => a.ts - b.ts)
      const batch = [...phase.appends.filter((a) => a.topic !== 'behavior-events'), { topic: 'behavior-events', values: merged }]
      batches.push(batch)
      await apply(d, batch)
      clicks = []
      for (const x of d.readValues<Decision>('push-decisions')) {
        if (rand() >= 0.15) continue
        const ts = phase.end + Math.floor(rand() * HOUR)
        const type = rand() < 0.5 ? 'push_click' : 'push_open'
        clicks.push({ ts, value: { eventId: `click-${x.decisionId}`, userId: x.userId, type, ts, attrs: { decisionId: x.decisionId, materialId: x.materialId } } })
      }
    }
  }
  const raw: { [topic: string]: string[] } = {}
  for (const topic of ['push-decisions', 'push-suppressions', 'material-stats', 'push-decisions.dlq']) raw[topic] = readTopicSince(d.log, topic, [])
  const result: RunResult = {
    decisions: (raw['push-decisions'] as string[]).map((l) => JSON.parse(l) as Decision).filter((x) => x.userId !== 'zz-clock'),
    suppressions: (raw['push-suppressions'] as string[]).map((l) => JSON.parse(l) as Suppression).filter((x) => x.userId !== 'zz-clock'),
    raw,
    batches: replay ?? batches,
  }
  const fractional = /^event time "ts" = \d+\.5 is not an integer number of milliseconds$/
  expect(deadLetters(d).map((x) => x.reason)).toEqual([
    expect.stringMatching(/^invalid task daily-noon: trigger\.cron: bad cron expression "every noon"/),
    ...Array.from({ length: 6 }, () => expect.stringMatching(fractional)),
  ])
  await d.close()
  return result
}

function byKey<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>()
  for (const x of xs) {
    const k = key(x)
    const list = m.get(k)
    if (list) list.push(x)
    else m.set(k, [x])
  }
  return m
}

/** The largest number of `times` (sorted) inside any rolling window (t - windowMs, t]. */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let best = 0
  let lo = 0
  for (let hi = 0; hi < times.length; hi++) {
    while ((times[lo] as number) <= (times[hi] as number) - windowMs) lo++
    best = Math.max(best, hi - lo + 1)
  }
  return best
}

describe('invariants over a long randomized run', () => {
  const seed = 'hermes-invariants-1'
  let first: RunResult
  const { workload } = generate(seed)

  it('runs a seeded workload of several hundred users, all trigger types and the stats feedback', async () => {
    first = await run(seed)
    expect(first.decisions.length).toBeGreaterThan(400)
    const tasksSent = new Set(first.decisions.map((x) => x.taskId))
    expect([...tasksSent].sort()).toEqual(tasks.map((t) => t.taskId).sort())
    const seen = new Set(first.suppressions.map((s) => s.reason))
    for (const reason of ['fatigue.user', 'fatigue.task', 'fatigue.material', 'fatigue.gap', 'quiet_hours', 'opted_out', 'cancelled.unless', 'arbitration', 'low_value', 'expired', 'rate_limit']) {
      expect(seen, `no ${reason} suppression in the workload`).toContain(reason)
    }
    expect((first.raw['material-stats'] as string[]).length).toBeGreaterThan(20)
  }, 30_000)

  it('never exceeds the per-user cap in any rolling 24 h window, nor sends a user\'s pushes out of order', () => {
    for (const [userId, ds] of byKey(first.decisions, (x) => x.userId)) {
      const times = ds.map((x) => x.sendAt)
      expect(times, userId).toEqual([...times].sort((a, b) => a - b))
      expect(maxInWindow(times, DAY), userId).toBeLessThanOrEqual(USER_MAX)
    }
  })

  it('emits every sendAt, decidedAt and ts as an integer epoch millisecond inside the run', () => {
    // Delays, schedule spreads by hash, quiet-hours deferrals and personalized hours all move a
    // time: none may leave a fraction (a push gateway reads epoch ms) or leave the run's span.
    const plausible = (t: unknown): boolean => Number.isSafeInteger(t) && (t as number) >= START - DAY && (t as number) <= END + 7 * DAY
    for (const x of first.decisions) {
      expect(plausible(x.sendAt) && plausible(x.decidedAt), `${x.decisionId}: sendAt ${x.sendAt}, decidedAt ${x.decidedAt}`).toBe(true)
      expect(x.sendAt, x.decisionId).toBeGreaterThanOrEqual(x.decidedAt)
    }
    for (const x of first.suppressions) expect(plausible(x.ts), `${x.userId} ${x.taskId} ${x.reason}: ts ${x.ts}`).toBe(true)
    for (const line of first.raw['material-stats'] as string[]) expect(plausible((JSON.parse(line) as { ts: unknown }).ts), line).toBe(true)
    const delayed = first.decisions.filter((x) => x.sendAt > x.decidedAt)
    expect(delayed.length, 'no delayed, spread or deferred push in the workload').toBeGreaterThan(50)
  })

  it('never exceeds the per-(user, material) cap in any rolling 7 d window', () => {
    for (const [key, ds] of byKey(first.decisions, (x) => `${x.userId}/${x.materialId}`)) {
      expect(maxInWindow(ds.map((x) => x.sendAt), 7 * DAY), key).toBeLessThanOrEqual(MATERIAL_MAX)
    }
  })

  it('never exceeds a task\'s own cap per user in any rolling window', () => {
    for (const [key, ds] of byKey(first.decisions, (x) => `${x.userId}/${x.taskId}`)) {
      const cap = TASK_CAPS[ds[0]?.taskId ?? '']
      if (cap) expect(maxInWindow(ds.map((x) => x.sendAt), cap.windowMs), key).toBeLessThanOrEqual(cap.max)
    }
  })

  it('always keeps the minimum gap between two pushes to a user', () => {
    for (const [userId, ds] of byKey(first.decisions, (x) => x.userId)) {
      for (let i = 1; i < ds.length; i++) expect((ds[i] as Decision).sendAt - (ds[i - 1] as Decision).sendAt, userId).toBeGreaterThanOrEqual(MIN_GAP)
    }
  })

  it('sends nothing inside quiet hours [22:00, 08:00) in the user\'s time zone', () => {
    for (const x of first.decisions) expect(inQuietHours(x.sendAt, workload.zone.get(x.userId) as string, 22, 8), `${x.userId} ${new Date(x.sendAt).toISOString()}`).toBe(false)
  })

  it('sends nothing to an opted-out user', () => {
    for (const x of first.decisions) {
      expect(workload.optedOut.has(x.userId), x.userId).toBe(false)
      const at = workload.optOutAt.get(x.userId)
      if (at !== undefined) expect(x.sendAt, x.userId).toBeLessThan(at + ARBITRATION)
    }
    expect(first.suppressions.some((s) => s.reason === 'opted_out' && workload.optOutAt.has(s.userId))).toBe(true)
  })

  it('sends a minExpectedCtr task only when its expected value clears the threshold for the user\'s recent pushes', () => {
    const users = byKey(first.decisions, (x) => x.userId)
    let checked = 0
    for (const x of first.decisions.filter((d) => d.taskId === 'cart')) {
      const before = (users.get(x.userId) as Decision[]).filter((y) => y.sendAt > x.sendAt - DAY && y.sendAt < x.sendAt).length
      expect(x.policy).toBe('greedy') // its score is the expected click rate
      expect(x.score).toBeGreaterThanOrEqual(0.05 * (1 + 2 * before))
      checked++
    }
    expect(checked).toBeGreaterThan(2)
  })

  it('keeps audiences and pauses: no cart push outside the shoppers or while the task was paused', () => {
    for (const x of first.decisions.filter((d) => d.taskId === 'cart')) {
      expect(workload.shoppers.has(x.userId), x.userId).toBe(true)
      expect(x.sendAt >= PAUSE_CART && x.sendAt < RESUME_CART, new Date(x.sendAt).toISOString()).toBe(false)
    }
  })

  it('gives each decision a unique, deterministic id and records policy, experiment and arm', () => {
    expect(new Set(first.decisions.map((x) => x.decisionId)).size).toBe(first.decisions.length)
    for (const x of first.decisions) {
      const task = tasks.find((t) => t.taskId === x.taskId) as { experiment?: { id: string; arms: Array<{ name: string; policy: string }> }; policy?: string }
      if (task.experiment) {
        expect(x.experimentId).toBe(task.experiment.id)
        expect(task.experiment.arms.find((a) => a.name === x.arm)?.policy).toBe(x.policy)
      } else {
        expect([x.experimentId, x.arm, x.policy]).toEqual([null, null, task.policy ?? 'greedy'])
      }
    }
  })

  it('produces byte-identical decisions, suppressions, stats and dead letters when the same input runs again', async () => {
    const second = await run(seed, first.batches)
    for (const topic of Object.keys(first.raw)) expect(second.raw[topic], topic).toEqual(first.raw[topic])
  }, 30_000)
})
