import { describe, expect, it } from 'vitest'
import type { Processor, Record, Serde } from '../../pipeline/api/index.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import type { Topology } from '../../pipeline/api/topology.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'

const start = Date.UTC(2026, 10, 2)

type Load = (append: (topic: string, key: string, value: unknown, ts: number) => void) => void

/** Runs `topologies` over what `load` appends; returns every record of every topic of the log, as text. */
async function runAll(topologies: Topology[], load: Load): Promise<{ [topic: string]: string[] }> {
  const log = EmbeddedLog.inMemory()
  const config = validateConfig({ runtime: { stateDir: '/nonexistent', stateBackend: 'memory' }, observability: { http: { enabled: false } } })
  const runner = await EmbeddedRunner.open({ topologies, config, log, state: { kind: 'memory', maps: new Map() }, logger: createLogger({ level: 'silent' }) })
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

// What a record's readers and a keyBy hop's reader see of its value in the embedded runner.
describe('values across readers and hops in the embedded runner', () => {
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
    const out = await runAll(build(), load)
    expect(out['a-out']?.every((l) => l.includes('"n":-1'))).toBe(true)
    expect(out['b-out']?.some((l) => l.includes('"n":-1') || l.includes('changed'))).toBe(false)
    expect(out['b-rekeyed']?.some((l) => l.includes('after-send') || l.includes('"n":1000'))).toBe(false)
    expect(out['b-rekeyed']).toHaveLength(40)
  })

  it('writes a keyBy hop with the keyBy serde, which its reader decodes with', async () => {
    // A serde of one's own (upper-cased JSON text): the hop's bytes show which serde wrote them.
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
    const out = await runAll([b.build()], load)
    expect(out['custom-hop-by-user-repartition']?.[0]).toContain(`{"USERID":"U1","TS":${start}}`)
    expect(out.out?.[0]).toContain(`{"userid":"u1","ts":${start}}`)
  })
})
