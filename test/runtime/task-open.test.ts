import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonSerde } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Record } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { AppRuntime } from '../../pipeline/runtime/app.ts'

// A task whose opening fails after its state was opened (on Kafka: the changelog restore, when
// the broker goes away during it) must leave that state closed: the runner recovers by opening
// the task again in the same process, and RocksDB refuses a second open of a directory this
// process still holds. Seen in a chaos run (seed 4, four broker restarts): an instance exited 1
// with "cannot open RocksDB state in .../material-stats-fault/0_0: Database is not open".

function counter(): Processor<{ k: string }, number> {
  let ctx!: ProcessorContext<number>
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<{ k: string }>) {
      const store = ctx.valueStore<number>('n')
      const n = (store.get() ?? 0) + 1
      store.put(n)
      ctx.forward(r.withValue(n))
    },
  }
}

function topology() {
  const b = new TopologyBuilder('open')
  b.source<{ k: string }>('in', { topic: 'in', serde: jsonSerde(), keyField: 'k' })
    .process('count', counter, { stores: { n: { kind: 'value' } } })
    .to('out', { topic: 'out', serde: jsonSerde() })
  return b.build()
}

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('opening a task', () => {
  it('closes the state it opened when the restore fails, so that the task can be opened again in the same process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-task-open-'))
    dirs.push(dir)
    let failures = 1
    const app = AppRuntime.create({
      topology: topology(),
      config: validateConfig({ observability: { http: { enabled: false } } }),
      topics: { partitions: () => 1 },
      state: { kind: 'rocksdb', dir },
      collector: { send: () => {} },
      logger: createLogger({ level: 'silent' }),
      clock: () => 0,
      restore: async () => {
        if (failures-- > 0) throw new Error('end offsets of open.count.n.changelog: Connection error: connect ECONNREFUSED')
      },
    })
    const sub = app.plan.subtopologies[0] as (typeof app.plan.subtopologies)[number]
    await expect(app.addTask(sub, 0)).rejects.toThrow(/ECONNREFUSED/)
    expect(app.tasks).toEqual([])
    // The runner's recovery: the same task, opened again by the same process.
    const task = await app.addTask(sub, 0)
    expect(app.tasks).toEqual([task])
    await app.close()
  })
})
