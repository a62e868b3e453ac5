/**
 * The simulated world that Hermes and the Push 1.0 baseline both push into (docs/quality.md):
 * users in several time zones with their own hour-of-week rhythm, interests and segments; items
 * in categories whose prices drop and whose stock runs out and comes back; and, hour by hour,
 * the users' own behavior (sessions of app opens, views, favorites, carts, purchases, searches,
 * chats) and the items' events (`price_drop`, `out_of_stock`, `back_in_stock`).
 *
 * The world is exogenous: what users and items do does not depend on the pushes they get, so two
 * systems pushing into one world see exactly the same events and are judged by the same truth
 * (scripts/sim/clicks.ts). Every number comes from PRNGs seeded by (seed, hour): the same seed
 * always gives the same world.
 */
import { hourOfWeek } from '../../operators/clock.ts'
import { mulberry32, hash32 } from '../../operators/ids.ts'

/** An hour and a day in milliseconds. */
export const HOUR = 3_600_000
export const DAY = 24 * HOUR

/** The users' time zones (IANA names; local time comes from operators/clock.ts). */
export const ZONES = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Kolkata', 'UTC'] as const
/** Item categories; each user has two of them as interests. */
export const CATEGORIES = ['fashion', 'shoes', 'electronics', 'home', 'beauty', 'sports', 'toys', 'books'] as const
const SEGMENTS: Array<[string, number]> = [['vip', 0.15], ['bargain-hunters', 0.3], ['new', 0.3], ['churned', 0.05]]

/** A simulated user: the world's truth about them, most of which Hermes only sees through events. */
export interface WorldUser {
  userId: string
  timezone: string
  pushEnabled: boolean
  segments: string[]
  /** Sessions per day at rhythm 1 are about 0.35 × activity × 24 × mean rhythm. */
  activity: number
  /** Interest categories (indices into {@link CATEGORIES}). */
  interests: number[]
  /** Activity by local hour of the week (Monday 00:00 = 0), peak 1. */
  rhythm: Float64Array
}

/** What happened to an item, as the `item-events` topic carries it. */
export interface ItemEvent {
  eventId: string
  itemId: string
  type: 'price_drop' | 'out_of_stock' | 'back_in_stock'
  ts: number
  category: string
  attrs?: { dropPct: number }
}

/** A behavior event (DESIGN.md, Contracts). */
export interface WorldEvent {
  eventId: string
  userId: string
  type: string
  ts: number
  itemId?: string
  category?: string
  attrs?: { [k: string]: string | number }
}

/** A user-item relation's lifetime: active from `since` until `until` (exclusive), if set. */
interface Span {
  since: number
  until: number | null
}

/** The world's memory of one user: relations to items, by item index. */
interface UserState {
  fav: Map<number, Span>
  cart: Map<number, Span>
  lastView: Map<number, number>
  purchased: Map<number, number>
}

/** The world's memory of one item: price drops and stock changes, oldest first. */
interface ItemState {
  drops: Array<{ ts: number; pct: number }>
  stock: Array<{ ts: number; inStock: boolean }>
}

/** Options of {@link World}. */
export interface WorldOptions {
  users: number
  seed: number
  /** Start of the simulated period (epoch ms, a UTC hour). */
  start: number
  /** Number of items; default users / 4, at least 200. */
  items?: number
  /**
   * A variant of the world, to check that a result generalizes: `nightOwls`, the share of users
   * whose evening peak is late (22:30 to 01:00 local, into quiet hours; default 0), and
   * `priceDropsPerDay`, each item's rate of price drops (default 0.1).
   */
  variant?: { nightOwls?: number; priceDropsPerDay?: number }
}

/** How a user relates to an item at one instant, as the click model weighs it. */
export interface Relation {
  fav: number | null
  cart: number | null
  viewed: number | null
  purchased: number | null
  interest: boolean
}

/** What the world knows about an item at one instant. */
export interface ItemFacts {
  lastDrop: { ts: number; pct: number } | null
  backInStock: number | null
  inStock: boolean
}

const circular = (h: number, c: number): number => {
  const d = Math.abs(h - c)
  return Math.min(d, 24 - d)
}
const bump = (h: number, c: number, width: number): number => Math.exp(-(circular(h, c) ** 2) / (2 * width * width))

