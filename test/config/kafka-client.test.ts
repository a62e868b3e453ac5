import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { logLevel } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { STALE_METADATA_ERRORS, isRoutineKafkaLog, kafkaClientOptions, subscribeWhenKnown } from '../../pipeline/kafka/client.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

function captured(level = 'info'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (c: Buffer) => (text += c.toString()))
  return { logger: createLogger({ level, destination: out }), text: () => text }
}

describe('kafkajs client options from the kafka config section', () => {
  it('passes SASL credentials and plain TLS through', () => {
    const config = validateConfig({ kafka: { brokers: ['b1:9093', 'b2:9093'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'pw' } } })
    const o = kafkaClientOptions(config.kafka, captured().logger)
    expect(o.brokers).toEqual(['b1:9093', 'b2:9093'])
    expect(o.ssl).toBe(true)
    expect(o.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'pw' })
  })

  it('reads the CA, client certificate and key files for mutual TLS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hermes-tls-'))
    for (const f of ['ca.pem', 'client.pem', 'client.key']) writeFileSync(join(dir, f), `-----BEGIN ${f}-----\n`)
    const config = validateConfig({ kafka: { ssl: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client.key'), keyPassword: 'k3y', servername: 'kafka.internal' } } })
    const ssl = kafkaClientOptions(config.kafka, captured().logger).ssl as { ca: Buffer[]; cert: Buffer; key: Buffer; passphrase: string; rejectUnauthorized: boolean; servername: string }
    expect(ssl.ca.map(String)).toEqual(['-----BEGIN ca.pem-----\n'])
    expect(String(ssl.cert)).toBe('-----BEGIN client.pem-----\n')
    expect(String(ssl.key)).toBe('-----BEGIN client.key-----\n')
    expect(ssl).toMatchObject({ passphrase: 'k3y', rejectUnauthorized: true, servername: 'kafka.internal' })
  })

  it('names the field of a certificate file it cannot read, and refuses a certificate without its key', () => {
    const config = validateConfig({ kafka: { ssl: { caFile: '/nonexistent/ca.pem' } } })
    let err: unknown
    try {
      kafkaClientOptions(config.kafka, captured().logger)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(HermesError)
    expect((err as HermesError).code).toBe('CONFIG_INVALID')
    expect((err as Error).message).toMatch(/^kafka\.ssl\.caFile: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/)
    expect(() => validateConfig({ kafka: { ssl: { certFile: '/x.pem' } } })).toThrow(/kafka\.ssl\.keyFile[\s\S]*certFile and keyFile go together/)
  })

  it('routes kafkajs log lines to the logger without credentials, routine retries at debug', () => {
    const { logger, text } = captured('info')
    const config = validateConfig({ kafka: { sasl: { mechanism: 'plain', username: 'svc', password: 'hunter2' } } })
    const log = (kafkaClientOptions(config.kafka, logger).logCreator as NonNullable<ReturnType<typeof kafkaClientOptions>['logCreator']>)(logLevel.INFO)
    log({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { message: 'SASL PLAIN authentication failed', timestamp: 'now', logger: 'kafkajs', sasl: { mechanism: 'plain', username: 'svc', password: 'hunter2' }, broker: 'b1:9093', error: 'bad credentials' } })
    log({ namespace: 'Producer', level: logLevel.ERROR, label: 'ERROR', log: { message: 'Failed to send', timestamp: 'now', logger: 'kafkajs', error: 'CONCURRENT_TRANSACTIONS' } })
    const lines = text().trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; broker?: string; component?: string })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 50, msg: 'SASL PLAIN authentication failed', broker: 'b1:9093', component: 'kafkajs' })
    expect(text()).not.toContain('hunter2')
    expect(text()).not.toContain('svc')
  })

  it('never logs a TLS key passphrase when a config is logged', () => {
    const { logger, text } = captured('info')
    logger.info({ config: validateConfig({ kafka: { ssl: { keyFile: '/k.pem', certFile: '/c.pem', keyPassword: 'k3y-secret' } } }) }, 'config')
    expect(text()).toContain('"keyPassword":"[redacted]"')
    expect(text()).not.toContain('k3y-secret')
  })
})

describe('kafkajs log levels', () => {
  function route(namespace: string, level: logLevel, message: string, error?: string): Array<{ level: number; msg: string }> {
    const { logger, text } = captured('debug')
    const log = (kafkaClientOptions(validateConfig({}).kafka, logger).logCreator as NonNullable<ReturnType<typeof kafkaClientOptions>['logCreator']>)(logLevel.DEBUG)
    log({ namespace, level, label: 'ERROR', log: { message, timestamp: 'now', logger: 'kafkajs', ...(error ? { error } : {}) } })
    return text()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string })
  }

  it('logs the stale-metadata answers kafkajs retries (new topics, moved leaders) at debug, not error', () => {
    for (const error of ['This server does not host this topic-partition', 'There is no leader for this topic-partition as we are in the middle of a leadership election', 'This server is not the leader for that topic-partition']) {
      expect(route('Connection', logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', error)).toEqual([expect.objectContaining({ level: 20 })])
    }
  })

  it('keeps other failed answers, and connection failures, at error', () => {
    expect(route('Connection', logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', 'Not authorized to access topics: [Topic authorization failed]')).toEqual([expect.objectContaining({ level: 50 })])
    expect(route('Connection', logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', 'connect ECONNREFUSED 127.0.0.1:9092')).toEqual([expect.objectContaining({ level: 50 })])
    // Same words from a caller that gave up retrying: not routine.
    expect(route('Producer', logLevel.ERROR, 'Failed to send messages', 'This server does not host this topic-partition')).toEqual([expect.objectContaining({ level: 50 })])
  })

  it('reads the stale-metadata messages from kafkajs itself (fails when kafkajs changes them)', () => {
    expect([...STALE_METADATA_ERRORS].sort()).toEqual(['There is no leader for this topic-partition as we are in the middle of a leadership election', 'This server does not host this topic-partition', 'This server is not the leader for that topic-partition'])
    expect(isRoutineKafkaLog('Connection', 'Response ListOffsets(key: 2, version: 3)', 'This server is not the leader for that topic-partition')).toBe(true)
    expect(isRoutineKafkaLog('Connection', 'Request ListOffsets(key: 2, version: 3)', 'This server is not the leader for that topic-partition')).toBe(false)
  })
})

describe('subscribeWhenKnown', () => {
  const unknown = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' })

  it('retries a subscribe that a broker refused for a topic it does not know yet, then subscribes', async () => {
    let calls = 0
    await subscribeWhenKnown({
      subscribe: async () => {
        if (++calls < 3) throw unknown
      },
    }, ['t'])
    expect(calls).toBe(3)
  })

  it('rethrows any other error at once, and the same error once the time is up', async () => {
    let calls = 0
    const other = Object.assign(new Error('nope'), { type: 'TOPIC_AUTHORIZATION_FAILED' })
    await expect(subscribeWhenKnown({
      subscribe: async () => {
        calls++
        throw other
      },
    }, ['t'])).rejects.toBe(other)
    expect(calls).toBe(1)
    await expect(subscribeWhenKnown({
      subscribe: async () => {
        throw unknown
      },
    }, ['t'], 300)).rejects.toBe(unknown)
  })
})
