/** A broadcast read whose consumer kafkajs gives up on fails its start-up instead of waiting forever. */
import { EventEmitter } from 'node:events'
import type { Kafka } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { BroadcastReader } from '../../pipeline/kafka/broadcast.ts'
import { isKafkaUnreachable } from '../../pipeline/kafka/failures.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

const EVENTS = { CRASH: 'consumer.crash', END_BATCH_PROCESS: 'consumer.end_batch_process' }

/** A kafkajs consumer that joins and then fetches nothing, and can be made to crash. */
function fakeKafka(): { kafka: Kafka; crash: (error: Error, restart: boolean) => void } {
  const emitter = new EventEmitter()
  const consumer = {
    events: EVENTS,
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async () => {},
    disconnect: async () => {},
  }
  return { kafka: { consumer: () => consumer } as unknown as Kafka, crash: (error, restart) => void emitter.emit(EVENTS.CRASH, { payload: { error, groupId: 'g', restart } }) }
}

const admin = { offsets: async () => new Map([[0, { low: 0, high: 5 }]]), deleteGroups: async () => {} } as unknown as KafkaAdmin
const timings = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 }
const logger = createLogger({ level: 'silent' })

describe('a broadcast read at start-up', () => {
  it('fails when kafkajs gives up on its consumer (no restart), with an error start-up retries', async () => {
    const { kafka, crash } = fakeKafka()
    const reader = new BroadcastReader(kafka, ['config.tasks'], admin, logger, timings, 'app', () => {})
    const started = reader.start()
    await new Promise((r) => setImmediate(r))
    const err = Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound' })
    crash(err, false)
    await expect(started).rejects.toBe(err)
    expect(isKafkaUnreachable(err)).toBe(true)
  })

  it('keeps waiting through a crash kafkajs restarts the consumer from', async () => {
    const { kafka, crash } = fakeKafka()
    const reader = new BroadcastReader(kafka, ['config.tasks'], admin, logger, timings, 'app', () => {})
    const started = reader.start().then(() => 'read', () => 'failed')
    await new Promise((r) => setImmediate(r))
    crash(new Error('Connection error: connect ECONNREFUSED'), true)
    expect(await Promise.race([started, new Promise((r) => setTimeout(() => r('still waiting'), 50))])).toBe('still waiting')
  })
})
