import { describe, expect, it } from 'vitest'
import { Record, TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Headers, Processor, ProcessorContext, Timer } from '../../pipeline/api/index.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { DLQ_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import type { EventTimeRules } from '../../pipeline/runtime/event-time.ts'
import { compilePlan } from '../../pipeline/runtime/plan.ts'
import { Task } from '../../pipeline/runtime/task.ts'
import { TimerQueue } from '../../pipeline/runtime/timers.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { TaskState } from '../../pipeline/state/task-state.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

interface Ev { userId: string; ts?: unknown; holdMs?: unknown }
type Out = { seen: string; at: number } | { fired: string; at: number }

const T0 = Date.UTC(2026, 10, 2, 10, 0)
const HOLD = 10 * 60_000
const DLQ = 'times.dlq'

/** Holds every record for `holdMs` (10 min) on an event-time timer, as a delayed push waits. */
function holding(): Processor<Ev, Out> {
  let ctx!: ProcessorContext<Out>
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<Ev>) {
      ctx.valueStore<number>('seen').put(r.timestamp)
      ctx.forward(r.withValue({ seen: r.value.userId, at: r.timestamp }))
      // A non-numeric holdMs makes the timer's time NaN: the input's data, as a bad time was.
      ctx.timers.registerEventTime(r.timestamp + (r.value.holdMs === undefined ? HOLD : Number(r.value.holdMs)))
    },
    onTimer(t: Timer) {
      ctx.forward(new Record<Out>({ key: t.key, value: { fired: t.key ?? '', at: t.time }, timestamp: t.time }))
    },
  }
}

function topology() {
  const b = new TopologyBuilder('times')
  b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
    .process('hold', holding, { stores: { seen: valueStore() } })
    .to('out', { topic: 'out', serde: jsonSerde() })
  return b.build()
}

const seen = (outs: Out[]) => outs.filter((o): o is Extract<Out, { seen: string }> => 'seen' in o).map((o) => [o.seen, o.at])
const fired = (outs: Out[]) => outs.filter((o): o is Extract<Out, { fired: string }> => 'fired' in o).map((o) => [o.fired, o.at])

describe('a record whose time field holds no point in time is dead-lettered and never moves time', () => {
  it.each([
    ['a fractional time', 120000.5, /^event time "ts" = 120000\.5 is not an integer number of milliseconds$/],
    ['1e300', 1e300, /^event time "ts" = 1e\+300 is beyond the range of dates/],
    ['a time just beyond the Date range', 8.64e15 + 1, /^event time "ts" = 8640000000000001 is beyond the range of dates/],
    ['a negative time', -5, /^event time "ts" = -5 is negative$/],
    ['a string', '1733500000', /^event time "ts" is the string "1733500000", not a number of epoch milliseconds$/],
    ['a boolean', true, /^event time "ts" is a boolean, not a number/],
    ['an object', { ms: 1 }, /^event time "ts" is a object, not a number/],
  ])('%s', async (_what, ts, reason) => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: T0 })
    await d.pipe('events', [{ userId: 'u1', ts: T0 }])
    expect(d.watermark('times')).toBe(T0)
    await d.pipe('events', [{ userId: 'u2', ts }], { timestamp: T0 - 1 })
    const dead = d.readOutput<{ value: string }>(DLQ)
    expect(dead).toHaveLength(1)
    const headers = dead[0]?.headers as Headers
    expect(headers[DLQ_HEADERS.reason]).toMatch(reason)
    expect(headers[DLQ_HEADERS.phase]).toBe('deserialize')
    expect(headers[DLQ_HEADERS.node]).toBe('events')
    // As read: the value's bytes, so it can be fixed and replayed.
    expect(dead[0]?.value.value).toBe(JSON.stringify({ userId: 'u2', ts }))
    // It never reached the operator, never moved the watermark, and released no held timer.
    expect(d.watermark('times')).toBe(T0)
    await d.pipe('events', [{ userId: 'u3', ts: T0 + 1000 }])
    const outs = d.readValues<Out>('out')
    expect(seen(outs)).toEqual([['u1', T0], ['u3', T0 + 1000]])
    expect(fired(outs)).toEqual([])
    expect(d.watermark('times')).toBe(T0 + 1000)
    await d.close()
  })

  it('counts each refusal as time_rejected of the source node', async () => {
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const d = await TopologyTestDriver.create(topology(), { wallClock: T0, metrics })
    await d.pipe('events', [{ userId: 'u1', ts: 1.5 }, { userId: 'u2', ts: -1 }, { userId: 'u3', ts: T0 }])
    const text = await metrics.registry.getSingleMetricAsString('hermes_operator_events_total')
    expect(text).toContain('hermes_operator_events_total{app="times",node="events",event="time_rejected",reason="implausible_time"} 2')
    await d.close()
  })

  it('takes the log timestamp for a value without the field or with null there (configuration records)', async () => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: T0 })
    await d.pipe('events', [{ userId: 'u1' }], { timestamp: 0 })
    await d.pipe('events', [{ userId: 'u2', ts: null }], { timestamp: 7 })
    expect(d.readOutput(DLQ)).toEqual([])
    expect(seen(d.readValues<Out>('out'))).toEqual([['u1', 0], ['u2', 7]])
    await d.close()
  })
})