/** A user's hour-of-week rhythm: an evening peak of their own, lunch and morning bumps, later and longer weekends. */
function rhythmOf(rand: () => number, nightOwl = false): Float64Array {
  const evening = nightOwl ? 22.5 + rand() * 2.5 : 18.5 + rand() * 4
  const lunch = 0.2 + rand() * 0.6
  const morning = 0.1 + rand() * 0.5
  const r = new Float64Array(168)
  for (let how = 0; how < 168; how++) {
    const day = Math.floor(how / 24)
    const h = how % 24
    const weekend = day >= 5
    r[how] = 0.02 + bump(h, weekend ? evening + 0.5 : evening, 1.6) + lunch * bump(h, 12.5, 1) + morning * bump(h, 8, 0.8) + (weekend ? 0.5 * bump(h, 15, 3) : 0)
  }
  const max = Math.max(...r)
  for (let i = 0; i < 168; i++) r[i] = (r[i] as number) / max
  return r
}

/**
 * The world: users, items and their state, advanced one hour at a time by {@link World.advance}.
 * State queries ({@link World.relation}, {@link World.item}) answer for any instant up to the end
 * of the last hour advanced.
 */
export class World {
  readonly users: WorldUser[]
  readonly itemIds: string[]
  readonly itemCategory: number[]
  readonly seed: number
  readonly start: number
  private readonly byUser = new Map<string, number>()
  private readonly userState: UserState[]
  private readonly itemState: ItemState[]
  /** Per category, item indices and their cumulative popularity (Zipf-like), for picking views. */
  private readonly catalog: Array<{ items: number[]; cumulative: number[] }>
  private hours = 0
  private readonly priceDropsPerDay: number

  constructor(o: WorldOptions) {
    this.seed = o.seed
    this.start = o.start
    const rand = mulberry32(hash32(`world\u0000${o.seed}`))
    // The variant's draws come from their own PRNG: the default world stays the same, draw for draw.
    const owl = mulberry32(hash32(`world-owls\u0000${o.seed}`))
    const nightOwls = o.variant?.nightOwls ?? 0
    this.priceDropsPerDay = o.variant?.priceDropsPerDay ?? 0.1
    this.users = []
    for (let i = 0; i < o.users; i++) {
      const timezone = ZONES[Math.floor(rand() * ZONES.length)] as string
      const segments = SEGMENTS.filter(([, p]) => rand() < p).map(([s]) => s)
      const first = Math.floor(rand() * CATEGORIES.length)
      const second = (first + 1 + Math.floor(rand() * (CATEGORIES.length - 1))) % CATEGORIES.length
      const churned = segments.includes('churned')
      this.users.push({ userId: `u${i}`, timezone, pushEnabled: rand() > 0.05, segments, activity: churned ? 0.05 + rand() * 0.2 : 0.4 + rand() * 1.2, interests: [first, second], rhythm: rhythmOf(rand, nightOwls > 0 && owl() < nightOwls) })
      this.byUser.set(`u${i}`, i)
    }
    const items = o.items ?? Math.max(200, Math.floor(o.users / 4))
    this.itemIds = []
    this.itemCategory = []
    this.catalog = CATEGORIES.map(() => ({ items: [] as number[], cumulative: [] as number[] }))
    for (let i = 0; i < items; i++) {
      const c = i % CATEGORIES.length
      this.itemIds.push(`item-${i}`)
      this.itemCategory.push(c)
      const cat = this.catalog[c] as { items: number[]; cumulative: number[] }
      const rank = cat.items.length + 1
      cat.items.push(i)
      cat.cumulative.push((cat.cumulative.at(-1) ?? 0) + 1 / rank ** 0.8)
    }
    this.userState = this.users.map(() => ({ fav: new Map(), cart: new Map(), lastView: new Map(), purchased: new Map() }))
    this.itemState = this.itemIds.map(() => ({ drops: [], stock: [] }))
  }

  /** Hours advanced so far. */
  get hoursAdvanced(): number {
    return this.hours
  }

  /** The user with this id, or undefined. */
  user(userId: string): WorldUser | undefined {
    const i = this.byUser.get(userId)
    return i === undefined ? undefined : this.users[i]
  }

  /** The user's activity (0..1, peak 1) at the local hour of the week of `ts`. */
  activityAt(user: WorldUser, ts: number): number {
    return user.rhythm[hourOfWeek(ts, user.timezone)] as number
  }

  /** The activity (0..1) of the user with this id at `ts`; 0 for an unknown user. */
  activity(userId: string, ts: number): number {
    const u = this.user(userId)
    return u ? this.activityAt(u, ts) : 0
  }

