import { describe, expect, it } from 'vitest'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { DAY, HOUR, MIN, T0, advanceTo, decisions, ev, flow, material, member, scheduleTask, suppressions, user } from './helpers.ts'

const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0 } }
const NOON = T0 + 2 * HOUR // T0 is Monday 10:00 UTC

async function setup(task: object, users: string[], settings: object = open) {
  const d = await flow({ settings })
  await d.pipe('config.materials', [material('m1')])
  await d.pipe('config.tasks', [task])
  // Any keyed record makes a user known to its partition; a view is the usual one.
  await d.pipe('behavior-events', users.map((u) => ev(u, 'view', T0)))
  return d
}

describe('scheduled tasks', () => {
  it('fires at the cron time for every audience member held by any partition', async () => {
    const users = Array.from({ length: 16 }, (_, i) => `s-${i}`)
    expect(new Set(users.map((u) => partitionFor(u, 4))).size).toBe(4)
    const d = await setup(scheduleTask('daily', '0 12 * * *'), users)
    await advanceTo(d, NOON - MIN)
    expect(decisions(d)).toEqual([])
    await advanceTo(d, NOON + HOUR)
    const out = decisions(d)
    expect(out.map((x) => x.userId).sort()).toEqual([...users].sort())
    for (const x of out) expect(x).toMatchObject({ taskId: 'daily', decidedAt: NOON, sendAt: NOON, triggerEventId: null })
    expect(new Set(out.map((x) => x.decisionId)).size).toBe(users.length)
    await d.close()
  })

  it('does not replay the fires between a config loaded at time 0 and the first event', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *'), ['u1'])
    await advanceTo(d, NOON + HOUR)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([NOON])
    expect(suppressions(d)).toEqual([])
    await d.close()
  })

  it('reads the cron in the task\'s time zone', async () => {
    // 20:00 in Tokyo (UTC+9) is 11:00 UTC.
    const d = await setup(scheduleTask('tokyo', '0 20 * * *', {}, { timezone: 'Asia/Tokyo' }), ['u1'])
    await advanceTo(d, NOON + HOUR)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([T0 + HOUR])
    await d.close()
  })

  it('fires again at each occurrence, with a new decision id per fire', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *', { materials: ['m1'] }), ['u1'])
    await advanceTo(d, NOON + 2 * DAY + HOUR, 30 * MIN)
    const out = decisions(d)
    expect(out.map((x) => x.sendAt)).toEqual([NOON, NOON + DAY, NOON + 2 * DAY])
    expect(new Set(out.map((x) => x.decisionId)).size).toBe(3)
    await d.close()
  })

  it('spreads the members over spreadMs by a stable hash, the same in every run', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `spread-${i}`)
    const run = async () => {
      const d = await setup(scheduleTask('spread', '0 12 * * *', {}, { spreadMs: 20 * MIN }), users)
      await advanceTo(d, NOON + HOUR, 5 * MIN)
      const sendAts = Object.fromEntries(decisions(d).map((x) => [x.userId, x.sendAt]))
      await d.close()
      return sendAts
    }
    const first = await run()
    const times = Object.values(first)
    expect(times).toHaveLength(40)
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(NOON)
      expect(t).toBeLessThan(NOON + 20 * MIN)
    }
    expect(new Set(times).size).toBeGreaterThan(30)
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(15 * MIN)
    expect(await run()).toEqual(first)
  })

  it('makes only audience members candidates, judged at fire time', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [scheduleTask('vip', '0 12 * * *', { audience: { include: ['vip'], exclude: ['churned'] } })])
    await d.pipe('config.audiences', [member('in', 'vip', true, T0), member('out', 'other', true, T0), member('churned', 'vip', true, T0), member('churned', 'churned', true, T0)])
    await d.pipe('config.audiences', [member('left', 'vip', true, T0), member('left', 'vip', false, T0 + HOUR)])
    await advanceTo(d, NOON + HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['in'])
    await d.close()
  })

  it('stops firing when paused and fires again at the next occurrence once reactivated', async () => {
    const task = (status: string) => scheduleTask('daily', '0 12 * * *', { status })
    const d = await setup(task('active'), ['u1'])
    await advanceTo(d, NOON + HOUR)
    await d.pipe('config.tasks', [task('paused')])
    await advanceTo(d, NOON + DAY + HOUR)
    await d.pipe('config.tasks', [task('active')])
    await advanceTo(d, NOON + 2 * DAY + HOUR)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([NOON, NOON + 2 * DAY])
    await d.close()
  })

  it('stops firing once deleted', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *'), ['u1'])
    await d.pipe('config.tasks', [null], { key: 'daily' })
    await advanceTo(d, NOON + DAY + HOUR)
    expect(decisions(d)).toEqual([])
    await d.close()
  })

  it('re-checks the task at each member\'s spread time: a pause during the spread stops the rest', async () => {
    const users = Array.from({ length: 30 }, (_, i) => `p-${i}`)
    const task = (status: string) => scheduleTask('spread', '0 12 * * *', { status }, { spreadMs: HOUR })
    const d = await setup(task('active'), users)
    await advanceTo(d, NOON + 30 * MIN, 5 * MIN)
    await d.pipe('config.tasks', [task('paused')])
    await advanceTo(d, NOON + 2 * HOUR, 5 * MIN)
    const out = decisions(d)
    expect(out.length).toBeGreaterThan(5)
    expect(out.length).toBeLessThan(25)
    for (const x of out) expect(x.sendAt).toBeLessThanOrEqual(NOON + 30 * MIN)
    await d.close()
  })

  it('skips a fire that the watermark passed by more than the missed-fire tolerance, then fires on time again', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *'), ['u1'], { ...open, missedFireToleranceMs: HOUR })
    await d.pipe('behavior-events', [ev('u1', 'view', NOON + 2 * HOUR)]) // the watermark jumps from 10:00 to 14:00
    await advanceTo(d, NOON + DAY + HOUR)
    expect(decisions(d).map((x) => x.sendAt)).toEqual([NOON + DAY])
    await d.close()
  })

  it('still sends a fire that a gap in the input delayed by less than the tolerance (default 24 h)', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *'), ['u1'])
    await d.pipe('behavior-events', [ev('u1', 'view', NOON + 2 * HOUR)])
    expect(decisions(d).map((x) => x.sendAt)).toEqual([NOON])
    await d.close()
  })

  it('turns an opted-out member into an opted_out suppression, never a decision', async () => {
    const d = await setup(scheduleTask('daily', '0 12 * * *'), ['u1', 'u2'])
    await d.pipe('config.users', [user('u2', 'UTC', false, T0 + HOUR)])
    await advanceTo(d, NOON + HOUR)
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    expect(suppressions(d).map((s) => [s.userId, s.reason, s.ts])).toEqual([['u2', 'opted_out', NOON]])
    await d.close()
  })
})
