/**
 * The world's ground truth: the probability that a user clicks a push, and the seeded draw of
 * that click. Hermes' simulation and the Push 1.0 baseline both judge their pushes here, so they
 * are scored by one truth (docs/quality.md has the formula and why each factor is there).
 *
 *   p = min(0.95, BASE × appeal(material) × hour × relevance × trigger × fatigue × repeat × quiet × stock)
 *
 * The model judges a push by what the user gets: its material (copy), the item it is about (its
 * deeplink `app://item/<itemId>`), the moment it arrives and what the user got before. It never
 * looks at Hermes' task or policy names.
 */
import { localHour } from '../../operators/clock.ts'
import { seededRandom } from '../../operators/scoring.ts'
import type { ItemFacts, Relation } from './world.ts'
import { DAY, HOUR } from './world.ts'

/** What the click model asks of the world ({@link World} answers; tests may plant answers). */
export interface WorldFacts {
  /** The user's time zone, or undefined for an unknown user. */
  user(userId: string): { timezone: string } | undefined
  /** The user's activity (0..1, 1 at their peak hour of the week) at `ts`. */
  activity(userId: string, ts: number): number
  /** Index of an item id, or -1 when the world has no such item. */
  itemIndex(itemId: string): number
  relation(userId: string, item: number, ts: number): Relation
  item(item: number, ts: number): ItemFacts
}

/** The constants of the click model, in one place (docs/quality.md explains each). */
export const CLICK_MODEL = {
  /** Click rate of a generic push of appeal 1 at the user's peak hour, unfatigued. */
  base: 0.03,
  /** Share of the peak hour's effect that even a dead hour keeps (the push waits on the lock screen). */
  hourFloor: 0.15,
  /** Relevance of the pushed item to the user, strongest relation wins. */
  relevance: { cart: 2.5, fav: 2.0, viewed: 1.3, interest: 1.0, none: 0.6, purchased: 0.3, generic: 1.0 },
  /** Trigger boosts: 1 + size × e^(-age / tau); the strongest applicable trigger counts. */
  drop: { perPct: 0.03, tauMs: 24 * HOUR },
  cart: { boost: 0.8, tauMs: 12 * HOUR },
  backInStock: { boost: 0.8, tauMs: 24 * HOUR },
  /** fatigue = 1 / (1 + per24h × pushes in the last 24 h + per7d × pushes in the last 7 days). */
  fatigue: { per24h: 0.3, per7d: 0.05 },
  /** Each earlier push about the same item in the last 7 days multiplies by this. */
  repeat: 0.5,
  /** Nights (local 23:00 to 07:00): a push then is mostly an annoyance. */
  night: { from: 23, to: 7, factor: 0.2 },
  /** A push about an item that is out of stock at send time. */
  outOfStock: 0.3,
  /** Share of pushes the gateway fails to deliver (never clicked). */
  failure: 0.02,
  max: 0.95,
} as const

/** A push as the world sees it. */
export interface Push {
  userId: string
  decisionId: string
  sendAt: number
  materialId: string
  /** The item the push is about (from its deeplink), or null for a generic push. */
  itemId: string | null
}

