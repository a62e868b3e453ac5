import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import type { Decision } from '../../operators/types.ts'
import { openFlow } from './embedded-harness.ts'
import { CLOCK, HOUR, MIN, T0, ev, material, personalizedTask, scheduleTask, user } from './helpers.ts'

/** Users whose ids start with characters above the Basic Multilingual Plane, CJK and ASCII. */
const USERS = ['u🙂1', '🙂', '𠀀x', '用户', 'ascii-user']
const NOON = T0 + 2 * HOUR

describe('fan-outs over users read back from RocksDB after a restart', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  it('reach every user of a schedule and of a personalized task, emoji ids included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-emoji-users-'))
    dirs.push(dir)
    const log = EmbeddedLog.inMemory()
    const state = { kind: 'rocksdb', dir } as const

    // First run: the users become known and the schedule is armed; their state reaches RocksDB.
    const first = await openFlow({ state, log })
    await first.pipe('config.materials', [material('m1'), material('m2')])
    await first.pipe('config.tasks', [scheduleTask('daily', '0 12 * * *')])
    await first.pipe('config.users', [user(CLOCK, 'UTC', false, T0)])
    await first.pipe('behavior-events', USERS.map((u) => ev(u, 'view', T0)))
    await first.close()

    // Second run: a cold cache, so the fan-outs must list the users from disk.
    const second = await openFlow({ state, log })
    await second.pipe('config.tasks', [personalizedTask('evening', 18, 19, { materials: ['m2'] })])
    const ticks = []
    for (let t = T0 + 15 * MIN; t <= T0 + 10 * HOUR; t += 15 * MIN) ticks.push(ev(CLOCK, 'tick', t))
    await second.pipe('behavior-events', ticks)
    const out = second.values<Decision>('push-decisions').filter((d) => d.userId !== CLOCK)
    await second.close()

    expect(out.filter((d) => d.taskId === 'daily').map((d) => [d.userId, d.sendAt])).toEqual(expect.arrayContaining(USERS.map((u) => [u, NOON])))
    expect(out.filter((d) => d.taskId === 'daily').map((d) => d.userId).sort()).toEqual([...USERS].sort())
    expect(out.filter((d) => d.taskId === 'evening').map((d) => d.userId).sort()).toEqual([...USERS].sort())
  })
})
