import { describe, expect, it } from 'vitest'
import { decisionId, unitHash } from '../../operators/ids.ts'
import { parseSettings } from '../../operators/settings.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { DAY, HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

/** Caps that never bind: only relations decide who gets a push. */
const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0, quietStartHour: 0, quietEndHour: 0 } }

const priceDropMaterial = material('m1', { body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper', fallbacks: {} })

function itemTask(id: string, trigger: object = {}, extra: object = {}): object {
  return eventTask(id, { trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav'] }, ...trigger }, ...extra })
}

function itemEvent(itemId: string, type: string, ts: number, extra: object = {}): object {
  return { eventId: `${itemId}-${type}-${ts}`, itemId, type, ts, ...extra }
}

/** A 30% price drop of an item. */
const drop = (itemId: string, ts: number): object => itemEvent(itemId, 'price_drop', ts, { attrs: { dropPct: 30 } })

const fav = (userId: string, itemId: string, ts: number): object => ev(userId, 'favorite', ts, { itemId })

async function setUp(settings: object = open, tasks: object[] = [itemTask('t1')]) {
  const d = await flow({ settings })
  await d.pipe('config.materials', [priceDropMaterial])
  await d.pipe('config.tasks', tasks)
  return d
}

describe('item relations and item triggers', () => {
  it('reaches only the users who favorited THAT item (a favorite of another item does not count)', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-2', T0 + MIN), ev('u3', 'view', T0 + 2 * MIN, { itemId: 'sku-1' })])
    await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.body, x.triggerEventId, x.decidedAt, x.sendAt])).toEqual([
      ['u1', 't1', 'sku-1 is 30% cheaper', `sku-1-price_drop-${T0 + HOUR}`, T0 + HOUR, T0 + HOUR],
    ])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('builds a relation with a favorite and removes it with an unfavorite', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-1', T0 + MIN), ev('u2', 'unfavorite', T0 + 2 * MIN, { itemId: 'sku-1' })])
    await d.pipe('item-events', [drop('sku-1', T0 + HOUR)])
    // Favorited again after the drop: related for the next one.
    await d.pipe('behavior-events', [fav('u2', 'sku-1', T0 + 2 * HOUR)])
    await d.pipe('item-events', [drop('sku-1', T0 + 3 * HOUR)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.decidedAt])).toEqual([
      ['u1', T0 + HOUR],
      ['u1', T0 + 3 * HOUR],
      ['u2', T0 + 3 * HOUR],
    ])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('keeps relations across a restart (keyed state of the relations node)', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0)])
    await d.restart()
    await d.pipe('item-events', [drop('sku-1', T0 + HOUR)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })

  it('forgets a relation its lifetime after its latest event (hermes.relations.<type>.ttlMs)', async () => {
    const settings = { ...open, relations: { fav: { events: ['favorite'], removedBy: ['unfavorite'], ttlMs: DAY } } }
    const d = await setUp(settings)
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-1', T0 + 12 * HOUR)])
    await d.pipe('item-events', [drop('sku-1', T0 + 30 * HOUR)])
    await advanceTo(d, T0 + 31 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u2'])
    await d.close()
  })

  it('keeps only relations whose latest event is within relation.withinMs of the item event', async () => {
    const d = await setUp(open, [itemTask('t1', { relation: { types: ['fav'], withinMs: 2 * HOUR } })])
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-1', T0 + 2 * HOUR)])
    await d.pipe('item-events', [drop('sku-1', T0 + 3 * HOUR)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u2'])
    await d.close()
  })

  it('lets the rule see relation and item (item.attrs.dropPct), and event as the item event', async () => {
    const when = { and: [{ '>=': [{ var: 'item.attrs.dropPct' }, 20] }, { '>=': [{ var: 'relation.count' }, 2] }, { '==': [{ var: 'relation.type' }, 'cart'] }, { '==': [{ var: 'event.itemId' }, 'sku-1'] }] }
    const d = await setUp(open, [itemTask('t1', { relation: { types: ['cart', 'fav'] }, when })])
    await d.pipe('behavior-events', [
      ev('u1', 'add_to_cart', T0, { itemId: 'sku-1' }),
      ev('u1', 'add_to_cart', T0 + MIN, { itemId: 'sku-1' }),
      fav('u1', 'sku-1', T0 + 2 * MIN),
      // Twice in the cart too, but a favorite listed after cart in types: cart is its relation.
      ev('u2', 'add_to_cart', T0, { itemId: 'sku-1' }),
      fav('u3', 'sku-1', T0),
      fav('u3', 'sku-1', T0 + MIN),
    ])
    await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 10 } }), itemEvent('sku-1', 'price_drop', T0 + 2 * HOUR, { attrs: { dropPct: 25 } })])
    await advanceTo(d, T0 + 3 * HOUR)
    // u1: cart twice, 25%. u2: cart once. u3: favorites only, not a cart relation.
    expect(decisions(d).map((x) => [x.userId, x.decidedAt, x.body])).toEqual([['u1', T0 + 2 * HOUR, 'sku-1 is 25% cheaper']])
    await d.close()
  })

  it('fans out to at most fanout.maxUsers users, the most recent relations first, and counts the others', async () => {
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const d = await TopologyTestDriver.create([pushDecisions({ settings: open })], { config: { hermes: open }, metrics })
    await d.pipe('config.materials', [priceDropMaterial])
    await d.pipe('config.tasks', [itemTask('t1', { fanout: { maxUsers: 3 } })])
    await d.pipe('behavior-events', ['u1', 'u2', 'u3', 'u4', 'u5'].map((u, i) => fav(u, 'sku-1', T0 + i * MIN)))
    await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => x.userId).sort()).toEqual(['u3', 'u4', 'u5'])
    expect(suppressions(d)).toEqual([])
    const text = await metrics.registry.getSingleMetricAsString('hermes_operator_events_total')
    expect(text).toContain('node="relations",event="fanout_limited",reason="t1"} 2')
    expect(text).toContain('node="relations",event="fanout",reason="t1"} 3')
    await d.close()
  })

  it('spreads the fanned-out candidates over fanout.spreadMs by a stable hash of the user', async () => {
    const spreadMs = 10 * MIN
    const d = await setUp(open, [itemTask('t1', { fanout: { spreadMs } })])
    const users = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`)
    await d.pipe('behavior-events', users.map((u) => fav(u, 'sku-1', T0)))
    const drop = itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } }) as { eventId: string }
    await d.pipe('item-events', [drop])
    await advanceTo(d, T0 + 2 * HOUR)
    const got = decisions(d)
    expect(got.map((x) => x.userId).sort()).toEqual(users)
    for (const x of got) {
      expect(x.sendAt).toBe(T0 + HOUR + Math.floor(unitHash(`t1\u0000${x.userId}\u0000${drop.eventId}`) * spreadMs))
      expect(x.decidedAt).toBe(T0 + HOUR)
    }
    // Spread, not in one millisecond: more than half of the 20 send times are distinct.
    expect(new Set(got.map((x) => x.sendAt)).size).toBeGreaterThan(10)
    expect(Math.max(...got.map((x) => x.sendAt))).toBeLessThan(T0 + HOUR + spreadMs)
    await d.close()
  })

  it('gives decision ids that hash user, task and item event, the same across reruns', async () => {
    const run = async () => {
      const d = await setUp()
      await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-1', T0 + MIN)])
      await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })])
      await advanceTo(d, T0 + 2 * HOUR)
      const out = decisions(d)
      await d.close()
      return out
    }
    const first = await run()
    expect(first.map((x) => x.decisionId)).toEqual(['u1', 'u2'].map((u) => decisionId(u, 't1', `item:sku-1-price_drop-${T0 + HOUR}`)))
    expect(await run()).toEqual(first)
  })

  it('sends once for an item event delivered twice', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0)])
    const drop = itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })
    await d.pipe('item-events', [drop, drop])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('produces nothing for an item nobody is related to, or an item event no task listens to', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0)])
    await d.pipe('item-events', [itemEvent('sku-unknown', 'price_drop', T0 + HOUR), itemEvent('sku-1', 'back_in_stock', T0 + HOUR)])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d)).toEqual([])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('keeps the audience: a related user outside it gets nothing', async () => {
    const d = await setUp(open, [itemTask('t1', {}, { audience: { include: [], exclude: ['churned'] } })])
    await d.pipe('config.audiences', [{ userId: 'u2', segmentId: 'churned', member: true }])
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u2', 'sku-1', T0)])
    await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })

  it('dead-letters invalid item events with the field named, and goes on', async () => {
    const d = await setUp()
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0)])
    await d.pipe('item-events', [
      { eventId: 'x1', itemId: 'sku-1', type: 'price_drop', ts: T0 + MIN, attrs: { dropPct: { nested: 1 } } },
      { eventId: 'x2', itemId: 'sku-1', type: 'price_drop', ts: T0 + MIN, price: 9 },
      { eventId: '', itemId: 'sku-1', type: 'price_drop', ts: T0 + MIN },
      { eventId: 'x4', itemId: 'sku-1', ts: T0 + MIN },
    ])
    await d.pipe('item-events', [{ eventId: 'x5', itemId: 'sku-1', type: 'price_drop', ts: 'soon' }], { timestamp: T0 + MIN })
    await d.pipe('item-events', [itemEvent('sku-1', 'price_drop', T0 + HOUR, { attrs: { dropPct: 30 } })])
    await advanceTo(d, T0 + 2 * HOUR)
    const dead = deadLetters(d).filter((x) => x.topic === 'item-events')
    expect(dead.map((x) => x.reason)).toEqual([
      'invalid item event: attrs.dropPct: must be a string or a number (attrs is a flat map)',
      'invalid item event: unknown field "price" (known fields: eventId, itemId, type, ts, category, attrs)',
      'invalid item event: eventId: must be a non-empty string',
      'invalid item event: type: must be a non-empty string',
      'invalid item event: ts: must be epoch milliseconds (a number)',
    ])
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    await d.close()
  })

  it('keeps at most hermes.maxRelationsPerItem relations per item: past it, the oldest go (down to 90%)', async () => {
    const d = await setUp({ ...open, maxRelationsPerItem: 10 })
    const users = Array.from({ length: 12 }, (_, i) => `u${String(i + 1).padStart(2, '0')}`)
    await d.pipe('behavior-events', users.map((u, i) => fav(u, 'sku-1', T0 + i * MIN)))
    await d.pipe('item-events', [drop('sku-1', T0 + HOUR)])
    await advanceTo(d, T0 + 2 * HOUR)
    // The 11th relation passed the cap: the two oldest went, and the 12th came after.
    expect(decisions(d).map((x) => x.userId).sort()).toEqual(users.slice(2))
    await d.close()
  })

  it('refuses an item task naming a relation type hermes.relations does not define', async () => {
    const d = await setUp(open, [itemTask('t1', { relation: { types: ['wishlist'] } })])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringContaining('trigger.relation.types: unknown relation type "wishlist" (hermes.relations defines fav, cart)')])
    await d.close()
  })

  it('refuses a bad hermes.relations setting naming the field', () => {
    expect(() => parseSettings({ relations: { fav: { events: ['favorite'], removedBy: ['favorite'], ttlMs: DAY } } })).toThrow(/hermes\.relations\.fav\.removedBy: favorite both builds and removes/)
    expect(() => parseSettings({ relations: { fav: { events: [], ttlMs: DAY } } })).toThrow(/hermes\.relations\.fav\.events/)
    expect(() => parseSettings({ relations: { fav: { events: ['favorite'], ttlMs: DAY, ttl: 1 } } })).toThrow(/hermes\.relations\.fav/)
  })
})
