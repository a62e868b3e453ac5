import { describe, expect, it } from 'vitest'
import type { StoreSpec } from '../../pipeline/api/index.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { TaskState, fullKey } from '../../pipeline/state/task-state.ts'
import { CODEC_FORMAT } from '../../pipeline/state/value-codec.ts'
import { mulberry32 } from '../../operators/ids.ts'
import { parseSettings } from '../../operators/settings.ts'
import { taskCenterStores } from '../../operators/task-center.ts'
import type { UserState } from '../../operators/user-activity.ts'
import { newUserState, recordActivity, userStateCodec } from '../../operators/user-activity.ts'

const SEED = Number(process.env.HERMES_TEST_SEED ?? Date.now() % 1_000_000)
const WEEK = 7 * 86_400_000

/** What the JSON layout gives back: the codec must give back the same. */
const viaJson = (s: unknown): unknown => JSON.parse(JSON.stringify(s))

describe('userStateCodec', () => {
  it('round-trips random user states exactly as JSON does, byte for byte once stringified', () => {
    const rand = mulberry32(SEED)
    const zones = ['UTC', 'Asia/Shanghai', 'America/New_York', 'Europe/Berlin']
    for (let n = 0; n < 300; n++) {
      const at = `seed ${SEED} (HERMES_TEST_SEED), state ${n}`
      let s: UserState = { ...newUserState(), timezone: zones[n % zones.length] as string, pushEnabled: rand() < 0.8, segments: rand() < 0.5 ? [] : ['vip', `s${n}`, '分段-é', ''] }
      // Decayed over random weeks: buckets become doubles of many digits.
      let ts = Date.UTC(2026, 0, 1) + Math.floor(rand() * 1e9)
      const events = Math.floor(rand() * 40)
      for (let i = 0; i < events; i++) {
        ts += Math.floor(rand() * 2 * WEEK)
        s = recordActivity(s, ts, 0.8)
      }
      const bytes = userStateCodec.encode(s)
      expect(bytes[0], at).toBe(1)
      const back = userStateCodec.decode(bytes)
      expect(back, at).toEqual(viaJson(s))
      expect(JSON.stringify(back), at).toBe(JSON.stringify(s))
    }
  })

  it('stores a histogram as a bitmap of its non-zero buckets and 8 bytes each, not 10-20 characters a bucket', () => {
    let s = newUserState()
    for (let w = 0; w < 5; w++) for (let h = 0; h < 168; h++) s = recordActivity(s, Date.UTC(2026, 0, 5) + w * WEEK + h * 3_600_000, 0.8)
    const header = 1 + 1 + 8 + 4 + 3 + 4
    expect(userStateCodec.encode(s).length).toBe(header + 21 + 168 * 8)
    expect(JSON.stringify(s).length).toBeGreaterThan(2 * (header + 21 + 168 * 8))
    // Active at three hours of the week: three doubles.
    let sparse = newUserState()
    for (const h of [0, 9, 167]) sparse = recordActivity(sparse, Date.UTC(2026, 0, 5) + h * 3_600_000, 0.8)
    const bytes = userStateCodec.encode(sparse)
    expect(bytes.length).toBe(header + 21 + 3 * 8)
    expect(userStateCodec.decode(bytes)).toEqual(viaJson(sparse))
  })

  it('writes -0 as 0 and keeps a state of another shape as JSON, as the JSON layout would', () => {
    const negZero = { ...newUserState(), hist: new Array<number>(168).fill(-0), histWeek: -0 }
    const back = userStateCodec.decode(userStateCodec.encode(negZero))
    expect(Object.is(back.histWeek, 0)).toBe(true)
    expect(Object.is(back.hist?.[0], 0)).toBe(true)
    // Extra fields, a short histogram, a non-finite bucket: version 0 (JSON text), nothing lost.
    const odd = [
      { ...newUserState(), extra: { a: 1 } },
      { ...newUserState(), hist: [1, 2, 3] },
      { ...newUserState(), hist: [Number.NaN, ...new Array<number>(167).fill(1)] },
    ]
    for (const s of odd) {
      const bytes = userStateCodec.encode(s as UserState)
      expect(bytes[0]).toBe(0)
      expect(userStateCodec.decode(bytes)).toEqual(viaJson(s))
    }
  })

  it('refuses bytes it did not write', () => {
    const good = Buffer.from(userStateCodec.encode({ ...newUserState(), segments: ['a'] }))
    expect(() => userStateCodec.decode(good.subarray(0, good.length - 1))).toThrow(RangeError)
    expect(() => userStateCodec.decode(Buffer.concat([good, Buffer.from([0])]))).toThrow(/its fields end at/)
    expect(() => userStateCodec.decode(Buffer.from([9]))).toThrow(/unknown version 9/)
  })

  it('migrates a user state stored as JSON by the previous layout: read as it is, rewritten in binary when changed', async () => {
    const stores = new Map<string, StoreSpec>([['task-center.user', taskCenterStores(parseSettings({})).user as StoreSpec]])
    const backend = new MemoryBackend()
    const old: UserState = recordActivity({ ...newUserState(), timezone: 'Asia/Shanghai', segments: ['vip'] }, Date.UTC(2026, 0, 5, 9), 0.8)
    const untouched = newUserState()
    await backend.write([
      [fullKey('task-center.user', 'u1'), Buffer.from(JSON.stringify(old))],
      [fullKey('task-center.user', 'u2'), Buffer.from(JSON.stringify(untouched))],
    ])
    const state = new TaskState(backend, stores, [], 100)
    await state.open()
    expect(state.get('task-center.user', 'u1')).toEqual(old)
    const next = recordActivity(state.get('task-center.user', 'u1') as UserState, Date.UTC(2026, 0, 20, 9), 0.8)
    state.set('task-center.user', 'u1', next)
    await state.flush()
    const stored = backend.raw().get(fullKey('task-center.user', 'u1')) as Buffer
    expect(stored[0]).toBe(CODEC_FORMAT)
    expect(stored[1]).toBe(1)
    expect((backend.raw().get(fullKey('task-center.user', 'u2')) as Buffer).toString()).toBe(JSON.stringify(untouched))
    const reopened = new TaskState(backend, stores, [], 100)
    await reopened.open()
    expect(JSON.stringify(reopened.get('task-center.user', 'u1'))).toBe(JSON.stringify(next))
    expect(reopened.get('task-center.user', 'u2')).toEqual(untouched)
  })
})
