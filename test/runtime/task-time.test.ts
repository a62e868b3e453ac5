import { describe, expect, it } from 'vitest'
import { Record, TopologyBuilder, jsonSerde } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Timer } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { AppRuntime } from '../../pipeline/runtime/app.ts'
import type { Task } from '../../pipeline/runtime/task.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import type { InputView } from '../../pipeline/runtime/task-time.ts'
import { TaskTime } from '../../pipeline/runtime/task-time.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

// Per-task event time from per-partition watermarks (issue 10, point 1): the rule itself, then
// through the embedded runner (test driver) and the runtime's saved state.

/** A command: register a timer `delay` after the record's time, cancel the key's timer, or nothing. */
interface Cmd {
  k: string
  ts?: number
  delay?: number
  cancel?: boolean
}

type Out = { fired: number; k: string | null; wm: number } | { seen: number; k: string; wm: number }

function commands(): Processor<Cmd, Out> {
  let ctx!: ProcessorContext<Out>
  const armed = new Map<string, number>()
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<Cmd>) {
      ctx.forward(r.withValue({ seen: r.timestamp, k: r.value.k, wm: ctx.watermark() }))
      if (r.value.delay !== undefined) {
        const at = r.timestamp + r.value.delay
        ctx.timers.registerEventTime(at)
        armed.set(r.value.k, at)
      }
      const at = armed.get(r.value.k)
      if (r.value.cancel && at !== undefined) ctx.timers.deleteEventTime(at)
    },
    onTimer(t: Timer) {
      ctx.forward(new Record<Out>({ key: t.key, timestamp: t.time, value: { fired: t.time, k: t.key, wm: ctx.watermark() } }))
    },
  }
}

