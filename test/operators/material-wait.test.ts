import { describe, expect, it } from 'vitest'
import { TopologyBuilder, broadcastStore, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import type { MaterialConfig, TaskConfig } from '../../operators/config.ts'
import { ingestConfig, onMaterialWaitTimer } from '../../operators/config-ingest.ts'
import type { IngestResult } from '../../operators/config-ingest.ts'
import { HOUR, MIN, T0, deadLetters, decisions, ev, eventTask, flow, material } from './helpers.ts'

const drop = (userId: string, ts: number): object => ev(userId, 'price_drop', ts, { attrs: { dropPct: 20 } })

describe('Configuration Center: a task naming a material not yet seen waits for it', () => {
  it('gives the same decisions with tasks loaded before their materials as after them', async () => {
    const events = [drop('u1', T0), drop('u2', T0 + MIN), ev('u3', 'view', T0 + HOUR)]
    const tasks = [eventTask('t1', { materials: ['m1', 'm2'] }), eventTask('t2', { priority: 1, materials: ['m2'] })]
    const materialsFirst = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await materialsFirst.pipe('config.materials', [material('m1'), material('m2')])
    await materialsFirst.pipe('config.tasks', tasks)
    await materialsFirst.pipe('behavior-events', events)
    const tasksFirst = await flow({ settings: { fatigue: { minGapMs: 0 } } })
    await tasksFirst.pipe('config.tasks', tasks)
    await tasksFirst.pipe('config.materials', [material('m1'), material('m2')])
    await tasksFirst.pipe('behavior-events', events)
    const expected = decisions(materialsFirst)
    expect(expected.map((x) => [x.userId, x.taskId, x.materialId])).toEqual([['u1', 't1', 'm1'], ['u2', 't1', 'm1']])
    expect(decisions(tasksFirst)).toEqual(expected)
    expect(deadLetters(tasksFirst)).toEqual([])
    await materialsFirst.close()
    await tasksFirst.close()
  })

  it('keeps the previous version in force while an update waits, and applies the update when its material arrives', async () => {
    const d = await flow({ settings: { fatigue: { minGapMs: 0, materialMax: 10 } } })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m2'], ts: T0 })])
    await d.pipe('behavior-events', [drop('u1', T0 + MIN)])
    await d.pipe('config.materials', [material('m2', { ts: T0 + 2 * MIN })])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR), ev('u9', 'view', T0 + 2 * HOUR)])
    expect(decisions(d).map((x) => [x.decidedAt, x.materialId])).toEqual([[T0 + MIN, 'm1'], [T0 + HOUR, 'm2']])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('dead-letters a task whose material never comes once, when the watermark passes the wait, naming the material, and never fires it', async () => {
    const d = await flow({ settings: { materialWaitMs: 5 * MIN } })
    await d.pipe('config.materials', [material('m1')])
    // Formatted as a producer may send it: the dead letter must be these bytes, not a re-rendering.
    const asSent = JSON.stringify(eventTask('t1', { materials: ['m1', 'ghost'], ts: T0 }), null, 2)
    await d.pipe('config.tasks', [asSent], { key: 't1', timestamp: T0 })
    await d.pipe('behavior-events', [drop('u1', T0 + MIN)])
    expect(deadLetters(d)).toEqual([])
    await d.pipe('behavior-events', [ev('u9', 'view', T0 + 10 * MIN), ev('u9', 'view', T0 + 20 * MIN)])
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]).toMatchObject({ topic: 'config.tasks', key: 't1', node: 'task-center' })
    expect(dlq[0]?.reason).toMatch(/^invalid task t1: unknown material ghost \(waited until event time 2026-11-02T10:05:00.000Z/)
    expect(dlq[0]?.value).toBe(asSent)
    // Too late: the material arriving now does not bring the task back.
    await d.pipe('config.materials', [material('ghost', { ts: T0 + 30 * MIN })])
    await d.pipe('behavior-events', [drop('u1', T0 + HOUR), ev('u9', 'view', T0 + 2 * HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d)).toEqual([])
    await d.close()
  })
})

/**
 * A node wired as the Task Center should be: ingest with the wait, and the wait's timer handled
 * first in onTimer. Records what each ingest returned.
 */