  /** Item index of an item id, or -1. */
  itemIndex(itemId: string): number {
    const m = /^item-(\d+)$/.exec(itemId)
    const i = m ? Number(m[1]) : -1
    return i >= 0 && i < this.itemIds.length ? i : -1
  }

  /** How `userId` relates to item `item` (an index) at `ts`: times of the relations active then. */
  relation(userId: string, item: number, ts: number): Relation {
    const u = this.byUser.get(userId)
    const s = u === undefined ? undefined : this.userState[u]
    const active = (span: Span | undefined): number | null => (span && span.since <= ts && (span.until === null || span.until > ts) ? span.since : null)
    const viewed = s?.lastView.get(item)
    const purchased = s?.purchased.get(item)
    const interests = u === undefined ? [] : (this.users[u] as WorldUser).interests
    return {
      fav: active(s?.fav.get(item)),
      cart: active(s?.cart.get(item)),
      viewed: viewed !== undefined && viewed <= ts ? viewed : null,
      purchased: purchased !== undefined && purchased <= ts ? purchased : null,
      interest: interests.includes(this.itemCategory[item] ?? -1),
    }
  }

  /** What is known about item `item` (an index) at `ts`: its latest drop, back-in-stock time and stock. */
  item(item: number, ts: number): ItemFacts {
    const st = this.itemState[item]
    let lastDrop: ItemFacts['lastDrop'] = null
    for (let i = (st?.drops.length ?? 0) - 1; i >= 0; i--) {
      const d = st?.drops[i] as { ts: number; pct: number }
      if (d.ts <= ts) {
        lastDrop = d
        break
      }
    }
    let inStock = true
    let backInStock: number | null = null
    for (let i = (st?.stock.length ?? 0) - 1; i >= 0; i--) {
      const c = st?.stock[i] as { ts: number; inStock: boolean }
      if (c.ts > ts) continue
      inStock = c.inStock
      if (c.inStock) backInStock = c.ts
      break
    }
    return { lastDrop, backInStock, inStock }
  }

  /** The item with the largest price drop in `(ts - windowMs, ts]` (ties: the lower index), or -1. */
  biggestDrop(ts: number, windowMs: number): number {
    let best = -1
    let bestPct = 0
    for (let i = 0; i < this.itemState.length; i++) {
      const d = this.item(i, ts).lastDrop
      if (d && d.ts > ts - windowMs && d.pct > bestPct) {
        best = i
        bestPct = d.pct
      }
    }
    return best
  }

  /**
   * Generates the next hour's item events and behavior events (each list in time order) and
   * applies them to the world's state.
   */
  advance(): { hourStart: number; itemEvents: ItemEvent[]; events: WorldEvent[] } {
    const hourStart = this.start + this.hours * HOUR
    const h = this.hours++
    const itemEvents = this.itemHour(hourStart, h)
    const events: WorldEvent[] = []
    for (let u = 0; u < this.users.length; u++) this.userHour(u, hourStart, h, events)
    events.sort((a, b) => a.ts - b.ts || (a.eventId < b.eventId ? -1 : 1))
    return { hourStart, itemEvents, events }
  }

  /** Price drops (about one per item every ten days), stock-outs and restocks of one hour. */
  private itemHour(hourStart: number, h: number): ItemEvent[] {
    const rand = mulberry32(hash32(`items\u0000${this.seed}\u0000${h}`))
    const out: ItemEvent[] = []
    for (let i = 0; i < this.itemIds.length; i++) {
      const st = this.itemState[i] as ItemState
      const inStock = st.stock.at(-1)?.inStock ?? true
      const ts = hourStart + Math.floor(rand() * HOUR)
      const category = CATEGORIES[this.itemCategory[i] as number] as string
      const base = { itemId: this.itemIds[i] as string, ts, category }
      if (rand() < this.priceDropsPerDay / 24) {
        // Mostly small drops, now and then a big one: 5% to 50%.
        const pct = 5 + Math.floor(45 * rand() ** 2)
        st.drops.push({ ts, pct })
        out.push({ ...base, eventId: `${base.itemId}-drop-${ts}`, type: 'price_drop', attrs: { dropPct: pct } })
      } else if (inStock && rand() < 0.03 / 24) {
        st.stock.push({ ts, inStock: false })
        out.push({ ...base, eventId: `${base.itemId}-out-${ts}`, type: 'out_of_stock' })
      } else if (!inStock && rand() < 0.4 / 24) {
        st.stock.push({ ts, inStock: true })
        out.push({ ...base, eventId: `${base.itemId}-back-${ts}`, type: 'back_in_stock' })
      }
    }
    return out.sort((a, b) => a.ts - b.ts || (a.eventId < b.eventId ? -1 : 1))
  }

