/**
 * The sample world's materials (with the world's true appeal of each copy) and Hermes'
 * configuration for it, in three clearly separated sets:
 *
 * - `before`: the tasks of the sample world as they were (commit 3768fcb), to measure "before";
 * - `tuned`: what a data engineer configures with today's features (the default of `npm start`);
 * - features (`HERMES_SAMPLE_FEATURES`, comma-separated; both by default, empty for neither):
 *   `relations` (item triggers on `item-events`: a price drop or a restock of an item the user
 *   favorited or has in the cart) and `model` (`maxHoldMs` with the click model, content caps,
 *   delivery events).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { SAMPLE_TASKS } from '../hermes-workload.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A material as Hermes is configured with it, plus the world's truth about its copy. */
export interface SampleMaterial {
  materialId: string
  title: string
  body: string
  deeplink: string
  segments: string[]
  prior: { alpha: number; beta: number }
  status: 'active'
  /** What the copy is about: Push 1.0 may send generic copy to everyone, or price-drop copy as its deal of the day. */
  kind: 'generic' | 'price_drop' | 'cart' | 'back_in_stock' | 'item'
  /** How much better or worse this copy does than an average one (the click model's `appeal`): unknown to Hermes. */
  appeal: number
}

const item = (materialId: string, kind: SampleMaterial['kind'], title: string, body: string, appeal: number): SampleMaterial => ({
  materialId, title, body, deeplink: 'app://item/{{event.itemId}}', segments: [], prior: { alpha: 1, beta: 20 }, status: 'active', kind, appeal,
})
const generic = (materialId: string, title: string, body: string, appeal: number, segments: string[] = []): SampleMaterial => ({
  materialId, title, body, deeplink: 'app://home', segments, prior: { alpha: 1, beta: 20 }, status: 'active', kind: 'generic', appeal,
})

/** Every material of the sample world. Item materials link to the triggering event's item. */
export const MATERIALS: SampleMaterial[] = [
  item('m1', 'price_drop', 'Price drop', 'The price of {{event.itemId}} just dropped', 0.7),
  item('m2', 'price_drop', '{{event.attrs.dropPct}}% off {{event.itemId}}', '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper today', 1.3),
  item('m3', 'item', 'Still interested?', 'Still thinking about {{event.itemId}}?', 1.0),
  item('m4', 'cart', 'Your cart', '{{event.itemId}} is waiting in your cart', 1.5),
  item('m5', 'cart', 'Complete your order', 'Complete your order of {{event.itemId}}', 0.8),
  generic('m6', 'Picked for you', 'Picked for you this evening', 0.5),
  generic('m7', 'New for you', 'New arrivals in your favourite categories', 1.2),
  generic('m8', 'Members first', 'Early access to this week’s offers', 1.5, ['vip']),
  generic('m9', 'It has been a while', 'See what is new since your last visit', 1.0),
  item('m10', 'back_in_stock', 'Back in stock', '{{event.itemId}} is back in stock', 1.2),
]

/** The material as Hermes is configured with it: without the world's truth about it. */
export function materialRecord(m: SampleMaterial): Omit<SampleMaterial, 'kind' | 'appeal'> {
  const { kind: _kind, appeal: _appeal, ...record } = m
  return record
}

/** The world's appeal of a material (1 for one it does not know). */
export function appealOf(materialId: string): number {
  return MATERIALS.find((m) => m.materialId === materialId)?.appeal ?? 1
}

/** A task record (validated by Hermes when loaded). */
export type SampleTask = { taskId: string; [field: string]: unknown }

/** The sample world's tasks as of commit 3768fcb (its win-back task still names item copy m3 for app_open events). */
const BEFORE: SampleTask[] = SAMPLE_TASKS

