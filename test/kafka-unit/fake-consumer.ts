/** A stand-in for a kafkajs client whose one consumer joins, fetches nothing, counts its runs and can be made to crash. */
import { EventEmitter } from 'node:events'
import type { Kafka, PartitionAssigner } from 'kafkajs'
import { KafkaSource } from '../../pipeline/kafka/source.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

/** The kafkajs consumer event names the engine listens to. */
export const EVENTS = { GROUP_JOIN: 'consumer.group_join', END_BATCH_PROCESS: 'consumer.end_batch_process', CRASH: 'consumer.crash', FETCH: 'consumer.fetch', HEARTBEAT: 'consumer.heartbeat' }

/** kafkajs' crash after a broker restart, which it does not restart itself. */
export const coordinatorNotFound = (): Error => Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound' })

/** The fake client (`extra`: more consumer methods, such as seek), how often its consumer was run, and a way to make it crash (as kafkajs reports it). */
export function fakeKafka(extra: Record<string, unknown> = {}): { kafka: Kafka; runs: () => number; crash: (error: Error, restart: boolean) => void } {
  const emitter = new EventEmitter()
  let runs = 0
  const consumer = {
    ...extra,
    events: EVENTS,
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async () => void runs++,
    disconnect: async () => {},
  }
  return { kafka: { consumer: () => consumer } as unknown as Kafka, runs: () => runs, crash: (error, restart) => void emitter.emit(EVENTS.CRASH, { payload: { error, groupId: 'g', restart } }) }
}

/** A KafkaSource of group `g` on topic `events` over a fake client, with short timings and silent logs. */
export function fakeSource(kafka: Kafka): KafkaSource {
  return new KafkaSource(kafka, {
    groupId: 'g',
    topics: ['events'],
    assigner: {} as unknown as PartitionAssigner,
    timings: { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 },
    logger: createLogger({ level: 'silent' }),
    maxBuffered: 100,
    maxBytesPerPartition: 1 << 20,
    onAssignment: () => {},
    onData: () => {},
    clock: () => Date.now(),
  })
}