describe('a timer asked for at no point in time', () => {
  it('dead-letters the input that asked for it, whatever errors.process says, and the run goes on', async () => {
    const d = await TopologyTestDriver.create(topology(), { wallClock: T0 })
    // errors.process is "fail" by default: before, this stopped the run on every restart.
    await d.pipe('events', [{ userId: 'u1', ts: T0, holdMs: 'soon' }])
    const dead = d.readOutput(DLQ)
    expect(dead).toHaveLength(1)
    expect(dead[0]?.headers[DLQ_HEADERS.phase]).toBe('process')
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe(`node hold registered an event-time timer at NaN for key "u1": a timer's time must be a finite epoch millisecond within the Date range (±8640000000000000)`)
    await d.pipe('events', [{ userId: 'u2', ts: T0 + 1 }, { userId: 'u2', ts: T0 + HOLD + 1 }])
    expect(fired(d.readValues<Out>('out'))).toEqual([['u2', T0 + HOLD + 1]])
    await d.restart()
    await d.pipe('events', [{ userId: 'u3', ts: T0 + HOLD + 2 }])
    expect(seen(d.readValues<Out>('out'))).toEqual([['u3', T0 + HOLD + 2]])
    await d.close()
  })
})

/** A task of the topology above with the given rules, its wall clock at `now`, and what it sent. */
async function taskWith(rules: EventTimeRules, now: number) {
  const sub = compilePlan(topology()).subtopologies[0]
  if (!sub) throw new Error('no sub-topology')
  const state = new TaskState(new MemoryBackend(), new Map([['hold.seen', { kind: 'value' } as never]]), [], 1000)
  await state.open()
  const sent: Array<{ topic: string; value: unknown; headers: Headers | undefined }> = []
  const clock = { now, reads: 0 }
  const silent = { debug() {}, info() {}, warn() {}, error() {} }
  const task = new Task({
    app: 'times',
    sub,
    partition: 0,
    state,
    timers: new TimerQueue(),
    collector: { send: (topic, _key, value, _ts, headers) => sent.push({ topic, value: value === null ? null : JSON.parse(value.toString('utf8')), headers }) },
    repartitionTopics: new Map(),
    partitions: 1,
    keyMismatch: 'rekey',
    errorPolicy: { deserialize: 'continue', process: 'fail', produce: 'fail' },
    dlqTopic: DLQ,
    maxOutOfOrdernessMs: 0,
    clock: () => {
      clock.reads++
      return clock.now
    },
    logger: silent,
    time: rules,
  })
  task.init()
  const source = sub.sources[0]
  if (!source) throw new Error('no source')
  let offset = 0
  const feed = (value: object): number =>
    task.processRecord(source, { topic: 'events', partition: 0, offset: offset++, key: (value as Ev).userId, value: Buffer.from(JSON.stringify(value)), timestamp: T0 })
  const dead = () => sent.filter((s) => s.topic === DLQ).map((s) => s.headers?.[DLQ_HEADERS.reason])
  return { feed, dead, sent, clock }
}

