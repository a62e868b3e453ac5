import { describe, expect, it } from 'vitest'
import { clickProbability, drawClick, pushedItem, PushLedger } from '../../scripts/sim/clicks.ts'
import type { Push, WorldFacts } from '../../scripts/sim/clicks.ts'
import type { ItemFacts, Relation } from '../../scripts/sim/world.ts'
import { DAY, HOUR, World } from '../../scripts/sim/world.ts'

// Monday 2026-11-02 12:00 UTC: 12:00 local for a UTC user.
const NOON = Date.UTC(2026, 10, 2, 12)

/** A world with planted facts: one UTC user, one item, answers chosen by the test. */
function planted(o: { activity?: (ts: number) => number; relation?: Partial<Relation>; item?: Partial<ItemFacts> } = {}): WorldFacts {
  return {
    user: (id) => (id === 'u1' ? { timezone: 'UTC' } : undefined),
    activity: (_id, ts) => o.activity?.(ts) ?? 0.5,
    itemIndex: (id) => (id === 'item-7' ? 7 : -1),
    relation: () => ({ fav: null, cart: null, viewed: null, purchased: null, interest: false, ...o.relation }),
    item: () => ({ lastDrop: null, backInStock: null, inStock: true, ...o.item }),
  }
}

const push = (over: Partial<Push> = {}): Push => ({ userId: 'u1', decisionId: 'd1', sendAt: NOON, materialId: 'm1', itemId: 'item-7', ...over })
const p = (world: WorldFacts, over: Partial<Push> = {}, ledger = new PushLedger()): number => clickProbability(world, push(over), 1, ledger).p

describe('the click model', () => {
  it('gives a push at an hour the user is active a higher probability than at one they are not', () => {
    const world = planted({ activity: (ts) => (ts === NOON ? 1 : 0.1) })
    expect(p(world)).toBeGreaterThan(p(world, { sendAt: NOON + 3 * HOUR }))
  })

  it('gives a fresher price drop a higher probability than an older one of the same size', () => {
    const fresh = planted({ item: { lastDrop: { ts: NOON - 2 * HOUR, pct: 40 } } })
    const old = planted({ item: { lastDrop: { ts: NOON - 3 * DAY, pct: 40 } } })
    expect(p(fresh)).toBeGreaterThan(p(old))
    expect(p(old)).toBeGreaterThan(p(planted()))
  })

  it('gives a larger price drop a higher probability than a smaller one of the same age', () => {
    const big = planted({ item: { lastDrop: { ts: NOON - 2 * HOUR, pct: 40 } } })
    const small = planted({ item: { lastDrop: { ts: NOON - 2 * HOUR, pct: 10 } } })
    expect(p(big)).toBeGreaterThan(p(small))
  })

  it('gives an item the user relates to a higher probability than an unrelated one', () => {
    const none = p(planted())
    const interest = p(planted({ relation: { interest: true } }))
    const viewed = p(planted({ relation: { viewed: NOON - HOUR } }))
    const fav = p(planted({ relation: { fav: NOON - DAY } }))
    const cart = p(planted({ relation: { cart: NOON - 3 * DAY } }))
    expect(interest).toBeGreaterThan(none)
    expect(viewed).toBeGreaterThan(interest)
    expect(fav).toBeGreaterThan(viewed)
    expect(cart).toBeGreaterThan(fav)
    // A bought item is no longer interesting.
    expect(p(planted({ relation: { purchased: NOON - DAY, viewed: NOON - DAY } }))).toBeLessThan(none)
  })

  it('lowers the probability with each recent push, the last 24 hours more than the week', () => {
    const world = planted()
    const ledger = new PushLedger()
    const probabilities = [p(world, {}, ledger)]
    ledger.add('u1', NOON - 3 * DAY, null)
    probabilities.push(p(world, {}, ledger))
    ledger.add('u1', NOON - 5 * HOUR, null)
    probabilities.push(p(world, {}, ledger))
    ledger.add('u1', NOON - 2 * HOUR, null)
    probabilities.push(p(world, {}, ledger))
    for (let i = 1; i < probabilities.length; i++) expect(probabilities[i]).toBeLessThan(probabilities[i - 1] as number)
    // One push 5 h ago costs more than one 3 days ago.
    expect((probabilities[1] as number) - (probabilities[2] as number)).toBeGreaterThan((probabilities[0] as number) - (probabilities[1] as number))
    // Pushes of other users, and pushes after this one, do not count.
    ledger.add('u2', NOON - HOUR, null)
    ledger.add('u1', NOON + HOUR, null)
    expect(p(world, {}, ledger)).toBe(probabilities[3])
  })

  it('lowers the probability of a second push about the same item, not of one about another item', () => {
    const world = planted()
    const ledger = new PushLedger()
    ledger.add('u1', NOON - 2 * DAY, 'item-7')
    const other = new PushLedger()
    other.add('u1', NOON - 2 * DAY, 'item-8')
    expect(p(world, {}, ledger)).toBeLessThan(p(world, {}, other))
  })

  it('makes a push at night, at the same activity, far less likely to be clicked', () => {
    const world = planted({ activity: () => 0.5 })
    expect(p(world, { sendAt: NOON - 9 * HOUR })).toBeLessThan(p(world) / 4)
  })

  it('judges a generic push without item facts, and an unknown user as never clicking', () => {
    const world = planted({ item: { lastDrop: { ts: NOON - HOUR, pct: 50 } } })
    expect(p(world, { itemId: null })).toBeLessThan(p(world))
    expect(p(world, { userId: 'nobody' })).toBe(0)
  })

  it('reads the pushed item from the deeplink', () => {
    expect(pushedItem('app://item/item-12')).toBe('item-12')
    expect(pushedItem('app://item/item-12?from=push')).toBe('item-12')
    expect(pushedItem('app://home')).toBeNull()
    expect(pushedItem(null)).toBeNull()
  })
})

