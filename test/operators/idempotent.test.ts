import { describe, expect, it } from 'vitest'
import { ID_CHARS, addRecentId, claimId, hasRecentId } from '../../operators/recent-ids.ts'
import type { RecentIds } from '../../operators/recent-ids.ts'
import { HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, scheduleTask, suppressions } from './helpers.ts'

/** Caps that never bind, so only idempotency keeps a second push away. */
const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0, quietStartHour: 0, quietEndHour: 0 } }

describe('decisions are idempotent by decision id', () => {
  it.each([
    ['inside one arbitration window', { ...open, fatigue: { ...open.fatigue, arbitrationWindowMs: 1000 } }, 0],
    ['without an arbitration window', { ...open, fatigue: { ...open.fatigue, arbitrationWindowMs: 0 } }, 0],
    ['an hour later', open, HOUR],
    ['a week later', open, 7 * 24 * HOUR],
  ])('sends an event delivered twice (%s) once, with no suppression for the copy', async (_when, settings, later) => {
    const d = await flow({ settings })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    const e = { eventId: 'dup-1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'sku-1' }
    await d.pipe('behavior-events', [e, ev('u2', 'price_drop', T0 + 1)])
    await d.pipe('behavior-events', [{ ...e, ts: T0 + later }])
    await advanceTo(d, T0 + later + HOUR)
    expect(decisions(d).map((x) => [x.userId, x.triggerEventId])).toEqual([['u1', 'dup-1'], ['u2', `u2-price_drop-${T0 + 1}`]])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('still sends a new event of the same user and a new fire of the same schedule', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1'), scheduleTask('s1', '0 * * * *')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0 + MIN), ev('u1', 'price_drop', T0 + 2 * MIN)])
    await advanceTo(d, T0 + 2 * HOUR + MIN)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['t1', T0 + MIN], ['t1', T0 + 2 * MIN], ['s1', T0 + HOUR], ['s1', T0 + 2 * HOUR]])
    await d.close()
  })
})

describe('a suppressed decision is remembered too', () => {
  it('gives one suppression, never a decision, for a redelivered event whose candidate was capped', async () => {
    const d = await flow({ settings: { fatigue: { ...open.fatigue, userMax: 1 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    const capped = { eventId: 'capped-1', userId: 'u1', type: 'price_drop', ts: T0 + MIN, itemId: 'sku-2' }
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), capped])
    await advanceTo(d, T0 + HOUR)
    // A day later the user cap no longer binds: without the memory of the suppression, the copy
    // of the capped event would now be sent.
    await d.pipe('behavior-events', [{ ...capped, ts: T0 + 25 * HOUR }])
    await advanceTo(d, T0 + 26 * HOUR)
    expect(decisions(d).map((x) => x.triggerEventId)).toEqual([`u1-price_drop-${T0}`])
    expect(suppressions(d).map((x) => [x.triggerEventId, x.reason])).toEqual([['capped-1', 'fatigue.user']])
    await d.close()
  })

  it('gives one suppression for a redelivered event suppressed before fatigue (no material for the user)', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1', { segments: ['vip'] })])
    await d.pipe('config.tasks', [eventTask('t1')])
    const e = { eventId: 'nomat-1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'sku-1' }
    await d.pipe('behavior-events', [e])
    await d.pipe('behavior-events', [{ ...e, ts: T0 + HOUR }])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(suppressions(d).map((x) => [x.triggerEventId, x.reason])).toEqual([['nomat-1', 'no_material']])
    await d.close()
  })

  it('forgets an id after hermes.dedup.ttlMs: a copy later than that is a new trigger', async () => {
    const d = await flow({ settings: { ...open, dedup: { ttlMs: HOUR } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    const e = { eventId: 'old-1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'sku-1' }
    await d.pipe('behavior-events', [e, { ...e, ts: T0 + 30 * MIN }, { ...e, ts: T0 + 2 * HOUR }])
    await advanceTo(d, T0 + 3 * HOUR)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([T0, T0 + 2 * HOUR])
    await d.close()
  })
})

describe('recent ids (operators/recent-ids.ts)', () => {
  const opts = { ttlMs: 1000, maxIds: 3 }
  it('remembers an id for ttlMs of event time, then forgets it', () => {
    const set = addRecentId(undefined, 'a'.repeat(32), 100, opts)
    expect(hasRecentId(set, 'a'.repeat(32), 1099, opts)).toBe(true)
    expect(hasRecentId(set, 'a'.repeat(32), 1100, opts)).toBe(false)
    expect(hasRecentId(set, 'b'.repeat(32), 500, opts)).toBe(false)
  })

  it('keeps at most maxIds per key, forgetting the oldest first, and drops expired ones when written', () => {
    let set: RecentIds | undefined
    for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) set = addRecentId(set, id.repeat(32), 10 + i, opts)
    expect(set?.ids).toEqual(['b', 'c', 'd'].map((x) => x.repeat(ID_CHARS)))
    expect(hasRecentId(set, 'a'.repeat(32), 20, opts)).toBe(false)
    expect(hasRecentId(set, 'd'.repeat(32), 20, opts)).toBe(true)
    set = addRecentId(set, 'e'.repeat(32), 1012, opts)
    expect(set.ids).toEqual(['d', 'e'].map((x) => x.repeat(ID_CHARS)))
  })

  it('claims an id once', () => {
    let value: RecentIds | undefined
    const store = { get: () => value, put: (v: RecentIds) => (value = v), delete: () => (value = undefined) }
    expect(claimId(store, 'x'.repeat(32), 1, opts)).toBe(true)
    expect(claimId(store, 'x'.repeat(32), 2, opts)).toBe(false)
    expect(claimId(store, 'x'.repeat(32), 1001, opts)).toBe(true)
  })
})