const RULES: EventTimeRules = { maxFutureMs: 3_600_000, minTimestampMs: 1e12 }

describe('time.minTimestampMs and time.maxFutureMs', () => {
  it('refuses seconds instead of milliseconds, zero, and times before the floor, naming the value', async () => {
    const t = await taskWith(RULES, T0)
    expect(t.feed({ userId: 'u1', ts: 1733500000 })).toBeNaN()
    expect(t.feed({ userId: 'u1', ts: 0 })).toBeNaN()
    expect(t.feed({ userId: 'u1', ts: 5_000_000 })).toBeNaN()
    expect(t.dead()).toEqual([
      'event time "ts" = 1733500000 is before 2001-09-09T01:46:40Z (1000000000000 ms, time.minTimestampMs): seconds instead of milliseconds?',
      'event time "ts" = 0 is zero, not a time (time.minTimestampMs: 1000000000000)',
      'event time "ts" = 5000000 is before 2001-09-09T01:46:40Z (1000000000000 ms, time.minTimestampMs)',
    ])
    // Nothing reached the operator.
    expect(t.sent.filter((s) => s.topic === 'out')).toEqual([])
    expect(t.feed({ userId: 'u1', ts: 1e12 })).toBe(1e12)
  })

  it('refuses a time further ahead of the wall clock than maxFutureMs, and takes one at the limit', async () => {
    const t = await taskWith(RULES, T0)
    expect(t.feed({ userId: 'u1', ts: 32503680000000 })).toBeNaN() // 3000-01-01
    expect(t.feed({ userId: 'u1', ts: T0 + 3_600_001 })).toBeNaN()
    expect(t.dead()).toEqual([
      'event time "ts" = 32503680000000 is 973 years ahead of the wall clock (time.maxFutureMs: 3600000)',
      `event time "ts" = ${T0 + 3_600_001} is 60 minutes ahead of the wall clock (time.maxFutureMs: 3600000)`,
    ])
    expect(t.feed({ userId: 'u1', ts: T0 + 3_600_000 })).toBe(T0 + 3_600_000)
    // Replays of past data are never in the future.
    expect(t.feed({ userId: 'u1', ts: T0 - 5 * 365 * 86_400_000 })).toBe(T0 - 5 * 365 * 86_400_000)
    // The limit follows the wall clock.
    t.clock.now = T0 + 86_400_000
    expect(t.feed({ userId: 'u1', ts: T0 + 86_400_000 + 60_000 })).toBe(T0 + 86_400_000 + 60_000)
  })

  it('reads the wall clock only for a time ahead of its last reading', async () => {
    const t = await taskWith(RULES, T0)
    for (let i = 0; i < 100; i++) t.feed({ userId: 'u1', ts: T0 - 1000 + i })
    expect(t.clock.reads).toBe(1)
  })

  it('is off with null or 0, but still refuses what no setting allows', async () => {
    for (const rules of [{ maxFutureMs: null, minTimestampMs: null }, { maxFutureMs: 0, minTimestampMs: 0 }]) {
      const t = await taskWith(rules, T0)
      expect(t.feed({ userId: 'u1', ts: 32503680000000 })).toBe(32503680000000)
      expect(t.feed({ userId: 'u1', ts: 1733500000 })).toBe(1733500000)
      expect(t.feed({ userId: 'u1', ts: 0 })).toBe(0)
      expect(t.feed({ userId: 'u1', ts: 1.5 })).toBeNaN()
      expect(t.dead()).toEqual(['event time "ts" = 1.5 is not an integer number of milliseconds'])
    }
  })
})
