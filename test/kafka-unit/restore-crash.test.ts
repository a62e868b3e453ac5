/** A changelog restore whose consumer kafkajs gives up on (a broker restart) fails instead of waiting forever. */
import { EventEmitter } from 'node:events'
import type { Kafka } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { restoreChangelogs } from '../../pipeline/kafka/changelog.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import type { KeyValueBackend } from '../../pipeline/state/backend.ts'
import { EVENTS, coordinatorNotFound } from './fake-consumer.ts'

/** A client whose one consumer joins and fetches nothing; `crash` emits kafkajs' CRASH event. */
function fakeClient(): { kafka: Kafka; crash: (error: Error, restart: boolean) => void; started: Promise<void> } {
  const emitter = new EventEmitter()
  let running: () => void = () => {}
  const started = new Promise<void>((r) => (running = r))
  const consumer = {
    events: EVENTS,
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async () => running(),
    seek: () => {},
    disconnect: async () => {},
  }
  return { kafka: { consumer: () => consumer } as unknown as Kafka, crash: (error, restart) => void emitter.emit(EVENTS.CRASH, { payload: { error, groupId: 'g', restart } }), started }
}

/** An admin whose changelogs each hold 10 records of the task's partition. */
const admin = { offsets: async () => new Map([[0, { low: 0, high: 10 }]]), deleteGroups: async () => {} } as unknown as KafkaAdmin

function restore(kafka: Kafka): Promise<unknown> {
  return restoreChangelogs({
    kafka,
    admin,
    targets: [{ app: 'app', taskId: '0_0', partition: 0, backend: { write: async () => {} } as unknown as KeyValueBackend, topics: { stores: new Map([['counts', 'app.counts.changelog']]), timers: 'app.0.timers.changelog' }, from: undefined }],
    logger: createLogger({ level: 'silent' }),
    timings: { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 },
  })
}

/** What a promise came to within `ms`: its value, its error, or 'pending'. */
async function within(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise((r) => (timer = setTimeout(() => r('pending'), ms)))
  try {
    return await Promise.race([p.then((v) => ({ value: v }), (err: unknown) => ({ error: err })), late])
  } finally {
    clearTimeout(timer)
  }
}

describe('restoring changelogs when the restore consumer crashes', () => {
  it('fails with the crash when kafkajs does not restart the consumer (the runner then recovers and opens the tasks again)', async () => {
    const { kafka, crash, started } = fakeClient()
    const p = restore(kafka)
    await started
    const error = coordinatorNotFound()
    crash(error, false)
    expect(await within(p, 2000)).toEqual({ error })
  })

  it('keeps waiting when kafkajs restarts the consumer itself (it joins again and the restore goes on)', async () => {
    const { kafka, crash, started } = fakeClient()
    const p = restore(kafka)
    p.catch(() => {})
    await started
    crash(coordinatorNotFound(), true)
    expect(await within(p, 300)).toBe('pending')
  })
})
