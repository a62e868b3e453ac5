import type { Kafka } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { KafkaSink } from '../../pipeline/kafka/sink.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

// exactly_once_v2: the sink's recovery (reset) opens every app's producer again. With the broker
// down that fails; the app must keep its transactional id, so that its next commit opens the
// producer (or fails as a Kafka failure, which recovery retries) instead of ending the run with
// "no transactional producer" (seen in a chaos replay, issue 9). A fake kafkajs; no broker.

function fakeKafka(): { kafka: Kafka; down: { value: boolean }; log: string[] } {
  const down = { value: false }
  const log: string[] = []
  const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError' })
  const producer = (o: { transactionalId?: string }) => ({
    connect: async () => {
      if (down.value) throw refused()
      log.push(`connect ${o.transactionalId}`)
    },
    disconnect: async () => {},
    sendBatch: async () => [],
    transaction: async () => ({
      sendBatch: async () => [],
      sendOffsets: async () => void log.push('offsets'),
      commit: async () => void log.push('commit'),
      abort: async () => {},
    }),
  })
  return { kafka: { producer } as unknown as Kafka, down, log }
}

describe('KafkaSink.reset under exactly_once_v2', () => {
  it('an app whose producer could not be opened again opens it at its next commit', async () => {
    const { kafka, down, log } = fakeKafka()
    const sink = new KafkaSink(kafka, { exactlyOnce: true, perApp: true, logger: createLogger({ level: 'silent' }), maxInFlight: 8 })
    await sink.start()
    await sink.openApp('app', 'app-p1')
    down.value = true
    await expect(sink.reset()).rejects.toThrow('ECONNREFUSED')
    // Still down: the commit fails as a Kafka failure would (recoverable), not for a lost producer.
    const input = { groupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 3 }], group: { generationId: 1, memberId: 'm' } }
    await expect(sink.commitApp('app', [{ partition: 0, records: [] }], input)).rejects.toMatchObject({ name: 'KafkaJSConnectionError' })
    down.value = false
    await sink.commitApp('app', [{ partition: 0, records: [] }], input)
    expect(log).toEqual(['connect app-p1', 'connect app-p1', 'offsets', 'commit'])
    // And a reset once the broker is back opens it as usual.
    await sink.reset()
    expect(log.at(-1)).toBe('connect app-p1')
    await sink.close()
  })
})
