import { describe, expect, it } from 'vitest'
import { TopologyBuilder, broadcastStore, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'
import { parseSettings } from '../../operators/settings.ts'
import { taskCenter, taskCenterStores } from '../../operators/task-center.ts'
import type { BehaviorEvent, Candidate } from '../../operators/types.ts'
import { SUPPRESSIONS, checkBehaviorEvent } from '../../operators/types.ts'
import type { DeadLetter } from './helpers.ts'
import { T0, ev, eventTask, material } from './helpers.ts'

/**
 * The Task Center behind a keyBy on something other than the user (a device attribute): the
 * mistake a topology author could make, and the one way a record can reach the operator under a
 * key that is not its userId.
 */
function keyedByDevice() {
  const s = parseSettings({})
  const b = new TopologyBuilder('keys')
  const events = b.source<BehaviorEvent>('behavior-events', { topic: s.topics.events, serde: jsonObjectSerde<BehaviorEvent>(checkBehaviorEvent), timestampField: 'ts' })
  const tasks = b.broadcast<unknown>('tasks', { topic: s.topics.tasks, serde: jsonSerde(), keyField: 'taskId', timestampField: 'ts' })
  const materials = b.broadcast<unknown>('materials', { topic: s.topics.materials, serde: jsonSerde(), keyField: 'materialId', timestampField: 'ts' })
  const candidates = events
    .keyBy('by-device', (e) => String(e.attrs?.device ?? 'none'))
    .connect(tasks, materials)
    .process<Candidate>('task-center', () => taskCenter({ topics: s.topics, settings: s }), {
      stores: taskCenterStores(s),
      broadcastStores: { tasks: broadcastStore(), materials: broadcastStore() },
      sideOutputs: [SUPPRESSIONS],
    })
  candidates.to('candidates-out', { topic: 'candidates', serde: jsonSerde() })
  candidates.sideOutput(SUPPRESSIONS).to('suppressions-out', { topic: 'suppressions', serde: jsonSerde() })
  return b.build()
}

describe('the user of an event is its userId field, never the Kafka key', () => {
  it('refuses (dead-letters) an event that reaches the Task Center under another key, so no push is addressed by the key', async () => {
    const d = await TopologyTestDriver.create(keyedByDevice())
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('alice', 'price_drop', T0, { attrs: { device: 'device-7' } })])
    expect(d.readValues<Candidate>('candidates')).toEqual([])
    expect(d.readValues('suppressions')).toEqual([])
    const dlq = d.readValues<DeadLetter>('keys.dlq')
    expect(dlq.map((x) => [x.node, x.key, x.reason])).toEqual([
      ['task-center', 'device-7', 'behavior event of user "alice" arrived under the key "device-7": state and pushes follow the event\'s userId, so the stream must be keyed by it'],
    ])
    await d.close()
  })
})