  /** Picks an item for a view: a fresh deal now and then, mostly the user's interests, by popularity. */
  private pickItem(user: WorldUser, ts: number, rand: () => number): number {
    const c = rand() < 0.75 ? (user.interests[Math.floor(rand() * user.interests.length)] as number) : Math.floor(rand() * CATEGORIES.length)
    const cat = this.catalog[c] as { items: number[]; cumulative: number[] }
    // Shops show their deals: one view in five goes to a discounted item of the category, when there is one.
    if (rand() < 0.2) {
      const start = Math.floor(rand() * cat.items.length)
      for (let k = 0; k < Math.min(cat.items.length, 40); k++) {
        const i = cat.items[(start + k) % cat.items.length] as number
        const d = this.item(i, ts).lastDrop
        if (d && d.ts > ts - 2 * DAY) return i
      }
    }
    const total = cat.cumulative.at(-1) as number
    const x = rand() * total
    let lo = 0
    let hi = cat.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cat.cumulative[mid] as number) < x) lo = mid + 1
      else hi = mid
    }
    return cat.items[lo] as number
  }

  /** One user's sessions in one hour: app open, views, favorites, carts, purchases, searches, chats. */
  private userHour(u: number, hourStart: number, h: number, out: WorldEvent[]): void {
    const user = this.users[u] as WorldUser
    const st = this.userState[u] as UserState
    const rand = mulberry32(hash32(`user\u0000${this.seed}\u0000${h}\u0000${u}`))
    const expected = 0.35 * user.activity * this.activityAt(user, hourStart + HOUR / 2)
    let sessions = Math.floor(expected) + (rand() < expected % 1 ? 1 : 0)
    let seq = 0
    const emit = (type: string, ts: number, item?: number, attrs?: { [k: string]: number }): void => {
      const e: WorldEvent = { eventId: `${user.userId}-${h}-${seq++}`, userId: user.userId, type, ts }
      if (item !== undefined) {
        e.itemId = this.itemIds[item] as string
        e.category = CATEGORIES[this.itemCategory[item] as number] as string
      }
      if (attrs) e.attrs = attrs
      out.push(e)
    }
    while (sessions-- > 0) {
      let ts = hourStart + Math.floor(rand() * (HOUR - 10 * 60_000))
      const step = (): number => (ts += 20_000 + Math.floor(rand() * 60_000))
      emit('app_open', ts)
      if (rand() < 0.3) emit('search', step())
      const views = 1 + Math.floor(rand() * 5)
      for (let v = 0; v < views; v++) {
        const item = this.pickItem(user, ts, rand)
        const facts = this.item(item, ts)
        const t = step()
        // A view of a discounted item says so: the app shows the drop (within 3 days of it).
        const onSale = facts.lastDrop && facts.lastDrop.ts > t - 3 * DAY ? facts.lastDrop.pct : null
        emit('view', t, item, onSale === null ? undefined : { dropPct: onSale })
        st.lastView.set(item, t)
        const fav = st.fav.get(item)
        const isFav = fav !== undefined && fav.until === null
        if (!isFav && rand() < 0.08) {
          st.fav.set(item, { since: step(), until: null })
          emit('favorite', ts, item)
        }
        const cart = st.cart.get(item)
        if (facts.inStock && (cart === undefined || cart.until !== null) && rand() < (onSale !== null ? 0.12 : 0.06)) {
          st.cart.set(item, { since: step(), until: null })
          emit('add_to_cart', ts, item)
        }
      }
      // Carts: the freshest item is bought in a quarter of sessions; the rest are abandoned for now.
      const inCart = [...st.cart.entries()].filter(([, s]) => s.until === null)
      if (inCart.length > 0 && rand() < 0.25) {
        const [item, span] = inCart.reduce((a, b) => (b[1].since > a[1].since ? b : a))
        span.until = step()
        st.purchased.set(item, ts)
        emit('purchase', ts, item)
      }
      const favs = [...st.fav.entries()].filter(([, s]) => s.until === null)
      if (favs.length > 0 && rand() < 0.03) {
        const [item, span] = favs[Math.floor(rand() * favs.length)] as [number, Span]
        span.until = step()
        emit('unfavorite', ts, item)
      }
      if (rand() < 0.05) emit('chat', step())
    }
  }
}
