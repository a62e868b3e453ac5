/**
 * The producer thread's lifecycle (pipeline/kafka/producer-thread.ts) without a broker: its
 * kafkajs log lines reach the sink's logger without credentials, a thread that dies fails every
 * call waiting on it with an error the runner does not retry (never a hang), and closing ends it.
 */
import { Writable } from 'node:stream'
import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { loadConfig } from '../../pipeline/config/load.ts'
import { isRecoverable } from '../../pipeline/kafka/client.ts'
import { ThreadProducers } from '../../pipeline/kafka/producer-thread.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { until } from '../kafka/helpers.ts'

// Nothing listens on port 1: kafkajs retries the connection and logs each failure.
const config = loadConfig({ dir: 'config', environment: {}, overrides: { kafka: { brokers: ['127.0.0.1:1'], clientId: 'thread-test', sasl: { mechanism: 'plain', username: 'svc-user', password: 'hunter2-secret' } } } })

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      done()
    },
  })
  return { logger: createLogger({ level: 'debug', destination }), lines }
}


const workerOf = (f: ThreadProducers): Worker => (f as unknown as { thread: { worker: Worker } }).thread.worker

describe('the producer thread', () => {
  it("relays kafkajs' log lines to the sink's logger, without credentials", async () => {
    const { logger, lines } = capture()
    const producers = new ThreadProducers(config.kafka, logger)
    const p = producers.create({ maxInFlightRequests: 1 })
    const connecting = p.connect().catch((e: unknown) => e)
    try {
      await until(() => lines.some((l) => l.includes('"component":"kafkajs"') && /ECONNREFUSED/.test(l)), 'a kafkajs connection error in the log', 20_000)
      const line = JSON.parse(lines.find((l) => l.includes('"component":"kafkajs"')) as string) as { [k: string]: unknown }
      expect(line.thread).toBe('producer')
      expect(line.ns).toEqual(expect.any(String))
      expect(lines.join('\n')).not.toMatch(/hunter2-secret/)
    } finally {
      await producers.close()
    }
    // Closing fails what was still waiting, and says why.
    expect(await connecting).toBeInstanceOf(HermesError)
    expect(String(await connecting)).toMatch(/producer thread was closed/)
  })

  it('fails every call waiting on a thread that died, and every later call of its producers, with an error the runner does not retry', async () => {
    const { logger, lines } = capture()
    const producers = new ThreadProducers(config.kafka, logger)
    const p = producers.create({ maxInFlightRequests: 1 })
    const connecting = p.connect().catch((e: unknown) => e)
    const txn = producers.create({ transactionalId: 'tx-1', maxInFlightRequests: 1 })
    const beginning = txn.transaction().catch((e: unknown) => e)
    await until(() => lines.some((l) => /ECONNREFUSED/.test(l)), 'the first connection attempt', 20_000)
    await workerOf(producers).terminate()
    for (const err of [await connecting, await beginning, await p.sendBatch([{ owner: 'a/0_0', topic: 't', partition: 0, key: 'k', value: Buffer.from('v'), timestamp: 1 }]).catch((e: unknown) => e)]) {
      expect(err).toBeInstanceOf(HermesError)
      expect((err as HermesError).code).toBe('PRODUCE_ERROR')
      expect((err as Error).message).toMatch(/Kafka producer thread stopped \(exit code 1\)/)
      expect(isRecoverable(err)).toBe(false)
    }
    expect(lines.some((l) => l.includes('the Kafka producer thread stopped'))).toBe(true)
    // Disconnecting a producer of the dead thread has nothing to do; a new producer gets a new thread.
    await expect(p.disconnect()).resolves.toBeUndefined()
    const again = producers.create({ maxInFlightRequests: 1 })
    const second = again.connect().catch((e: unknown) => e)
    expect(workerOf(producers).threadId).not.toBe(-1)
    await producers.close()
    expect(String(await second)).toMatch(/producer thread was closed/)
  })

  it('does not keep the process alive when idle, and does while a call waits', async () => {
    const { logger } = capture()
    const producers = new ThreadProducers(config.kafka, logger)
    const p = producers.create({ maxInFlightRequests: 1 })
    const w = workerOf(producers)
    const events: string[] = []
    const ref = w.ref.bind(w)
    const unref = w.unref.bind(w)
    w.ref = () => (events.push('ref'), ref())
    w.unref = () => (events.push('unref'), unref())
    // A producer never connected disconnects at once: once its creation is answered too, nothing waits.
    await p.disconnect()
    expect(events.at(-1)).toBe('unref')
    events.length = 0
    await p.disconnect()
    expect(events).toEqual(['ref', 'unref'])
    const connecting = p.connect().catch(() => {})
    expect(events).toEqual(['ref', 'unref', 'ref'])
    await producers.close()
    await connecting
  })
})