function configNode(results: IngestResult[], materialWaitMs: number): Processor<unknown, unknown> {
  let ctx!: ProcessorContext<unknown>
  const topics = { tasks: 'config.tasks', materials: 'config.materials', stats: 'material-stats' }
  const stores = () => ({ tasks: ctx.broadcastStore<TaskConfig>('tasks'), materials: ctx.broadcastStore<MaterialConfig>('materials') })
  return {
    init(c) {
      ctx = c
    },
    process() {},
    processBroadcast(record) {
      const result = ingestConfig(ctx, topics, stores(), record, { materialWaitMs })
      if (ctx.partition === 0) results.push(result)
    },
    onTimer(timer) {
      onMaterialWaitTimer(ctx, stores(), timer)
    },
  }
}

async function configDriver(results: IngestResult[], materialWaitMs: number): Promise<TopologyTestDriver> {
  const b = new TopologyBuilder('wait-app')
  const events = b.source<unknown>('events', { topic: 'behavior-events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
  const tasks = b.broadcast<unknown>('tasks', { topic: 'config.tasks', serde: jsonSerde(), keyField: 'taskId', timestampField: 'ts' })
  const materials = b.broadcast<unknown>('materials', { topic: 'config.materials', serde: jsonSerde(), keyField: 'materialId', timestampField: 'ts' })
  events
    .connect(tasks, materials)
    .process('config', () => configNode(results, materialWaitMs), {
      stores: { seen: valueStore() },
      broadcastStores: { tasks: broadcastStore(), materials: broadcastStore() },
    })
    .to('out', { topic: 'wait-out', serde: jsonSerde() })
  return TopologyTestDriver.create([b.build()])
}

describe('ingestConfig: the wait for materials ends in event time', () => {
  it('dead-letters the waiting task once when the watermark passes the end of its wait', async () => {
    const results: IngestResult[] = []
    const d = await configDriver(results, 10 * MIN)
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['ghost'], ts: T0 })])
    await d.pipe('behavior-events', [{ userId: 'u1', ts: T0 + 5 * MIN }])
    expect(deadLetters(d, 'wait-app')).toEqual([])
    await d.pipe('behavior-events', [{ userId: 'u1', ts: T0 + 11 * MIN }])
    await d.pipe('behavior-events', [{ userId: 'u1', ts: T0 + 30 * MIN }])
    const dlq = deadLetters(d, 'wait-app')
    expect(dlq.map((x) => x.reason)).toEqual([expect.stringMatching(/^invalid task t1: unknown material ghost \(waited until event time 2026-11-02T10:10:00.000Z, hermes\.materialWaitMs/)])
    expect(dlq[0]).toMatchObject({ topic: 'config.tasks', key: 't1', node: 'config' })
    expect(JSON.parse(dlq[0]?.value ?? 'null')).toEqual(eventTask('t1', { materials: ['ghost'], ts: T0 }))
    // The wait is over: the material arriving now does not apply the task.
    await d.pipe('config.materials', [material('ghost', { ts: T0 + 31 * MIN })])
    expect(results.map((r) => r.kind)).toEqual(['waiting', 'material'])
    expect(results[1]).toMatchObject({ kind: 'material', applied: [] })
    await d.pipe('behavior-events', [{ userId: 'u1', ts: T0 + 2 * HOUR }])
    expect(deadLetters(d, 'wait-app')).toEqual([])
    await d.close()
  })

  it('applies every waiting task the moment its last material arrives, and reports them', async () => {
    const results: IngestResult[] = []
    const d = await configDriver(results, 10 * MIN)
    await d.pipe('config.tasks', [eventTask('t1', { materials: ['m1', 'm2'] }), eventTask('t2', { materials: ['m2'] })])
    await d.pipe('config.materials', [material('m1'), material('m2')])
    expect(results.map((r) => r.kind)).toEqual(['waiting', 'waiting', 'material', 'material'])
    expect(results[0]).toEqual({ kind: 'waiting', id: 't1', missing: ['m1', 'm2'] })
    expect(results[2]).toMatchObject({ applied: [] })
    const applied = results[3] as Extract<IngestResult, { kind: 'material' }>
    expect(applied.applied.map((a) => [a.id, a.task.materials, a.previous])).toEqual([['t1', ['m1', 'm2'], undefined], ['t2', ['m2'], undefined]])
    expect(deadLetters(d, 'wait-app')).toEqual([])
    await d.close()
  })
})
