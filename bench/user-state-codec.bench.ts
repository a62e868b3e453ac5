/**
 * The Task Center's user state on disk: JSON (the previous layout) against the binary codec
 * (operators/user-activity.ts `userStateCodec`, framed by pipeline/state/value-codec.ts), for
 * users with a few weeks of decayed activity (histogram buckets are doubles of many digits).
 * Prints bytes per value and microseconds to encode and decode one, both ways measured in the
 * same process, alternating. Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/user-state-codec.bench.ts [--users 20000] [--weeks 6] [--rounds 5]
 */
import { parseArgs } from 'node:util'
import { mulberry32 } from '../operators/ids.ts'
import type { UserState } from '../operators/user-activity.ts'
import { newUserState, recordActivity, userStateCodec } from '../operators/user-activity.ts'
import { decodeCodecValue, encodeCodecValue } from '../pipeline/state/value-codec.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    weeks: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '5' },
  },
})
const USERS = Number(args.users)
const WEEKS = Number(args.weeks)
const ROUNDS = Number(args.rounds)
const HOUR = 3_600_000
const start = Date.UTC(2026, 9, 5)
const rand = mulberry32(7)
const codec = userStateCodec as never

const states: UserState[] = []
for (let u = 0; u < USERS; u++) {
  let s: UserState = { ...newUserState(), timezone: u % 3 === 0 ? 'Asia/Shanghai' : 'UTC', segments: u % 2 ? ['active', 'vip'] : [] }
  // About 3 events a day at the user's own favourite hours.
  for (let d = 0; d < WEEKS * 7; d++) for (let e = 0; e < 3; e++) s = recordActivity(s, start + d * 24 * HOUR + ((u + e * 5 + Math.floor(rand() * 3)) % 24) * HOUR, 0.8)
  states.push(s)
}

type Way = { name: string; encode: (s: UserState) => Buffer; decode: (b: Buffer) => unknown }
const ways: Way[] = [
  { name: 'JSON', encode: (s) => Buffer.from(JSON.stringify(s), 'utf8'), decode: (b) => JSON.parse(b.toString('utf8')) },
  { name: 'binary codec', encode: (s) => encodeCodecValue(codec, s), decode: (b) => decodeCodecValue(codec, b, 'task-center.user') },
]
const best = new Map<string, { enc: number; dec: number; bytes: number }>()
let sink = 0
for (let r = 0; r < ROUNDS; r++) {
  for (const way of r % 2 ? [...ways].reverse() : ways) {
    const t0 = performance.now()
    const bufs = states.map(way.encode)
    const t1 = performance.now()
    for (const b of bufs) sink += (way.decode(b) as UserState).histWeek
    const t2 = performance.now()
    const bytes = bufs.reduce((n, b) => n + b.length, 0) / USERS
    const prev = best.get(way.name)
    best.set(way.name, { enc: Math.min(prev?.enc ?? Infinity, ((t1 - t0) * 1000) / USERS), dec: Math.min(prev?.dec ?? Infinity, ((t2 - t1) * 1000) / USERS), bytes })
  }
}
const json = best.get('JSON') as { enc: number; dec: number; bytes: number }
const bin = best.get('binary codec') as { enc: number; dec: number; bytes: number }
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'task-center user state: JSON against the binary codec (best of rounds)',
      users: USERS,
      weeksOfActivity: WEEKS,
      json: { bytes: Math.round(json.bytes), encodeUs: +json.enc.toFixed(2), decodeUs: +json.dec.toFixed(2) },
      binary: { bytes: Math.round(bin.bytes), encodeUs: +bin.enc.toFixed(2), decodeUs: +bin.dec.toFixed(2) },
      ratios: { bytes: +(json.bytes / bin.bytes).toFixed(2), encode: +(json.enc / bin.enc).toFixed(2), decode: +(json.dec / bin.dec).toFixed(2) },
      check: sink > 0,
      node: process.version,
    },
    null,
    2,
  )}\n`,
)
