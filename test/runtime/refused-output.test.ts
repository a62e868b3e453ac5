import { describe, expect, it } from 'vitest'
import { HermesError, TopologyBuilder, jsonSerde } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { AppRuntime } from '../../pipeline/runtime/app.ts'
import { DLQ_HEADERS } from '../../pipeline/runtime/dead-letter.ts'
import type { Collector } from '../../pipeline/runtime/task.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

interface Sent { topic: string; key: string | null; value: Buffer | null; headers: { [k: string]: string } }

/** A collector that refuses outputs over `limit` bytes, as the Kafka runner's does over a topic's max.message.bytes (it fits dead letters by dropping their value instead). */
function refusing(limit: number): Collector & { sent: Sent[] } {
  const sent: Sent[] = []
  return {
    sent,
    send(topic, key, value, _ts, headers) {
      if (!topic.endsWith('.dlq') && (value?.length ?? 0) > limit) throw new HermesError('RECORD_TOO_LARGE', `record of ${value?.length} bytes to ${topic} is over its limit of ${limit}`)
      sent.push({ topic, key, value, headers: { ...(headers ?? {}) } })
    },
  }
}

async function runOne(build: (b: TopologyBuilder) => void, values: object[]): Promise<Sent[]> {
  const b = new TopologyBuilder('app')
  build(b)
  const collector = refusing(200)
  const config = validateConfig({ errors: { produce: 'fail', oversized: 'continue' } })
  const app = await AppRuntime.open({ topology: b.build(), config, topics: { partitions: () => 1 }, state: { kind: 'memory', maps: new Map() }, collector, logger: createLogger({ level: 'silent' }), clock: () => 0 })
  const task = app.tasks[0]
  if (!task) throw new Error('no task')
  const source = task.sub.sources.find((s) => !s.internal)
  if (!source) throw new Error('no source')
  values.forEach((v, i) => task.processRecord(source, { topic: 'in', partition: 0, offset: i, key: 'k', value: Buffer.from(JSON.stringify(v)), timestamp: i }))
  await app.close()
  return collector.sent
}

// An output the broker would refuse must not stop the partition: the produce error policy
// dead-letters the input that made it, and the next record goes on.
describe('outputs the collector refuses', () => {
  const big = { userId: 'k', pad: 'x'.repeat(500) }
  const small = { userId: 'k', pad: 'ok' }

  it('a sink record over the limit dead-letters its input and the next record is produced', async () => {
    const sent = await runOne((b) => b.source('in', { topic: 'in', serde: jsonSerde(), keyField: 'userId' }).map('wrap', (v) => ({ wrapped: v })).to('out', { topic: 'out', serde: jsonSerde() }), [big, small])
    expect(sent.map((s) => [s.topic, s.headers[DLQ_HEADERS.phase] ?? null])).toEqual([
      ['app.dlq', 'produce'],
      ['out', null],
    ])
    expect(sent[0]?.headers[DLQ_HEADERS.reason]).toMatch(/over its limit/)
  })

  it('a repartition record over the limit dead-letters its input instead of ending the run', async () => {
    const sent = await runOne((b) => b.source('in', { topic: 'in', serde: jsonSerde(), keyField: 'userId' }).keyBy('by-pad', (v) => String((v as { pad: string }).pad.length)).to('out', { topic: 'out', serde: jsonSerde() }), [big, small])
    expect(sent.map((s) => [s.topic, s.headers[DLQ_HEADERS.phase] ?? null])).toEqual([
      ['app.dlq', 'produce'],
      ['app-by-pad-repartition', null],
    ])
  })
})