/** With today's features: what a data engineer would configure for this shop (docs/quality.md says why). */
const TUNED: SampleTask[] = [
  {
    // An abandoned cart is the strongest signal there is: the usual reminder 30 minutes later,
    // unless they bought; up to two a day (two carts), each of its copies at most once a day.
    // Thompson against UCB: a greedy arm never tries a copy again once an unlucky start put it
    // behind (seed 43: both arms settled on m3, appeal 1.0, and sent the best copy, m4, 484 times in 3,800).
    taskId: 'cart-abandon',
    priority: 20,
    trigger: { type: 'event', events: ['add_to_cart'], delayMs: 30 * 60_000, unless: { events: ['purchase'], withinMs: 30 * 60_000 } },
    materials: ['m4', 'm5', 'm3'],
    fatigue: { max: 2, windowMs: DAY },
    experiment: { id: 'exp-cart', arms: [{ name: 'ucb', weight: 50, policy: 'ucb' }, { name: 'thompson', weight: 50, policy: 'thompson' }] },
    quietHours: 'defer',
  },
  {
    // A big deal the user looked at but did not take (the shop logs the discount on the view).
    taskId: 'viewed-deal',
    priority: 10,
    trigger: { type: 'event', events: ['view'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 30] }, delayMs: HOUR, unless: { events: ['add_to_cart', 'purchase'], withinMs: HOUR } },
    audience: { include: [], exclude: ['churned'] },
    materials: ['m2', 'm1'],
    fatigue: { max: 1, windowMs: DAY },
    experiment: { id: 'exp-deal', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'thompson', weight: 50, policy: 'thompson' }] },
    quietHours: 'defer',
  },
  {
    // One evening push at each user's own best hour; VIPs may get their own copy (m8 targets them).
    taskId: 'evening-picks',
    priority: 3,
    trigger: { type: 'personalized', windowStartHour: 18, windowEndHour: 23 },
    audience: { include: [], exclude: ['churned'] },
    materials: ['m8', 'm7', 'm6'],
    policy: 'thompson',
    minExpectedCtr: 0.025,
  },
  {
    // The wart fixed: app_open has no item, so win-back gets generic copy (m9), not item copy.
    taskId: 'win-back',
    priority: 1,
    trigger: { type: 'event', events: ['app_open'], when: { '<=': [{ var: 'counts.app_open.7d' }, 1] } },
    materials: ['m9', 'm7'],
    policy: 'ucb',
  },
]

/** `hermes` settings of the tuned set (the global caps a data engineer sets in config/*.yaml). */
const TUNED_SETTINGS = {
  fatigue: { userMax: 3, userWindowMs: DAY, minGapMs: 2 * HOUR, materialMax: 1, materialWindowMs: DAY },
  // The budget the issue sets, one push per user-day: each user gets the best of their own candidates (operators/push-budget.ts).
  // A fifth of the triggered pushes explore the hold, so the model learns how relevance fades with age
  // instead of the prior half-life deciding forever (operators/model-settings.ts).
  // Held pushes wait for the hours the user is around (their activity histogram), the click model
  // pricing the rest: a week of pushes teaches the model too little of the hour (docs/quality.md).
  model: { budget: { pushesPerUserDay: 1 }, holdExploreShare: 0.2, holdHour: 'presence' },
}

/**
 * `HERMES_SAMPLE_FEATURES=relations`: item triggers over `item-events` (docs/decision-flow.md,
 * Item triggers).
 */
const RELATIONS: SampleTask[] = [
  {
    taskId: 'fav-price-drop',
    priority: 30,
    trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav', 'cart'], withinMs: 30 * DAY }, when: { '>=': [{ var: 'event.attrs.dropPct' }, 15] } },
    audience: { include: [], exclude: ['churned'] },
    materials: ['m2', 'm1'],
    experiment: { id: 'exp-fav-drop', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'thompson', weight: 50, policy: 'thompson' }] },
    quietHours: 'defer',
  },
  {
    taskId: 'back-in-stock',
    priority: 25,
    trigger: { type: 'item', events: ['back_in_stock'], relation: { types: ['fav', 'cart'], withinMs: 30 * DAY } },
    audience: { include: [], exclude: ['churned'] },
    materials: ['m10'],
    quietHours: 'defer',
  },
]

