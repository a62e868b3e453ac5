/** The input consumer is started again when it goes silent without crashing (the watchdog of KafkaSource). */
import { EventEmitter } from 'node:events'
import type { Kafka } from 'kafkajs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONSUMER_RETRY, silenceBoundMs } from '../../pipeline/kafka/source.ts'
import { EVENTS, fakeSource } from './fake-consumer.ts'

afterEach(() => vi.useRealTimers())

/** A client whose one consumer counts its runs and disconnects; `emit` sends one of its events. */
function fakeClient(): { kafka: Kafka; runs: () => number; disconnects: () => number; emit: (event: string, payload?: object) => void } {
  const emitter = new EventEmitter()
  let runs = 0
  let disconnects = 0
  const consumer = {
    events: EVENTS,
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async () => void runs++,
    disconnect: async () => void disconnects++,
  }
  return { kafka: { consumer: () => consumer } as unknown as Kafka, runs: () => runs, disconnects: () => disconnects, emit: (event, payload = {}) => void emitter.emit(event, { payload }) }
}

const BOUND = silenceBoundMs({ sessionTimeout: 6000 })

describe('the input consumer watchdog', () => {
  it('starts a consumer silent for the bound again, once per bound, and not a consumer that fetches', async () => {
    vi.useFakeTimers()
    const { kafka, runs, disconnects, emit } = fakeClient()
    const s = fakeSource(kafka)
    await s.start()
    expect(runs()).toBe(1)
    // Fetching (as a running consumer does, every maxWaitTimeInMs): never restarted.
    for (let t = 0; t < 2 * BOUND; t += 1000) {
      emit(EVENTS.FETCH)
      await vi.advanceTimersByTimeAsync(1000)
    }
    expect(runs()).toBe(1)
    // Silent from now on: disconnected and run again once the bound has passed...
    await vi.advanceTimersByTimeAsync(BOUND + BOUND / 10 + CONSUMER_RETRY.maxRetryTime + 10)
    expect(disconnects()).toBe(1)
    expect(runs()).toBe(2)
    // ...and not again before another bound (the new consumer's time to join and fetch).
    await vi.advanceTimersByTimeAsync(BOUND / 2)
    expect(runs()).toBe(2)
    await vi.advanceTimersByTimeAsync(BOUND)
    expect(runs()).toBe(3)
    await s.stop()
  })

  it('leaves the consumer to kafkajs while kafkajs restarts it after a crash, until it has joined again', async () => {
    vi.useFakeTimers()
    const { kafka, runs, disconnects, emit } = fakeClient()
    const s = fakeSource(kafka)
    await s.start()
    // A crash kafkajs restarts itself (a connection error): silence until it joins is its own
    // restart under way, which a disconnect would not stop (a second member would join later).
    emit(EVENTS.CRASH, { error: new Error('Connection error: connect ECONNREFUSED'), groupId: 'g', restart: true })
    await vi.advanceTimersByTimeAsync(3 * BOUND)
    expect(disconnects()).toBe(0)
    expect(runs()).toBe(1)
    // Joined again, then silent: started again.
    emit(EVENTS.GROUP_JOIN, { memberAssignment: {}, memberId: 'm' })
    await vi.advanceTimersByTimeAsync(BOUND + BOUND / 10 + CONSUMER_RETRY.maxRetryTime + 10)
    expect(disconnects()).toBe(1)
    expect(runs()).toBe(2)
    await s.stop()
  })

  it('does nothing once the source is stopped', async () => {
    vi.useFakeTimers()
    const { kafka, runs } = fakeClient()
    const s = fakeSource(kafka)
    await s.start()
    await s.stop()
    await vi.advanceTimersByTimeAsync(3 * BOUND)
    expect(runs()).toBe(1)
  })
})
