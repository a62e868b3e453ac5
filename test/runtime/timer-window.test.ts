import { describe, expect, it } from 'vitest'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { PREFIX } from '../../pipeline/state/task-state.ts'
import { LEGACY_TIMER_PREFIXES, decodeTime, encodeTime } from '../../pipeline/state/timer-keys.ts'
import { TimerQueue } from '../../pipeline/runtime/timers.ts'
import { mulberry32 } from '../../operators/ids.ts'

type Op = readonly [string, Buffer | null]

/** A queue over a backend with a tiny window, whose drained operations land late (as a commit in flight). */
class Windowed {
  queue!: TimerQueue
  /** Drained, not yet written. */
  pending: Op[] = []

  constructor(
    readonly backend: MemoryBackend,
    readonly window: number,
  ) {}

  async open(): Promise<void> {
    this.queue = new TimerQueue({ window: this.window })
    await this.queue.load(this.backend, { unwritten: () => this.pending })
  }

  drain(): void {
    this.pending.push(...this.queue.drainChanges())
  }

  async write(): Promise<void> {
    const ops = this.pending
    await this.backend.write(ops)
    this.pending = this.pending.slice(ops.length)
  }
}

const SEED = Number(process.env.HERMES_TEST_SEED ?? Date.now() % 1_000_000)

describe('TimerQueue with a bounded window in memory', () => {
  it('fires exactly what an unbounded queue fires, through random registers, deletes, late writes and restarts', async () => {
    const rand = mulberry32(SEED)
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    const reference = new TimerQueue()
    const windowed = new Windowed(new MemoryBackend(), 4)
    await windowed.open()
    const keys = Array.from({ length: 15 }, (_, i) => (i === 0 ? null : `u${i}`))
    const names = ['a', 'b', 'window']
    const registered: Array<[string | null, number, string, 'event' | 'processing']> = []
    let now = 1_000
    let peakInMemory = 0
    for (let step = 0; step < 4000; step++) {
      const r = rand()
      const at = `seed ${SEED} (HERMES_TEST_SEED), step ${step}`
      if (r < 0.45) {
        const domain = rand() < 0.8 ? 'event' : 'processing'
        // Often many at one time: the window must never split a time.
        const time = now + (rand() < 0.2 ? 50 : Math.floor(rand() * 400))
        const t: [string | null, number, string, 'event' | 'processing'] = [pick(keys), time, pick(names), domain]
        const payload = { n: step }
        reference.register(domain, 'node', t[0], t[1], t[2], payload)
        windowed.queue.register(domain, 'node', t[0], t[1], t[2], payload)
        registered.push(t)
      } else if (r < 0.6 && registered.length) {
        const [key, time, name, domain] = pick(registered)
        reference.delete(domain, 'node', key, time, name)
        windowed.queue.delete(domain, 'node', key, time, name)
      } else if (r < 0.85) {
        now += Math.floor(rand() * 40)
        for (const domain of ['event', 'processing'] as const) {
          for (;;) {
            const want = reference.popDue(domain, now)
            const got = windowed.queue.popDue(domain, now)
            expect(got, at).toEqual(want)
            if (!want) break
          }
          expect(windowed.queue.nextTime(domain), at).toBe(reference.nextTime(domain))
        }
      } else if (r < 0.95) {
        windowed.drain()
        // Written at once, or left in flight for a while.
        if (rand() < 0.5) await windowed.write()
      } else {
        // A restart: everything committed, a new queue over the same backend.
        windowed.drain()
        await windowed.write()
        await windowed.open()
      }
      peakInMemory = Math.max(peakInMemory, windowed.queue.inMemory())
    }
    // Drain both to the end.
    for (const domain of ['event', 'processing'] as const) {
      for (;;) {
        const want = reference.popDue(domain, Infinity)
        expect(windowed.queue.popDue(domain, Infinity), `seed ${SEED}`).toEqual(want)
        if (!want) break
      }
    }
    // Bounded: about twice the window per domain, plus the timers of one time that cannot be split.
    expect(peakInMemory).toBeLessThan(registered.length / 4)
    windowed.drain()
    await windowed.write()
    expect([...windowed.backend.raw().keys()].filter((k) => k.startsWith(PREFIX.timer))).toEqual([])
  })

  it('orders encoded times as the times, negative, fractional and zero included', () => {
    const times = [-8.64e15, -1e12, -1.5, -0, 0, 0.25, 1, 1_700_000_000_000, 1_700_000_000_001, 8.64e15]
    const codes = times.map(encodeTime)
    // Ascending times (-0 and 0 are one time): the codes come out in the same order.
    expect([...codes].sort()).toEqual(codes)
    for (const t of times) expect(decodeTime(encodeTime(t))).toBe(t === 0 ? 0 : t)
  })

  it('migrates timers of the previous layout: they fire as before and their old keys are deleted at the next drain', async () => {
    const backend = new MemoryBackend()
    const old = (domain: 'event' | 'processing', key: string, time: number, name: string): Op => [
      `${PREFIX.timer}${domain[0]}\u0000node\u0000${key}\u0000${time}\u0000${name}`,
      Buffer.from(JSON.stringify({ node: 'node', key, time, domain, name, payload: { was: name } })),
    ]
    await backend.write([old('event', 'u1', 300, 'b'), old('event', 'u2', 100, 'a'), old('processing', 'u1', 50, 'p')])
    const q = new TimerQueue({ window: 1 })
    await q.load(backend)
    expect(q.popDue('event', 1000)?.timer).toEqual({ key: 'u2', time: 100, domain: 'event', name: 'a', payload: { was: 'a' } })
    await backend.write(q.drainChanges())
    const keys = [...backend.raw().keys()]
    expect(keys.filter((k) => LEGACY_TIMER_PREFIXES.some((p) => k.startsWith(p)))).toEqual([])
    expect(keys).toHaveLength(2)
    // A new instance reads them in the new layout.
    const again = new TimerQueue({ window: 1 })
    await again.load(backend)
    expect(again.popDue('event', 1000)?.timer.time).toBe(300)
    expect(again.popDue('processing', 1000)?.timer.payload).toEqual({ was: 'p' })
  })
})