/**
 * `HERMES_SAMPLE_FEATURES=model`: fields added to tasks of the other sets: `maxHoldMs` (held for
 * a better hour by the click model) and a material cap counted per content (material plus item).
 */
// Holds long enough to reach the user's next evening from any hour, deferrals out of quiet hours
// included (a price drop at 23:00 goes out at 08:00, then may wait for the evening): half a day
// for reminders of what the user just did (a purchase in between would make them stale), most
// of a day for item events, whose relevance lasts longer.
const MODEL_FIELDS: { [taskId: string]: { [field: string]: unknown } } = {
  'cart-abandon': { maxHoldMs: 12 * HOUR, caps: { material: { per: 'content' } } },
  'viewed-deal': { maxHoldMs: 12 * HOUR, caps: { material: { per: 'content' } } },
  'fav-price-drop': { maxHoldMs: 20 * HOUR, caps: { material: { per: 'content' } } },
  'back-in-stock': { maxHoldMs: 20 * HOUR, caps: { material: { per: 'content' } } },
}

/** The optional features of the sample configuration. */
export const FEATURES = ['relations', 'model'] as const
/** The features `npm start` and the quality bench switch on unless told otherwise. */
export const DEFAULT_FEATURES = FEATURES.join(',')
export type Feature = (typeof FEATURES)[number]

/** A configuration set for the sample world. */
export interface SampleConfig {
  name: 'before' | 'tuned'
  features: Feature[]
  materials: SampleMaterial[]
  tasks: SampleTask[]
  /** Overrides of the `hermes` settings (fatigue caps) this set is meant to run with. */
  settings: { [k: string]: unknown }
}

/**
 * Parses `HERMES_SAMPLE_FEATURES` (comma-separated).
 * @throws Error naming an unknown feature and the known ones.
 */
export function parseFeatures(text: string | undefined): Feature[] {
  const names = (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const n of names) if (!(FEATURES as readonly string[]).includes(n)) throw new Error(`HERMES_SAMPLE_FEATURES: unknown feature "${n}" (known: ${FEATURES.join(', ')})`)
  return [...new Set(names)] as Feature[]
}

/**
 * The configuration set `name` with `features` switched on.
 * @throws Error for an unknown set name.
 */
export function sampleConfig(name: string, features: Feature[] = []): SampleConfig {
  if (name !== 'before' && name !== 'tuned') throw new Error(`HERMES_SAMPLE_CONFIG: unknown set "${name}" (known: before, tuned)`)
  let tasks = structuredClone(name === 'before' ? BEFORE : TUNED)
  if (features.includes('relations')) tasks.push(...structuredClone(RELATIONS))
  if (features.includes('model')) tasks = tasks.map((t) => ({ ...t, ...(MODEL_FIELDS[t.taskId] ?? {}) }))
  return { name, features, materials: MATERIALS, tasks, settings: name === 'tuned' ? structuredClone(TUNED_SETTINGS) : {} }
}

/** The file a simulated world keeps its `hermes` settings in, beside its outputs (read by `hermes console`). */
export const WORLD_CONFIG_FILE = 'hermes.yaml'

/**
 * Writes the `hermes` settings the set runs with into `dir`/{@link WORLD_CONFIG_FILE}, so that
 * whatever opens the world later (`hermes console`, a backtest) decides with the same caps.
 */
export function writeWorldConfig(dir: string, sample: SampleConfig): void {
  mkdirSync(dir, { recursive: true })
  const header = `# Written by npm start: the hermes settings of the sample configuration "${sample.name}".\n# hermes console (embedded) loads this file from its --state-dir before any --config file.\n`
  writeFileSync(join(dir, WORLD_CONFIG_FILE), header + stringify({ hermes: sample.settings }))
}