/** `cmds` and `more` carry event time; `cfg` is configuration (`eventTime: false`); all co-partitioned. */
function topology() {
  const b = new TopologyBuilder('tt')
  const cmds = b.source<Cmd>('cmds', { topic: 'cmds', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
  const more = b.source<Cmd>('more', { topic: 'more', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })
  const cfg = b.source<Cmd>('cfg', { topic: 'cfg', serde: jsonSerde(), keyField: 'k', timestampField: 'ts', eventTime: false })
  cmds
    .merge('all', more, cfg)
    .process('timers', commands)
    .to('out', { topic: 'out', serde: jsonSerde() })
  return b.build()
}

const fired = (outs: Out[]) => outs.filter((v): v is Extract<Out, { fired: number }> => 'fired' in v)

/** A view over fixed partition states: `pending` and `behind` per `topic:partition`. */
function view(pending: { [tp: string]: number }, behind: string[] = []): InputView<null> {
  return { pending: (_o, tp) => pending[tp] ?? Infinity, behind: (_o, tp) => behind.includes(tp) }
}

describe('task time (per-partition watermarks)', () => {
  it('is the minimum over its partitions: an active one at min(highest processed, next known) - bound, an idle one at the idle clock', () => {
    const t = new TaskTime(['a:0', 'b:0'])
    t.observe('a:0', 900)
    t.observe('b:0', 400)
    // b:0's next record (500) is earlier than the app clock (1000): b:0 is active, at min(400, 500) - 10.
    expect(t.advance(null, view({ 'b:0': 500 }), 1000, 990, 10)).toBe(true)
    expect(t.current).toBe(390)
    // Nothing earlier than the app clock left anywhere: both idle, the task follows the idle clock.
    t.observe('b:0', 500)
    t.advance(null, view({ 'b:0': 1200 }), 1000, 990, 10)
    expect(t.current).toBe(990)
  })

  it('is held by a partition that may hold unread records (behind), at its highest processed time, and never moves back', () => {
    const t = new TaskTime(['a:0', 'b:0'])
    t.observe('a:0', 1000)
    t.observe('b:0', 300)
    t.advance(null, view({}, ['b:0']), 1000, 1000, 0)
    expect(t.current).toBe(300)
    // A partition never read (restored without a saved time for it) holds the task at -Infinity; the time stays where it was.
    const fresh = new TaskTime(['a:0', 'c:0'])
    fresh.current = 700
    expect(fresh.advance(null, view({}, ['c:0']), 1000, 1000, 0)).toBe(false)
    expect(fresh.current).toBe(700)
    // Caught up, the partition is idle.
    fresh.advance(null, view({}), 1000, 995, 0)
    expect(fresh.current).toBe(995)
  })

  it('holds a task for a record of ours on its way (pending) earlier than the app clock', () => {
    const t = new TaskTime(['rep:0'])
    t.observe('rep:0', 100)
    t.advance(null, view({ 'rep:0': 150 }), 1000, 1000, 0)
    expect(t.current).toBe(100)
  })
})

describe('task time in the embedded runner', () => {
  it('a lagging partition of the same task holds its timers until its earlier record is processed; an idle partition does not', async () => {
    const d = await TopologyTestDriver.create(topology(), { config: { topics: { defaultPartitions: 1 } } })
    // Appended together; "more" holds a record at 600 followed by the cancellation at 150.
    d.append('cmds', [{ k: 'a', ts: 100, delay: 100 }])
    d.append('more', [{ k: 'x', ts: 600 }, { k: 'a', ts: 150, cancel: true }])
    await d.run()
    // Once 600 is read, more:0's next record (150) is earlier than the app clock: the timer at 200
    // waits for it, and the cancellation wins (with one watermark per app, it fired at 600).
    expect(fired(d.readValues<Out>('out'))).toEqual([])
    // cmds:0 had nothing more after 100 (idle): it did not hold the task back.
    expect(d.watermark('tt')).toBe(600)
    await d.close()
  })

  it('fires a timer only when the time of its own task passes it, in global time order across tasks', async () => {
    const d = await TopologyTestDriver.create(topology(), { config: { topics: { defaultPartitions: 2 } } })
    const [k0, k1] = ['a', 'b', 'c', 'd', 'e'].reduce<string[]>((acc, k) => (acc.some((x) => partitionFor(x, 2) === partitionFor(k, 2)) ? acc : [...acc, k]), [])
    expect(partitionFor(k0 as string, 2)).not.toBe(partitionFor(k1 as string, 2))
    d.append('cmds', [{ k: k0 as string, ts: 100, delay: 100 }, { k: k1 as string, ts: 110, delay: 100 }])
    d.append('more', [{ k: k1 as string, ts: 600 }, { k: k1 as string, ts: 150, cancel: true }])
    d.append('more', [{ k: k0 as string, ts: 700 }])
    await d.run()
    // k1's task waited for its lagging cancellation; k0's task (no lagging partition) fired at 200.
    const f = fired(d.readValues<Out>('out'))
    expect(f.map((x) => [x.k, x.fired])).toEqual([[k0, 200]])
    await d.close()
  })

  it('never moves time with records of a source declared eventTime: false (configuration)', async () => {
    const d = await TopologyTestDriver.create(topology())
    await d.pipe('cmds', [{ k: 'a', ts: 1000, delay: 500 }])
    expect(d.watermark('tt')).toBe(1000)
    // A configuration record with a later time (or none: the log timestamp) is processed, and moves nothing.
    await d.pipe('cfg', [{ k: 'a', ts: 5000 }])
    await d.pipe('cfg', [{ k: 'b' }], { timestamp: 9000 })
    expect(d.watermark('tt')).toBe(1000)
    expect(fired(d.readValues<Out>('out'))).toEqual([])
    await d.pipe('cmds', [{ k: 'a', ts: 1500 }])
    expect(fired(d.readValues<Out>('out')).map((x) => x.fired)).toEqual([1500])
    await d.close()
  })

  it('reports each task time (hermes_task_time_ms) and the lowest one as the app watermark (hermes_watermark_ms)', async () => {
    const metrics = new HermesMetrics({ defaultMetrics: false })
    const d = await TopologyTestDriver.create(topology(), { config: { topics: { defaultPartitions: 1 } }, metrics })
    d.append('cmds', [{ k: 'a', ts: 100 }])
    d.append('more', [{ k: 'x', ts: 600 }, { k: 'a', ts: 150 }, { k: 'a', ts: 700 }])
    await d.run()
    const text = await metrics.registry.metrics()
    expect(text).toContain('hermes_task_time_ms{app="tt",task="0_0"} 700')
    expect(text).toContain('hermes_watermark_ms{app="tt"} 700')
    await d.close()
  })

  it('a task starts from its own saved time after a restart', async () => {
    const d = await TopologyTestDriver.create(topology())
    await d.pipe('cmds', [{ k: 'a', ts: 1000, delay: 300 }])
    await d.restart()
    // Nothing processed since the restart: the time is the task's saved one, not -Infinity.
    expect(d.watermark('tt')).toBe(1000)
    // A record earlier than that time does not move it back, and the timer fires at 1300 as before.
    await d.pipe('cmds', [{ k: 'b', ts: 900 }])
    expect(d.watermark('tt')).toBe(1000)
    await d.pipe('cmds', [{ k: 'b', ts: 1300 }])
    expect(fired(d.readValues<Out>('out')).map((x) => x.fired)).toEqual([1300])
    await d.close()
  })
})

describe('task time in saved state', () => {
  const config = validateConfig({ time: { maxOutOfOrdernessMs: 50 }, topics: { defaultPartitions: 2 }, observability: { http: { enabled: false } } })

  function open(maps: Map<string, Map<string, Buffer>>) {
    return AppRuntime.create({
      topology: topology(),
      config,
      topics: { partitions: () => 2 },
      state: { kind: 'memory', maps },
      collector: { send: () => {} },
      logger: createLogger({ level: 'silent' }),
      clock: () => 0,
    })
  }

  it('a task opened alone (failover) starts from its own time and does not move other tasks', async () => {
    const maps = new Map<string, Map<string, Buffer>>()
    const before = open(maps)
    const sub = before.plan.subtopologies[0] as (typeof before.plan.subtopologies)[number]
    const t0 = await before.addTask(sub, 0)
    const t1 = await before.addTask(sub, 1)
    t0.time.observe('cmds:0', 5000)
    t0.time.current = 4950
    t1.time.observe('cmds:1', 2000)
    t1.time.current = 1950
    await before.commit()
    await before.close()

    const after = open(maps)
    const again = await after.addTask(sub, 1)
    expect(again.time.current).toBe(1950)
    expect(again.time.maxTs.get('cmds:1')).toBe(2000)
    // The app clock is raised to what the task knew (here its own highest time: nothing was
    // observed through the app), never its time: its partitions hold it until they are read.
    expect(after.appClock()).toBe(2000)
    expect(after.watermark()).toBe(1950)
    const other = await after.addTask(sub, 0)
    expect(other.time.current).toBe(4950)
    expect(again.time.current).toBe(1950)
    expect(after.appClock()).toBe(5000)
    await after.close()
  })

  it('reads state of the previous layout (one app-level maxTs) as the task time and every partition maxTs', async () => {
    const maps = new Map<string, Map<string, Buffer>>()
    const before = open(maps)
    const sub = before.plan.subtopologies[0] as (typeof before.plan.subtopologies)[number]
    const task = await before.addTask(sub, 0)
    // What the previous runtime wrote at every commit: its app's highest event time.
    task.state.setMeta('maxTs', 7000)
    await task.state.flush()
    await before.close()

    const after = open(maps)
    const restored = await after.addTask(sub, 0)
    expect(restored.time.current).toBe(7000 - 50)
    // Every time-carrying input partition (cmds, more, the rerouted ones), never the configuration source.
    expect([...restored.time.maxTs.keys()].sort()).toEqual([...restored.time.inputs].sort())
    expect([...restored.time.maxTs.values()].every((v) => v === 7000)).toBe(true)
    expect(restored.time.inputs).not.toContain('cfg:0')
    expect(restored.time.inputs).toContain('cmds:0')
    await after.close()
  })

  it('a task whose view gives an earlier app clock (a record of ours still on its way to it) follows that clock, the others the app clock', async () => {
    const app = open(new Map())
    const sub = app.plan.subtopologies[0] as (typeof app.plan.subtopologies)[number]
    const t0 = await app.addTask(sub, 0)
    const t1 = await app.addTask(sub, 1)
    app.observe(5000)
    const idle: InputView<typeof t0> = { pending: () => Infinity, behind: () => false }
    // The Kafka runner ran task 0's inputs ahead to 5000 while a record written at app clock
    // 2000 is still on its way to task 1: embedded, task 1 would see 2000 when it reads it.
    app.advanceTime({ ...idle, appClock: (t) => (t === t1 ? 2000 : Infinity) })
    expect(t0.time.current).toBe(5000 - 50)
    expect(t1.time.current).toBe(2000 - 50)
    // Once it has arrived, task 1 follows the app clock again.
    app.advanceTime(idle)
    expect(t1.time.current).toBe(5000 - 50)
    await app.close()
  })

  describe('the app clock travels with the tasks (chaos seed 4, u125)', () => {
    // Replayed data (time.idleTimeoutMs 0): a task's idle partitions follow the app clock, and a
    // timer of a task's last `bound` of event time fires only once the app clock passes it by the
    // bound. In the chaos run, instance B processed u125's app open (a win-back arbitration
    // timer a second later) and committed that task before the last records of the input came,
    // on another partition; A, which took the task over, and the last instance that drained the
    // input never read those records, so their clock stayed below the timer and the push never
    // went out, while the reference's one instance read everything and sent it.
    const T = Date.UTC(2026, 10, 2, 22)
    const bound = 3_600_000
    const cfg = validateConfig({ time: { maxOutOfOrdernessMs: bound }, topics: { defaultPartitions: 2 }, observability: { http: { enabled: false } } })
    const [k0, k1] = ['a', 'b', 'c', 'd', 'e'].reduce<string[]>((acc, k) => (acc.some((x) => partitionFor(x, 2) === partitionFor(k, 2)) ? acc : [...acc, k]), []) as [string, string]
    const idle: InputView<unknown> = { pending: () => Infinity, behind: () => false }

    function instance(maps: Map<string, Map<string, Buffer>>) {
      const sent: Out[] = []
      const app = AppRuntime.create({
        topology: topology(),
        config: cfg,
        topics: { partitions: () => 2 },
        state: { kind: 'memory', maps },
        collector: { send: (_t, _k, v) => void sent.push(JSON.parse(String(v)) as Out) },
        logger: createLogger({ level: 'silent' }),
        clock: () => T + 86_400_000,
      })
      const sub = app.plan.subtopologies[0] as (typeof app.plan.subtopologies)[number]
      const source = sub.sources.find((s) => s.topic === 'cmds') as (typeof sub.sources)[number]
      let offset = 0
      // What the runners do with a record: the task processes it, the app clock observes it, times move, due timers fire.
      const step = (view = idle as InputView<Task>): void => {
        app.advanceTime(view)
        app.fireEventTimers()
      }
      const feed = (task: Task, cmd: Cmd, view?: InputView<Task>): void => {
        const ts = task.processRecord(source, { topic: 'cmds', partition: task.partition, offset: offset++, key: cmd.k, value: Buffer.from(JSON.stringify(cmd)), timestamp: cmd.ts as number })
        app.observe(ts)
        step(view)
      }
      return { app, sub, feed, step, sent }
    }

    it('through another task: the instance that opens the task that read the latest records fires the timer', async () => {
      const maps = new Map<string, Map<string, Buffer>>()
      const b = instance(maps)
      const b0 = await b.app.addTask(b.sub, partitionFor(k0, 2))
      const b1 = await b.app.addTask(b.sub, partitionFor(k1, 2))
      // B processes k1's record with a timer a second later (u125's app open) and commits.
      b.feed(b1, { k: k1, ts: T, delay: 1000 })
      b.feed(b0, { k: k0, ts: T + 30 * 60_000 })
      await b.app.commit()
      // A rebalance takes k1's task away; then the last records of the input come, on k0's partition.
      await b.app.removeTask(b1)
      b.feed(b0, { k: k0, ts: T + bound + 10_000 })
      await b.app.commit()
      await b.app.close()
      expect(fired(b.sent)).toEqual([])

      const a = instance(maps)
      await a.app.addTask(a.sub, partitionFor(k1, 2))
      a.step()
      // k1's task knows the clock of its own commit (T + 30 min): the timer is not due yet.
      expect(fired(a.sent)).toEqual([])
      // Nothing left to read anywhere (the end of the input): the clock comes with k0's task.
      await a.app.addTask(a.sub, partitionFor(k0, 2))
      expect(a.app.appClock()).toBe(T + bound + 10_000)
      a.step()
      expect(fired(a.sent)).toEqual([expect.objectContaining({ k: k1, fired: T + 1000 })])
      await a.app.close()
    })

    it('through the task itself: it saves the clock of the process that committed it', async () => {
      const maps = new Map<string, Map<string, Buffer>>()
      const b = instance(maps)
      const b0 = await b.app.addTask(b.sub, partitionFor(k0, 2))
      const b1 = await b.app.addTask(b.sub, partitionFor(k1, 2))
      b.feed(b1, { k: k1, ts: T, delay: 1000 })
      // The last records come on k0's partition while k1's may hold more (a fetch pending):
      // k1's task is held at its own time, and B commits it so.
      const behind = `cmds:${partitionFor(k1, 2)}`
      b.feed(b0, { k: k0, ts: T + bound + 10_000 }, { pending: () => Infinity, behind: (_t, tp) => tp === behind })
      expect(b1.time.current).toBe(T - bound)
      expect(fired(b.sent)).toEqual([])
      await b.app.commit()
      await b.app.close()

      // A takes k1's task alone; its partition turns out to hold nothing more.
      const a = instance(maps)
      const a1 = await a.app.addTask(a.sub, partitionFor(k1, 2))
      expect(a1.time.maxTs.get(behind)).toBe(T)
      expect(a.app.appClock()).toBe(T + bound + 10_000)
      a.step()
      expect(fired(a.sent)).toEqual([expect.objectContaining({ k: k1, fired: T + 1000 })])
      await a.app.close()
    })
  })
})
