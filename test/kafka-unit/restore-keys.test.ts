/** A changelog restore writes the same backend keys whether the backend takes them as bytes or as strings. */
import { EventEmitter } from 'node:events'
import type { Kafka, KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { restoreChangelogs } from '../../pipeline/kafka/changelog.ts'
import type { RestoreTarget } from '../../pipeline/kafka/changelog.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import type { KeyValueBackend } from '../../pipeline/state/backend.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { EVENTS } from './fake-consumer.ts'

const STORE_TOPIC = 'app.node.counts.changelog'
const TIMERS_TOPIC = 'app.timers-0.changelog'

/** A non-transactional record as kafkajs decodes it. */
const record = (offset: number, key: string | null, value: string | null): KafkaMessage =>
  ({ key: key === null ? null : Buffer.from(key, 'utf8'), value: value === null ? null : Buffer.from(value, 'utf8'), offset: String(offset), timestamp: '0', attributes: 0, headers: {}, isControlRecord: false, batchContext: { producerId: '-1', inTransaction: false } }) as unknown as KafkaMessage

/** What each changelog partition 0 holds: offsets 0..5 (6 is past the end the admin reports). */
const LOGS: Record<string, KafkaMessage[]> = {
  [STORE_TOPIC]: [record(0, 'before-checkpoint', 'x'), record(1, 'é', '1'), record(2, '😀 user', '2'), record(3, 'gone', '3'), record(4, 'gone', null), record(5, null, 'keyless'), record(6, 'after-end', 'y')],
  [TIMERS_TOPIC]: [record(0, 't\u0000event\u0000a', 't0'), record(1, 'm\u0000maxTs', '5'), record(2, 't\u0000event\u0000b', null), record(3, 't\u0000event\u0000ü', 't3'), record(4, 't\u0000event\u0000c', 't4'), record(5, 't\u0000event\u0000d', 't5'), record(6, 't\u0000late', 'z')],
}

/** A client whose consumer hands over each changelog in two batches, then says where they ended. */
function fakeKafka(): Kafka {
  const emitter = new EventEmitter()
  const consumer = {
    events: EVENTS,
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async ({ eachBatch }: { eachBatch: (p: { batch: unknown }) => Promise<void> }) => {
      for (const [topic, messages] of Object.entries(LOGS)) {
        // The second batch repeats offset 3, as a fetch again after a rejoin would.
        for (const part of [messages.slice(0, 4), messages.slice(3)]) {
          await eachBatch({ batch: { topic, partition: 0, messagesWithinOffset: part } })
          emitter.emit(EVENTS.END_BATCH_PROCESS, { payload: { topic, partition: 0, lastOffset: (part[part.length - 1] as KafkaMessage).offset } })
        }
      }
    },
    seek: () => {},
    disconnect: async () => {},
  }
  return { consumer: () => consumer } as unknown as Kafka
}

const admin = { offsets: async () => new Map([[0, { low: 0, high: 6 }]]), deleteGroups: async () => {} } as unknown as KafkaAdmin

/** A backend with `write` only (no `writeBytes`), over a map. */
function stringOnly(mem: MemoryBackend): KeyValueBackend {
  return { kind: 'memory', getManySync: (k) => mem.getManySync(k), write: (ops) => mem.write(ops), scan: (p) => mem.scan(p), keysSync: (p) => mem.keysSync(p), rangeSync: (p, f, l) => mem.rangeSync(p, f, l), approximateSize: () => 0, close: async () => {} }
}

async function restoreInto(backend: KeyValueBackend): Promise<void> {
  const target: RestoreTarget = { app: 'app', taskId: '0_0', partition: 0, backend, topics: { stores: new Map([['node.counts', STORE_TOPIC]]), timers: TIMERS_TOPIC }, from: { [STORE_TOPIC]: 1 } }
  const result = await restoreChangelogs({ kafka: fakeKafka(), admin, targets: [target], logger: createLogger({ level: 'silent' }), timings: { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 } })
  expect(result.get('0_0')).toEqual({ [STORE_TOPIC]: 6, [TIMERS_TOPIC]: 6 })
}

const contents = (mem: MemoryBackend): Array<[string, string]> => [...mem.raw()].map(([k, v]) => [k, v.toString('utf8')] as [string, string]).sort(([a], [b]) => (a < b ? -1 : 1))

describe('restoring changelogs into a backend', () => {
  it('writes store records under their store prefix and timer records as they are, from the checkpoint to the end, keys as bytes or as strings alike', async () => {
    const bytes = new MemoryBackend()
    const strings = new MemoryBackend()
    await restoreInto(bytes)
    await restoreInto(stringOnly(strings))
    const expected: Array<[string, string]> = [
      ['k\u0000node.counts\u0000é', '1'],
      ['k\u0000node.counts\u0000😀 user', '2'],
      ['m\u0000maxTs', '5'],
      ['t\u0000event\u0000a', 't0'],
      ['t\u0000event\u0000c', 't4'],
      ['t\u0000event\u0000d', 't5'],
      ['t\u0000event\u0000ü', 't3'],
    ]
    expect(contents(bytes)).toEqual(expected)
    expect(contents(strings)).toEqual(expected)
  })
})
