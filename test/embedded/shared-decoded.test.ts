import { describe, expect, it } from 'vitest'
import type { Processor, Record, Serde } from '../../pipeline/api/index.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import type { Topology } from '../../pipeline/api/topology.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions, { TOPICS } from '../../topologies/push-decisions.ts'
import { buildWorld, configRecords, eventsForHour } from '../../scripts/hermes-workload.ts'

const HOUR = 3_600_000
const start = Date.UTC(2026, 10, 2)

type Load = (append: (topic: string, key: string, value: unknown, ts: number) => void) => void

/** Runs `topologies` over what `load` appends; returns every record of every topic of the log, as text. */
async function runAll(topologies: Topology[], load: Load, shareDecoded: boolean): Promise<{ [topic: string]: string[] }> {
  const log = EmbeddedLog.inMemory()
  const config = validateConfig({ runtime: { stateDir: '/nonexistent', stateBackend: 'memory' }, observability: { http: { enabled: false } } })
  const runner = await EmbeddedRunner.open({ topologies, config, log, state: { kind: 'memory', maps: new Map() }, logger: createLogger({ level: 'silent' }), shareDecoded })
  load((topic, key, value, ts) => {
    if (!log.hasTopic(topic)) log.createTopic(topic, 1)
    log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
  })
  await runner.run()
  await runner.close()
  const out: { [topic: string]: string[] } = {}
  for (const topic of log.topicNames()) {
    const lines: string[] = []
    for (let p = 0; p < log.partitions(topic); p++) {
      for (let o = 0; o < log.endOffset(topic, p); o++) {
        const e = log.read(topic, p, o)
        lines.push(`${p}@${o} ${e?.timestamp} ${e?.key} ${JSON.stringify(e?.headers ?? null)} ${e?.value?.toString('utf8') ?? 'null'}`)
      }
    }
    out[topic] = lines
  }
  return out
}

describe('decoded values shared between readers in the embedded runner', () => {
  it('gives the decision flow the same records on every topic, internal hops included, as parsing every record', async () => {
    const world = buildWorld({ users: 300, seed: 11 })
    const load: Load = (append) => {
      for (const r of configRecords(world, TOPICS)) append(r.topic, r.key, r.value, 0)
      for (let h = 0; h < 30; h++) for (const e of eventsForHour(world, start + h * HOUR, 500 + h)) append(TOPICS.events, e.userId as string, e, e.ts as number)
    }
    const env = { settings: {} }
    const shared = await runAll([pushDecisions(env), materialStats(env)], load, true)
    const parsed = await runAll([pushDecisions(env), materialStats(env)], load, false)
    expect(Object.keys(shared).sort()).toEqual(Object.keys(parsed).sort())
    for (const topic of Object.keys(parsed)) expect(shared[topic], topic).toEqual(parsed[topic])
    // The hops this is about carried records: repartition topics, and outputs another topology reads.
    expect(parsed['material-stats-by-material-repartition']?.length).toBeGreaterThan(100)
    expect(parsed['push-decisions-behaviors-by-item-repartition']?.length).toBeGreaterThan(10)
    expect(parsed[TOPICS.exposures]?.length).toBeGreaterThan(100)
    expect(parsed[TOPICS.decisions]?.length).toBeGreaterThan(50)
  }, 120_000)

  it('gives each reader its own value: one that changes its input changes nothing another reader or a keyBy hop sees', async () => {
    type V = { userId: string; n: number; tags?: string[]; note?: string }
    // Changes its input in place, as an operator may (the value is its own).
    const vandal = (): Processor<V, V> => {
      let ctx: Parameters<NonNullable<Processor<V, V>['init']>>[0]
      return {
        init: (c) => {
          ctx = c
        },
        process: (r: Record<V>) => {
          r.value.n = -1
          r.value.tags?.push('changed')
          ctx.forward(r)
        },
      }
    }
    const build = (): Topology[] => {
      const a = new TopologyBuilder('reader-a')
      a.source<V>('in', { topic: 'in', serde: jsonObjectSerde<V>(), keyField: 'userId', timestampField: 'ts' })
        .process<V>('vandal', vandal)
        .to('a-out', { topic: 'a-out', serde: jsonSerde() })
      const b = new TopologyBuilder('reader-b')
      const src = b.source<V>('in', { topic: 'in', serde: jsonObjectSerde<V>(), keyField: 'userId', timestampField: 'ts' })
      // A keyBy hop whose writer changes the value after sending it: the reader sees it as sent.
      src
        .process<V>('send-then-change', () => {
          let ctx: Parameters<NonNullable<Processor<V, V>['init']>>[0]
          return {
            init: (c) => {
              ctx = c
            },
            process: (r: Record<V>) => {
              const v = { ...r.value, tags: [...(r.value.tags ?? [])], note: undefined }
              ctx.forward(r.withValue(v))
              v.tags.push('after-send')
              v.n = 1000
            },
          }
        })
        .keyBy('by-tag', (v) => v.tags?.[0] ?? 'none')
        .to('b-rekeyed', { topic: 'b-rekeyed', serde: jsonSerde() })
      src.to('b-out', { topic: 'b-out', serde: jsonSerde() })
      return [a.build(), b.build()]
    }
    const load: Load = (append) => {
      for (let i = 0; i < 40; i++) append('in', `u${i % 7}`, { userId: `u${i % 7}`, n: i, ts: start + i * 1000, tags: [`t${i % 3}`], nested: { deep: [i, { x: -0 }] } }, start + i * 1000)
    }
    const shared = await runAll(build(), load, true)
    const parsed = await runAll(build(), load, false)
    for (const topic of Object.keys(parsed)) expect(shared[topic], topic).toEqual(parsed[topic])
    expect(shared['a-out']?.every((l) => l.includes('"n":-1'))).toBe(true)
    expect(shared['b-out']?.some((l) => l.includes('"n":-1') || l.includes('changed'))).toBe(false)
    expect(shared['b-rekeyed']?.some((l) => l.includes('after-send') || l.includes('"n":1000'))).toBe(false)
    expect(shared['b-rekeyed']).toHaveLength(40)
  })

  it('writes a keyBy hop with the keyBy serde, which its reader decodes with', async () => {
    // A serde of one's own (upper-cased JSON text): never taken for plain JSON, so no value is shared.
    const shout: Serde<unknown> = {
      name: 'shout',
      serialize: (v) => Buffer.from(JSON.stringify(v).toUpperCase(), 'utf8'),
      deserialize: (b) => JSON.parse(b.toString('utf8').toLowerCase()) as unknown,
    }
    const b = new TopologyBuilder('custom-hop')
    b.source<{ userId: string; ts: number }>('in', { topic: 'in', serde: jsonObjectSerde(), keyField: 'userId', timestampField: 'ts' })
      .keyBy('by-user', (v) => v.userId, { serde: shout as Serde<{ userId: string; ts: number }> })
      .to('out', { topic: 'out', serde: jsonSerde() })
    const load: Load = (append) => append('in', 'u1', { userId: 'u1', ts: start }, start)
    const out = await runAll([b.build()], load, true)
    expect(out['custom-hop-by-user-repartition']?.[0]).toContain(`{"USERID":"U1","TS":${start}}`)
    expect(out.out?.[0]).toContain(`{"userid":"u1","ts":${start}}`)
  })
})
