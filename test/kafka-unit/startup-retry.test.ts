import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { isKafkaUnreachable } from '../../pipeline/kafka/failures.ts'
import { openWhenReachable } from '../../pipeline/kafka/run.ts'

/** kafkajs' error after its connection retries are spent: a non-retriable wrapper around the refusal. */
function refused(): Error {
  const cause = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:29092'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' })
  return Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:29092'), { name: 'KafkaJSNonRetriableError', retriable: false, cause, originalError: cause })
}

const warnings: unknown[] = []
const logger = { warn: (o: unknown) => void warnings.push(o) }

class Opened {
  closed = false
  async close(): Promise<void> {
    this.closed = true
  }
}

describe('start-up while Kafka is away', () => {
  it('tells a broker that is down from one that refuses', () => {
    expect(isKafkaUnreachable(refused())).toBe(true)
    expect(isKafkaUnreachable(Object.assign(new Error('There is no leader'), { name: 'KafkaJSBrokerNotFound' }))).toBe(true)
    expect(isKafkaUnreachable(new HermesError('IO_ERROR', 'creating topics: boom', { cause: refused() }))).toBe(true)
    expect(isKafkaUnreachable(Object.assign(new Error('Not authorized to access topics'), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED' }))).toBe(false)
    expect(isKafkaUnreachable(new HermesError('CONFIG_INVALID', 'topics.overrides.x.cleanup: ...'))).toBe(false)
  })

  it('retries an open that cannot reach Kafka until the broker is back', async () => {
    let attempts = 0
    const opened = await openWhenReachable(
      async () => {
        if (++attempts < 4) throw refused()
        return new Opened()
      },
      { maxOutageMs: 60_000, logger, maxDelayMs: 1 },
    )
    expect(opened).toBeInstanceOf(Opened)
    expect(attempts).toBe(4)
  })

  it('gives up after kafka.maxOutageMs with an error that names the setting and the last failure', async () => {
    let now = 0
    const attempt = openWhenReachable(
      async () => {
        now += 10_000
        throw refused()
      },
      { maxOutageMs: 30_000, logger, clock: () => now, maxDelayMs: 1 },
    )
    await expect(attempt).rejects.toThrow(/kafka\.maxOutageMs: 30000.*ECONNREFUSED/)
  })

  it('throws at once what no retry can heal', async () => {
    let attempts = 0
    const attempt = openWhenReachable(
      async () => {
        attempts++
        throw new HermesError('CONFIG_INVALID', 'topic t is not compacted')
      },
      { maxOutageMs: 60_000, logger, maxDelayMs: 1 },
    )
    await expect(attempt).rejects.toThrow(/not compacted/)
    expect(attempts).toBe(1)
  })

  it('stops at once on abort in the middle of an attempt that never ends, and closes it when it does', async () => {
    const controller = new AbortController()
    let finish: (o: Opened) => void = () => {}
    const late = new Opened()
    const attempt = openWhenReachable(() => new Promise<Opened>((r) => (finish = r)), { maxOutageMs: 60_000, logger, signal: controller.signal })
    controller.abort()
    await expect(attempt).resolves.toBeNull()
    finish(late)
    await new Promise((r) => setImmediate(r))
    expect(late.closed).toBe(true)
  })

  it('stops at once on abort while waiting to retry', async () => {
    const controller = new AbortController()
    let attempts = 0
    const attempt = openWhenReachable(
      async () => {
        attempts++
        setImmediate(() => controller.abort())
        throw refused()
      },
      { maxOutageMs: 600_000, logger, signal: controller.signal, maxDelayMs: 600_000 },
    )
    await expect(attempt).resolves.toBeNull()
    expect(attempts).toBe(1)
  })
})
