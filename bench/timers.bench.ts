/**
 * Timer queue micro-benchmark: the timer traffic of the activity-counts windows without the rest
 * of the engine. Per record of a random user (time advancing `--step` ms per record): the hourly window
 * registers its close timer when the window opens, the session window moves its close timer
 * (delete, register) when the session grows; due timers are popped as the watermark moves, and
 * changes are drained every `--commit` records, as a commit would. Prints records/s and the
 * queue's peak size as JSON. Figures only: nothing here asserts a speed.
 *
 *   npx tsx bench/timers.bench.ts [--records N] [--users N] [--step MS] [--commit N]
 *
 * The defaults give each user a record every ~1.8 h on average, as in `npm start`.
 */
import { parseArgs } from 'node:util'
import { TimerQueue } from '../pipeline/runtime/timers.ts'
import { mulberry32 } from '../operators/ids.ts'

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '2000000' },
    users: { type: 'string', default: '25000' },
    step: { type: 'string', default: '260' },
    commit: { type: 'string', default: '200000' },
  },
})
const RECORDS = Number(args.records)
const USERS = Number(args.users)
const STEP = Number(args.step)
const COMMIT = Number(args.commit)
const HOUR = 3_600_000
const GAP = 1_800_000
const GRACE = 300_000

const rand = mulberry32(7)

const keys = Array.from({ length: USERS }, (_, i) => `u${i}`)
const hourOpen = new Map<string, number>()
const sessionTimer = new Map<string, number>()
const q = new TimerQueue()
let ts = Date.UTC(2026, 10, 2)
let fired = 0
let drained = 0
let peak = 0
const started = performance.now()
for (let i = 0; i < RECORDS; i++) {
  ts += STEP
  const key = keys[Math.floor(rand() * USERS)] as string
  const hour = Math.floor(ts / HOUR) * HOUR
  if (hourOpen.get(key) !== hour) {
    hourOpen.set(key, hour)
    q.register('event', 'hourly', key, hour + HOUR - 1 + GRACE, 'window', hour)
  }
  const closeAt = ts + GAP - 1 + GRACE
  const old = sessionTimer.get(key)
  if (old !== undefined && old >= ts) q.delete('event', 'sessions', key, old, 'window')
  q.register('event', 'sessions', key, closeAt, 'window', ts)
  sessionTimer.set(key, closeAt)
  while (q.popDue('event', ts)) fired++
  if (q.size() > peak) peak = q.size()
  if ((i + 1) % COMMIT === 0) drained += q.drainChanges().length
}
drained += q.drainChanges().length
const seconds = (performance.now() - started) / 1000
const out = {
  benchmark: 'timers: activity-counts timer traffic on one TimerQueue',
  records: RECORDS,
  users: USERS,
  stepMs: STEP,
  commitEvery: COMMIT,
  seconds: +seconds.toFixed(2),
  recordsPerSecond: Math.round(RECORDS / seconds),
  timersFired: fired,
  persistOps: drained,
  peakTimers: peak,
  node: process.version,
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
