import { describe, expect, it } from 'vitest'
import { DateTime } from 'luxon'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, eventTask, flow, material, member, personalizedTask, reasons, suppressions, user } from './helpers.ts'
import type { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0 } }
const MON = T0 - 10 * HOUR // Monday 2026-11-02 00:00 UTC
const WEEK = 7 * DAY

async function setup(task: object, settings: object = open): Promise<TopologyTestDriver> {
  const d = await flow({ settings })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', [task])
  return d
}

const local = (ts: number, tz: string): string => DateTime.fromMillis(ts, { zone: tz }).toFormat('ccc HH:mm')

describe('personalized timing', () => {
  it('sends at the window start in the user\'s local time when there is no history', async () => {
    const d = await setup(personalizedTask('p', 9, 12))
    await d.pipe('config.users', [user('u1', 'Asia/Shanghai', true, T0)])
    await d.pipe('behavior-events', [ev('u1', 'view', T0)]) // Monday 18:00 in Shanghai
    await advanceTo(d, T0 + DAY)
    const out = decisions(d)
    expect(out.map((x) => local(x.sendAt, 'Asia/Shanghai'))).toEqual(['Tue 09:00'])
    expect(out[0]).toMatchObject({ taskId: 'p', decidedAt: out[0]?.sendAt, triggerEventId: null })
    await d.close()
  })

  it('sends at the local window start on the day daylight saving time ends', async () => {
    const d = await setup(personalizedTask('p', 9, 12))
    // The profile arrives Saturday 08:00 local, before that day's window: Saturday is planned too.
    await d.pipe('config.users', [user('u1', 'America/New_York', true, Date.UTC(2026, 9, 31, 12))])
    await d.pipe('behavior-events', [ev('u1', 'view', Date.UTC(2026, 9, 31, 20))]) // Saturday; clocks go back on Sunday at 02:00
    await advanceTo(d, Date.UTC(2026, 10, 1, 18), 30 * MIN)
    expect(decisions(d).map((x) => DateTime.fromMillis(x.sendAt, { zone: 'America/New_York' }).toISO())).toEqual(['2026-10-31T09:00:00.000-04:00', '2026-11-01T09:00:00.000-05:00'])
    await d.close()
  })

  it('plans every known user when a task published ahead of its validFrom becomes live, as a restart would', async () => {
    const run = async (restartAt: number | null): Promise<string[]> => {
      const d = await flow({ settings: open })
      await d.pipe('config.materials', [material('m1')])
      await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'view', T0 + MIN)])
      // Published at T0 (event time), live from the next day at 00:00 UTC; u1 and u2 send nothing more.
      await d.pipe('config.tasks', [personalizedTask('p', 9, 12, { validFrom: MON + DAY })])
      if (restartAt !== null) {
        await advanceTo(d, restartAt)
        await d.restart()
      }
      await advanceTo(d, MON + 3 * DAY)
      const out = decisions(d).map((x) => `${x.userId} ${local(x.sendAt, 'UTC')}`)
      await d.close()
      return out
    }
    const continuous = await run(null)
    expect(continuous).toEqual(['u1 Tue 09:00', 'u2 Tue 09:00', 'u1 Wed 09:00', 'u2 Wed 09:00'])
    expect(await run(MON + DAY + 2 * HOUR)).toEqual(continuous)
  })

  it('keeps a 168-bucket hour-of-week activity histogram in the user\'s local time, Monday 00:00 first', async () => {
    const d = await setup(personalizedTask('p', 9, 12))
    await d.pipe('config.users', [user('u1', 'Asia/Shanghai', true, MON - DAY)])
    // Monday 00:30 and Sunday 23:30 in Shanghai, and Monday 10:00 UTC (18:00 in Shanghai) twice.
    await d.pipe('behavior-events', [ev('u1', 'view', MON - 8 * HOUR + 30 * MIN), ev('u1', 'view', MON - 8 * HOUR - 30 * MIN + WEEK), ev('u1', 'view', T0 + WEEK), ev('u1', 'chat', T0 + WEEK + MIN)])
    const hist = (d.storeValue('task-center', 'user', 'u1') as { hist: number[] }).hist
    expect(hist).toHaveLength(168)
    // The first event is a week older than the others: decayed once by the default 0.8.
    expect(hist.flatMap((w, i) => (w > 0 ? [[i, Number(w.toFixed(6))]] : []))).toEqual([[0, 0.8], [18, 2], [167, 1]])
    await d.close()
  })

  it('picks the hour of the window in which the user was most active on that weekday', async () => {
    const d = await setup(personalizedTask('p', 12, 22))
    const lastTue = MON - 6 * DAY
    await d.pipe('behavior-events', [ev('u1', 'view', lastTue + 13 * HOUR), ev('u1', 'view', lastTue + 19 * HOUR + 10 * MIN), ev('u1', 'view', lastTue + 19 * HOUR + 20 * MIN)])
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await advanceTo(d, MON + DAY + 23 * HOUR, 30 * MIN)
    // No Monday history: the window start; Tuesday: 19:00, the busiest Tuesday hour of the window.
    expect(decisions(d).map((x) => local(x.sendAt, 'UTC'))).toEqual(['Mon 12:00', 'Tue 19:00'])
    await d.close()
  })

  it('decays old weeks, so recent activity outweighs more but older activity', async () => {
    const run = async (histogramDecay: number) => {
      const d = await setup(personalizedTask('p', 12, 22), { ...open, histogramDecay })
      const tue3 = MON - 20 * DAY
      const tue1 = MON - 6 * DAY
      await d.pipe('behavior-events', [0, 1, 2].map((i) => ev('u1', 'view', tue3 + 14 * HOUR + i * MIN)))
      await d.pipe('behavior-events', [0, 1].map((i) => ev('u1', 'view', tue1 + 17 * HOUR + i * MIN)))
      await d.pipe('behavior-events', [ev('u1', 'view', T0)])
      await advanceTo(d, MON + DAY + 23 * HOUR, 30 * MIN)
      const tuesday = decisions(d).filter((x) => x.sendAt >= MON + DAY)
      await d.close()
      return tuesday.map((x) => local(x.sendAt, 'UTC'))
    }
    expect(await run(1)).toEqual(['Tue 14:00'])
    expect(await run(0.3)).toEqual(['Tue 17:00'])
  })

  it('sends once per local day, day after day, even as the user\'s activity moves within the window', async () => {
    const d = await setup(personalizedTask('p', 8, 22))
    await d.pipe('config.users', [user('u1', 'America/New_York', true, MON - 4 * WEEK)])
    // Four weeks of history at moving hours, then a few days of live activity at other hours.
    const history = Array.from({ length: 28 }, (_, i) => ev('u1', 'view', MON - 4 * WEEK + i * DAY + (14 + (i % 5)) * HOUR))
    await d.pipe('behavior-events', history)
    const live = Array.from({ length: 128 }, (_, i) => ev('u1', 'view', T0 + i * 45 * MIN + 7 * MIN))
    await d.pipe('behavior-events', live)
    await advanceTo(d, T0 + 4 * DAY, 30 * MIN)
    const days = decisions(d).filter((x) => x.sendAt >= T0).map((x) => DateTime.fromMillis(x.sendAt, { zone: 'America/New_York' }).toISODate())
    expect(days.length).toBeGreaterThanOrEqual(4)
    expect(new Set(days).size).toBe(days.length)
    await d.close()
  })

  it('re-checks the opt-out when the timer fires', async () => {
    const d = await setup(personalizedTask('p', 12, 14))
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.users', [user('u1', 'UTC', false, T0 + HOUR)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d)).toEqual([])
    expect(suppressions(d).map((s) => [s.reason, s.ts])).toEqual([['opted_out', T0 + 2 * HOUR]])
    await d.close()
  })

  it('re-checks that the task is still active when the timer fires', async () => {
    const d = await setup(personalizedTask('p', 12, 14))
    await d.pipe('behavior-events', [ev('u1', 'view', T0)])
    await d.pipe('config.tasks', [personalizedTask('p', 12, 14, { status: 'paused' })])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d)).toEqual([])
    await d.close()
  })

  it('re-checks the audience when the timer fires', async () => {
    const d = await setup(personalizedTask('p', 12, 14, { audience: { include: ['vip'], exclude: [] } }))
    await d.pipe('config.audiences', [member('u1', 'vip', true, T0), member('u2', 'vip', true, T0)])
    await d.pipe('config.audiences', [member('u1', 'vip', false, T0 + HOUR)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u2'])
    await d.close()
  })

  it('re-checks fatigue when the timer fires', async () => {
    const d = await flow() // default fatigue: a 30 minute gap
    await d.pipe('config.materials', [material('m1'), material('m2')])
    await d.pipe('config.tasks', [personalizedTask('p', 12, 14, { materials: ['m2'] }), eventTask('e')])
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u1', 'price_drop', T0 + HOUR + 50 * MIN)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => [x.taskId, x.sendAt])).toEqual([['e', T0 + HOUR + 50 * MIN]])
    expect(suppressions(d).map((s) => [s.taskId, s.reason])).toEqual([['p', 'fatigue.gap']])
    await d.close()
  })

  it('plans a member known only from an audience record or a profile', async () => {
    const d = await setup(personalizedTask('p', 12, 14))
    await d.pipe('config.audiences', [member('a', 'any', true, T0)])
    await d.pipe('config.users', [user('b', 'UTC', true, T0 + MIN)])
    await advanceTo(d, T0 + 4 * HOUR)
    expect(decisions(d).map((x) => [x.userId, x.sendAt])).toEqual([['a', T0 + 2 * HOUR], ['b', T0 + 2 * HOUR]])
    await d.close()
  })

  it('does not replay the days since the epoch for memberships loaded at time 0', async () => {
    const d = await setup(personalizedTask('p', 12, 14))
    await d.pipe('config.audiences', [member('u1', 'any'), member('u2', 'any')])
    await d.pipe('behavior-events', [ev('u3', 'view', T0)])
    await advanceTo(d, T0 + DAY + 4 * HOUR, 30 * MIN)
    const out = decisions(d)
    expect(out.map((x) => [x.userId, local(x.sendAt, 'UTC')])).toEqual([
      ['u1', 'Mon 12:00'], ['u2', 'Mon 12:00'], ['u3', 'Mon 12:00'],
      ['u1', 'Tue 12:00'], ['u2', 'Tue 12:00'], ['u3', 'Tue 12:00'],
    ])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })
})
