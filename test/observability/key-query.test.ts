import { afterEach, describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { queryKey } from '../../pipeline/observability/key-query.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import type { ObservabilityServer } from '../../pipeline/observability/server.ts'
import { startObservabilityServer } from '../../pipeline/observability/server.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'

interface Ev {
  userId: string
  ts: number
}

/** Counts events per user and holds a timer an hour after each. */
function counting(): Processor<Ev, Ev> {
  let ctx!: ProcessorContext<Ev>
  return {
    init(c) {
      ctx = c
    },
    process(r) {
      const s = ctx.valueStore<number>('count')
      s.put((s.get() ?? 0) + 1)
      ctx.timers.registerEventTime(r.timestamp + 3_600_000, 'later', { n: s.get() })
    },
  }
}

let server: ObservabilityServer | null = null
afterEach(async () => {
  await server?.close()
  server = null
})

async function world(): Promise<EmbeddedRunner> {
  const b = new TopologyBuilder('kq')
  b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' }).process('count', counting, { stores: { count: valueStore() } }).to('out', { topic: 'out', serde: jsonSerde() })
  const config = validateConfig({ runtime: { stateBackend: 'memory' }, topics: { defaultPartitions: 3 }, time: { maxFutureMs: null } })
  const log = EmbeddedLog.inMemory()
  const runner = await EmbeddedRunner.open({ topologies: [b.build()], config, log, state: { kind: 'memory', maps: new Map() }, logger: createLogger({ level: 'silent' }) })
  const t0 = Date.UTC(2026, 0, 1)
  for (const [i, u] of ['ann', 'bob', 'ann'].entries()) log.append('events', partitionFor(u, 3), u, Buffer.from(JSON.stringify({ userId: u, ts: t0 + i * 1000 })), t0 + i * 1000)
  await runner.run()
  return runner
}

describe('interactive queries', () => {
  it('read a key\'s stores and timers from the task that owns its partition only', async () => {
    const runner = await world()
    const r = await queryKey(runner.apps, 'ann')
    expect(r.owned).toHaveLength(1)
    expect(r.owned[0]?.partition).toBe(partitionFor('ann', 3))
    expect(r.owned[0]?.stores).toEqual({ 'count.count': 2 })
    expect(r.owned[0]?.timers.map((t) => [t.name, t.payload])).toEqual([['later', { n: 1 }], ['later', { n: 2 }]])
    expect((await queryKey(runner.apps, 'nobody')).owned).toEqual([])
    await runner.close()
  })

  it('are served read-only on /query/users/<id> by the observability server', async () => {
    const runner = await world()
    server = await startObservabilityServer({ registry: new HermesMetrics().registry, health: { live: () => true, ready: () => ({ ready: true }) }, port: 0, query: (k) => queryKey(runner.apps, k) })
    const res = await fetch(`http://127.0.0.1:${server.port}/query/users/bob`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { owned: Array<{ stores: object }> }).owned[0]?.stores).toEqual({ 'count.count': 1 })
    expect((await fetch(`http://127.0.0.1:${server.port}/query/users/bob`, { method: 'POST' })).status).toBe(405)
    await runner.close()
  })

  it('are answered 404 by a process that serves none', async () => {
    server = await startObservabilityServer({ registry: new HermesMetrics().registry, health: { live: () => true, ready: () => ({ ready: true }) }, port: 0 })
    expect((await fetch(`http://127.0.0.1:${server.port}/query/users/bob`)).status).toBe(404)
  })
})
