/**
 * A broadcast reader's consumer follows the input consumer's crash policy
 * (pipeline/kafka/consumer-crash.ts): started again when kafkajs gives up on it for an unreachable
 * cluster, at start-up and after it; any other crash kafkajs gives up on fails the start-up
 * instead of waiting forever.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { BroadcastReader } from '../../pipeline/kafka/broadcast.ts'
import { consumerCrashAction } from '../../pipeline/kafka/consumer-crash.ts'
import { CONSUMER_RETRY } from '../../pipeline/kafka/source.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { coordinatorNotFound, fakeKafka } from './fake-consumer.ts'

afterEach(() => vi.useRealTimers())

const admin = { offsets: async () => new Map([[0, { low: 0, high: 5 }]]), deleteGroups: async () => {} } as unknown as KafkaAdmin
const timings = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, maxWaitTimeInMs: 50 }
const logger = createLogger({ level: 'silent' })

describe('a broadcast read at start-up', () => {
  it('starts its consumer again when kafkajs gives up on it for an unreachable cluster, during start-up and after it', async () => {
    vi.useFakeTimers()
    const { kafka, runs, crash } = fakeKafka()
    const reader = new BroadcastReader(kafka, ['config.tasks'], admin, logger, timings, 'app', () => {})
    const started = reader.start().then(() => 'read', () => 'failed')
    await vi.advanceTimersByTimeAsync(0)
    expect(runs()).toBe(1)
    expect(consumerCrashAction({ error: coordinatorNotFound(), restart: false })).toBe('restart')
    crash(coordinatorNotFound(), false)
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
    // Still reading (not failed): the partition's end was not reached.
    expect(await Promise.race([started, Promise.resolve('still waiting')])).toBe('still waiting')
    await reader.stop()
    // Stopped: a crash is no longer restarted.
    crash(coordinatorNotFound(), false)
    await vi.advanceTimersByTimeAsync(CONSUMER_RETRY.maxRetryTime + 10)
    expect(runs()).toBe(2)
  })

  it('fails its start-up on any other crash kafkajs gives up on', async () => {
    const { kafka, runs, crash } = fakeKafka()
    const reader = new BroadcastReader(kafka, ['config.tasks'], admin, logger, timings, 'app', () => {})
    const started = reader.start()
    await new Promise((r) => setImmediate(r))
    const err = new Error('a bug in eachBatch')
    crash(err, false)
    await expect(started).rejects.toBe(err)
    expect(runs()).toBe(1)
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
