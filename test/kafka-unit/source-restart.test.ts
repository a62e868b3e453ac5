/** The input consumer comes back after a crash kafkajs does not restart (a broker restart). */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONSUMER_RETRY } from '../../pipeline/kafka/source.ts'
import { coordinatorNotFound, fakeKafka, fakeSource as source } from './fake-consumer.ts'

afterEach(() => vi.useRealTimers())

describe('the input consumer after a crash', () => {
  it('is started again when kafkajs gives up on it for an unreachable cluster (no restart), not for other crashes, and not after a stop', async () => {
    vi.useFakeTimers()
    const { kafka, runs, crash } = fakeKafka()
    const s = source(kafka)
    await s.start()
    expect(runs()).toBe(1)
    crash(coordinatorNotFound(), false)
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
    // kafkajs restarts a retriable crash itself: no second start from Hermes.
    crash(coordinatorNotFound(), true)
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
    // A crash for anything but an unreachable cluster is not hidden by a restart.
    crash(new Error('a bug in eachBatch'), false)
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
    crash(coordinatorNotFound(), false)
    await s.stop()
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
  })
})