/** The item a push is about, from its deeplink (`app://item/<itemId>`), or null. */
export function pushedItem(deeplink: string | null | undefined): string | null {
  const m = /^app:\/\/item\/([^/?#]+)/.exec(deeplink ?? '')
  return m ? (m[1] as string) : null
}

/** The pushes one system has sent, per user, for fatigue and repetition. */
export class PushLedger {
  private readonly byUser = new Map<string, Array<{ t: number; item: string | null }>>()

  /** Records a push sent to a user at `t` (about `item`, or generic). */
  add(userId: string, t: number, item: string | null): void {
    let list = this.byUser.get(userId)
    if (!list) this.byUser.set(userId, (list = []))
    list.push({ t, item })
    // Only the last week matters; keep the list short.
    while (list.length > 0 && (list[0] as { t: number }).t < t - 8 * DAY) list.shift()
  }

  /** Pushes to the user in `[t - windowMs, t)`, all of them or those about `item`. */
  count(userId: string, t: number, windowMs: number, item?: string): number {
    let n = 0
    for (const p of this.byUser.get(userId) ?? []) if (p.t >= t - windowMs && p.t < t && (item === undefined || p.item === item)) n++
    return n
  }
}

/** Each factor of a click probability, for explanations and tests. */
export interface ClickFactors {
  appeal: number
  hour: number
  relevance: number
  trigger: number
  fatigue: number
  repeat: number
  quiet: number
  stock: number
  p: number
}

/**
 * The true probability that `push` is clicked, with its factors. `appeal` is the world's appeal of
 * the push's material (1 when the world does not know it); `ledger` holds the pushes the same
 * system sent before (this one not yet added).
 */
export function clickProbability(world: WorldFacts, push: Push, appeal: number, ledger: PushLedger): ClickFactors {
  const M = CLICK_MODEL
  const user = world.user(push.userId)
  if (!user) return { appeal, hour: 0, relevance: 0, trigger: 0, fatigue: 0, repeat: 0, quiet: 0, stock: 0, p: 0 }
  const t = push.sendAt
  const hour = M.hourFloor + (1 - M.hourFloor) * world.activity(push.userId, t)
  let relevance: number = M.relevance.generic
  let trigger = 1
  let stock = 1
  const item = push.itemId === null ? -1 : world.itemIndex(push.itemId)
  if (item >= 0) {
    const r = world.relation(push.userId, item, t)
    const facts = world.item(item, t)
    relevance = r.purchased !== null && r.cart === null ? M.relevance.purchased : r.cart !== null ? M.relevance.cart : r.fav !== null ? M.relevance.fav : r.viewed !== null && r.viewed > t - 7 * DAY ? M.relevance.viewed : r.interest ? M.relevance.interest : M.relevance.none
    const boosts = [1]
    if (facts.lastDrop) boosts.push(1 + M.drop.perPct * facts.lastDrop.pct * Math.exp(-(t - facts.lastDrop.ts) / M.drop.tauMs))
    if (r.cart !== null) boosts.push(1 + M.cart.boost * Math.exp(-(t - r.cart) / M.cart.tauMs))
    if (facts.backInStock !== null) boosts.push(1 + M.backInStock.boost * Math.exp(-(t - facts.backInStock) / M.backInStock.tauMs))
    trigger = Math.max(...boosts)
    if (!facts.inStock) stock = M.outOfStock
  }
  const fatigue = 1 / (1 + M.fatigue.per24h * ledger.count(push.userId, t, DAY) + M.fatigue.per7d * ledger.count(push.userId, t, 7 * DAY))
  const repeat = push.itemId === null ? 1 : M.repeat ** ledger.count(push.userId, t, 7 * DAY, push.itemId)
  const h = localHour(t, user.timezone)
  const quiet = h >= M.night.from || h < M.night.to ? M.night.factor : 1
  const p = Math.min(M.max, M.base * appeal * hour * relevance * trigger * fatigue * repeat * quiet * stock)
  return { appeal, hour, relevance, trigger, fatigue, repeat, quiet, stock, p }
}

/** The outcome of one push: delivered or not, clicked or not, and when. */
export interface ClickDraw {
  delivered: boolean
  clicked: boolean
  /** When the click happens (1 to 21 minutes after the send), if it does. */
  clickAt: number | null
}

/**
 * Draws delivery and click of a push with probability `p`, from a PRNG seeded by the world's seed,
 * the user and the decision: the same push always gets the same outcome, whatever order pushes
 * are judged in.
 */
export function drawClick(seed: number, push: Push, p: number): ClickDraw {
  const rand = seededRandom(`click\u0000${seed}\u0000${push.userId}\u0000${push.decisionId}`)
  const delivered = rand() >= CLICK_MODEL.failure
  const clicked = delivered && rand() < p
  return { delivered, clicked, clickAt: clicked ? push.sendAt + 60_000 + Math.floor(rand() * 20 * 60_000) : null }
}
