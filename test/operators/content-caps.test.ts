import { describe, expect, it } from 'vitest'
import { DAY, HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material, reasons, suppressions } from './helpers.ts'

/** Only the material cap binds (one push per material, or content, per 7 days). */
const base = { userMax: 100, minGapMs: 0, quietStartHour: 0, quietEndHour: 0 }

function itemTask(id: string, extra: object = {}): object {
  return eventTask(id, { trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav'] } }, ...extra })
}

const drop = (itemId: string, ts: number): object => ({ eventId: `${itemId}-drop-${ts}`, itemId, type: 'price_drop', ts, attrs: { dropPct: 30 } })
const fav = (userId: string, itemId: string, ts: number): object => ev(userId, 'favorite', ts, { itemId })

/** u1 favorites two items; each drops in price, a day apart. */
async function twoDrops(settings: object, tasks: object[], items: [string, string] = ['sku-1', 'sku-2']) {
  const d = await flow({ settings })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', tasks)
  await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u1', 'sku-2', T0 + MIN)])
  await d.pipe('item-events', [drop(items[0], T0 + HOUR)])
  await d.pipe('item-events', [drop(items[1], T0 + DAY)])
  await advanceTo(d, T0 + DAY + HOUR)
  return d
}

describe('fatigue by content: the material cap may count material plus item', () => {
  it('lets price drops on two items through with per content, and blocks the second with per material', async () => {
    const perContent = await twoDrops({ fatigue: { ...base, materialPer: 'content' } }, [itemTask('t1')])
    expect(decisions(perContent).map((x) => [x.userId, x.body, x.sendAt])).toEqual([
      ['u1', 'Body of m1 for sku-1', T0 + HOUR],
      ['u1', 'Body of m1 for sku-2', T0 + DAY],
    ])
    expect(suppressions(perContent)).toEqual([])
    await perContent.close()

    const perMaterial = await twoDrops({ fatigue: base }, [itemTask('t1')])
    expect(decisions(perMaterial).map((x) => x.body)).toEqual(['Body of m1 for sku-1'])
    expect(suppressions(perMaterial).map((x) => [x.reason, x.materialId, x.triggerEventId])).toEqual([['fatigue.material', 'm1', `sku-2-drop-${T0 + DAY}`]])
    await perMaterial.close()
  })

  it('still caps the same content: a second drop on the same item is fatigue.material', async () => {
    const d = await twoDrops({ fatigue: { ...base, materialPer: 'content' } }, [itemTask('t1')], ['sku-1', 'sku-1'])
    expect(decisions(d).map((x) => x.body)).toEqual(['Body of m1 for sku-1'])
    expect(reasons(suppressions(d))).toEqual(['fatigue.material'])
    await d.close()
  })

  it('counts content for event triggers too, by the event\'s itemId', async () => {
    const d = await flow({ settings: { fatigue: { ...base, materialPer: 'content' } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { itemId: 'a' }), ev('u1', 'price_drop', T0 + HOUR, { itemId: 'b' }), ev('u1', 'price_drop', T0 + 2 * HOUR, { itemId: 'a' })])
    await advanceTo(d, T0 + 3 * HOUR)
    expect(decisions(d).map((x) => x.body)).toEqual(['Body of m1 for a', 'Body of m1 for b'])
    expect(reasons(suppressions(d))).toEqual(['fatigue.material'])
    await d.close()
  })
})

describe('caps per task override the global ones', () => {
  it('a task\'s caps.material.per content lets it through where the global per material cap blocks another task', async () => {
    const d = await flow({ settings: { fatigue: base } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [itemTask('t1', { caps: { material: { per: 'content' } } }), eventTask('t2', { trigger: { type: 'event', events: ['chat'] } })])
    await d.pipe('behavior-events', [fav('u1', 'sku-1', T0), fav('u1', 'sku-2', T0)])
    await d.pipe('item-events', [drop('sku-1', T0 + HOUR), drop('sku-2', T0 + 2 * HOUR)])
    await d.pipe('behavior-events', [ev('u1', 'chat', T0 + 3 * HOUR, { itemId: 'sku-3' })])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.body])).toEqual([['t1', 'Body of m1 for sku-1'], ['t1', 'Body of m1 for sku-2']])
    // t2 counts per material (the global setting): m1 went out already.
    expect(suppressions(d).map((x) => [x.taskId, x.reason])).toEqual([['t2', 'fatigue.material']])
    await d.close()
  })

  it('a task\'s caps.material max and window replace the global ones for its candidates', async () => {
    const d = await flow({ settings: { fatigue: base } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { caps: { material: { max: 2, windowMs: 2 * HOUR } } })])
    await d.pipe('behavior-events', [0, 30, 60, 150].map((m) => ev('u1', 'price_drop', T0 + m * MIN)))
    await advanceTo(d, T0 + 4 * HOUR)
    // Two per rolling 2 hours: the third (60 min) is capped, the fourth (150 min) is not.
    expect(decisions(d).map((x) => (x.sendAt - T0) / MIN)).toEqual([0, 30, 150])
    expect(reasons(suppressions(d))).toEqual(['fatigue.material'])
    await d.close()
  })

  it('a task\'s caps.user and caps.minGapMs replace hermes.fatigue.userMax and minGapMs for its candidates only', async () => {
    const d = await flow({ settings: { fatigue: { ...base, userMax: 1, minGapMs: HOUR, materialMax: 100 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('vip', { caps: { user: { max: 3, windowMs: DAY }, minGapMs: 0 } }), eventTask('plain', { trigger: { type: 'event', events: ['chat'] } })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u1', 'price_drop', T0 + MIN), ev('u1', 'chat', T0 + 2 * HOUR), ev('u1', 'price_drop', T0 + 3 * HOUR), ev('u1', 'price_drop', T0 + 4 * HOUR)])
    await advanceTo(d, T0 + 5 * HOUR)
    expect(decisions(d).map((x) => [x.taskId, (x.sendAt - T0) / MIN])).toEqual([['vip', 0], ['vip', 1], ['vip', 180]])
    expect(suppressions(d).map((x) => [x.taskId, x.reason])).toEqual([['plain', 'fatigue.user'], ['vip', 'fatigue.user']])
    await d.close()
  })

  it('refuses bad caps with the field named', async () => {
    const d = await flow({ settings: { fatigue: base } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [
      eventTask('t1', { caps: { material: { per: 'item' } } }),
      eventTask('t2', { caps: { material: { per: 'content', windowMS: DAY } } }),
      eventTask('t3', { caps: { user: { max: 1, windowMs: 60 * DAY } } }),
    ])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([
      expect.stringMatching(/^invalid task t1: caps\.material\.per: .*"material".*"content"/),
      'invalid task t2: caps.material: unknown field "windowMS" (did you mean "windowMs"?)',
      'invalid task t3: caps.user.windowMs: at most 31 days (2678400000 ms): the push history fatigue keeps',
    ])
    await d.close()
  })
})
