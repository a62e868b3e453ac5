import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { logLevel } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { kafkaClientOptions } from '../../pipeline/kafka/client.ts'
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