describe('click draws', () => {
  it('are the same for the same seed, user and decision, whatever the order they are drawn in', () => {
    const pushes = Array.from({ length: 200 }, (_, i) => push({ decisionId: `d${i}` }))
    const forward = pushes.map((x) => drawClick(42, x, 0.3))
    const backward = [...pushes].reverse().map((x) => drawClick(42, x, 0.3)).reverse()
    expect(backward).toEqual(forward)
    const clicks = forward.filter((d) => d.clicked).length
    expect(clicks).toBeGreaterThan(30)
    expect(clicks).toBeLessThan(90)
    for (const d of forward) if (d.clicked) expect(d.clickAt).toBeGreaterThan(NOON)
  })

  it('differ for another seed', () => {
    const pushes = Array.from({ length: 200 }, (_, i) => push({ decisionId: `d${i}` }))
    expect(pushes.map((x) => drawClick(43, x, 0.3).clicked)).not.toEqual(pushes.map((x) => drawClick(42, x, 0.3).clicked))
  })
})

describe('the world', () => {
  const run = (seed: number): string => {
    const w = new World({ users: 30, seed, start: Date.UTC(2026, 10, 2) })
    const out: string[] = []
    for (let h = 0; h < 48; h++) {
      const { events, itemEvents } = w.advance()
      out.push(...itemEvents.map((e) => JSON.stringify(e)), ...events.map((e) => JSON.stringify(e)))
    }
    return out.join('\n')
  }

  it('is the same for the same seed and different for another', () => {
    const a = run(7)
    expect(a.length).toBeGreaterThan(1000)
    expect(run(7)).toBe(a)
    expect(run(8)).not.toBe(a)
  })

  it('answers relations as of an instant: a favorite counts from its event on', () => {
    const w = new World({ users: 50, seed: 3, start: Date.UTC(2026, 10, 2) })
    let fav: { userId: string; itemId: string; ts: number } | null = null
    for (let h = 0; h < 48 && !fav; h++) {
      const e = w.advance().events.find((x) => x.type === 'favorite')
      if (e) fav = { userId: e.userId, itemId: e.itemId as string, ts: e.ts }
    }
    expect(fav).not.toBeNull()
    const f = fav as { userId: string; itemId: string; ts: number }
    const item = w.itemIndex(f.itemId)
    expect(w.relation(f.userId, item, f.ts - 1).fav).toBeNull()
    expect(w.relation(f.userId, item, f.ts).fav).toBe(f.ts)
  })
})
