import { describe, expect, it } from 'vitest'
import { HermesError, TopologyBuilder, jsonSerde } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { AppRuntime } from '../../pipeline/runtime/app.ts'
import type { Collector } from '../../pipeline/runtime/task.ts'

async function openApp(sent: unknown[]): Promise<AppRuntime> {
  const b = new TopologyBuilder('routes')
  b.source<{ userId: string }>('in', { topic: 'in', serde: jsonSerde(), keyField: 'userId' }).to('out', { topic: 'out', serde: jsonSerde() })
  const collector: Collector = { send: (topic, _key, value) => sent.push([topic, value?.toString('utf8')]) }
  return AppRuntime.open({ topology: b.build(), config: validateConfig({}), topics: { partitions: () => 1 }, state: { kind: 'memory', maps: new Map() }, collector, logger: createLogger({ level: 'silent' }), clock: () => 0 })
}

// A task routes a record by the source object it is handed: the runners hand it one of its own
// (task.sub.sources), and anything else is refused before it is processed, not looked up again.
describe('a task handed a record of a source', () => {
  it('refuses an equal copy of its source, and leaves the position where it was', async () => {
    const sent: unknown[] = []
    const app = await openApp(sent)
    const task = app.tasks[0]
    const source = task?.sub.sources.find((s) => s.topic === 'in')
    if (!task || !source) throw new Error('no task or source')
    const raw = { topic: 'in', partition: 0, offset: 0, key: 'u1', value: Buffer.from('{"userId":"u1"}'), timestamp: 5 }
    let thrown: unknown
    try {
      task.processRecord({ ...source }, raw)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(HermesError)
    expect((thrown as HermesError).code).toBe('USAGE')
    expect((thrown as Error).message).toContain('source in (in) that is not one of its sub-topology')
    expect(sent).toEqual([])
    expect(task.positions.get('in:0')).toBeUndefined()
    // The same record through the task's own source is processed (it was not taken as done).
    expect(task.processRecord(source, raw)).toBe(5)
    expect(sent).toEqual([['out', '{"userId":"u1"}']])
    expect(task.positions.get('in:0')).toBe(1)
    await app.close()
  })
})
