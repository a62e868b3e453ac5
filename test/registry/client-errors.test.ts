import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../local-service.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { RegistryError, SchemaRegistryClient, describeNetworkFailure } from '../../pipeline/registry/client.ts'


/** A logger writing JSON lines into memory. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<{ [k: string]: unknown }>; raw: () => string } {
  const out = new PassThrough()
  const lines: Array<{ [k: string]: unknown }> = []
  let raw = ''
  out.on('data', (chunk: Buffer) => {
    raw += chunk.toString()
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { [k: string]: unknown })
  })
  return { logger: createLogger({ level: 'debug', destination: out }), lines, raw: () => raw }
}

const SECRET = 's3cret-registry-password'

function client(url: string, logger = createLogger({ level: 'silent' })): SchemaRegistryClient {
  const config = validateConfig({ schemaRegistry: { url, username: 'bob', password: SECRET, requestTimeoutMs: 3000, retryInitialMs: 50, retryMaxMs: 100 } })
  return new SchemaRegistryClient(config.schemaRegistry, logger)
}

describe('schema registry client: what a failure says', () => {
  const servers: Server[] = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()))
  })

  it('says "connection refused at host:port" when nothing listens, not "status 400"', async () => {
    const port = await freePort()
    const err = await client(`http://127.0.0.1:${port}/apis/ccompat/v7`)
      .subjects()
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    const e = err as RegistryError
    expect(e.failure).toBe('unavailable')
    expect(e.retriable).toBe(true)
    expect(e.status).toBeUndefined()
    expect(e.message).toBe(`listing subjects: connection refused at 127.0.0.1:${port} (ECONNREFUSED: nothing listens there)`)
    expect(e.message).not.toMatch(/status 400/)
  })

  it('logs each wait with that reason and the url, never the password', async () => {
    const port = await freePort()
    const { logger, lines, raw } = capture()
    const c = client(`http://127.0.0.1:${port}/apis/ccompat/v7`, logger)
    const err = await c.untilAvailable('listing subjects', () => c.subjects(), { deadlineMs: 300 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    await new Promise((r) => setImmediate(r))
    const waits = lines.filter((l) => /schema registry unreachable/.test(String(l.msg)))
    expect(waits.length).toBeGreaterThanOrEqual(1)
    for (const w of waits) {
      expect(w.err).toBe(`listing subjects: connection refused at 127.0.0.1:${port} (ECONNREFUSED: nothing listens there)`)
      expect(w.registry).toBe(`http://127.0.0.1:${port}/apis/ccompat/v7`)
    }
    expect(raw()).not.toContain('status 400')
    expect(raw()).not.toContain(SECRET)
    expect((err as Error).message).not.toContain(SECRET)
  })

  it('still reports a real 400 of a live registry as the registry said it, and does not retry it', async () => {
    let requests = 0
    const server = createServer((req, res) => {
      requests++
      req.resume()
      res.writeHead(400, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ error_code: 400, message: 'Bad request: subject name is empty' }))
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const { port } = server.address() as AddressInfo
    const c = client(`http://127.0.0.1:${port}`)
    const err = await c.untilAvailable('listing subjects', () => c.subjects(), { deadlineMs: 2000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    const e = err as RegistryError
    expect(e.failure).toBe('refused')
    expect(e.status).toBe(400)
    expect(e.retriable).toBe(false)
    expect(e.message).toBe('listing subjects: Bad request: subject name is empty')
    expect(requests).toBe(1)
  })

  it('describes DNS failures, timeouts and resets, and leaves other text alone', () => {
    expect(describeNetworkFailure('Error, status 400: getaddrinfo ENOTFOUND registry.internal')).toBe('host registry.internal not found (ENOTFOUND: DNS has no such name)')
    expect(describeNetworkFailure('Error, status 400: getaddrinfo EAI_AGAIN registry.internal')).toMatch(/^host registry\.internal could not be resolved \(EAI_AGAIN/)
    expect(describeNetworkFailure('Error, status 400: connect ETIMEDOUT 10.0.0.7:8081')).toBe('connection timed out at 10.0.0.7:8081 (ETIMEDOUT)')
    expect(describeNetworkFailure('Error, status 400: read ECONNRESET')).toBe('connection reset (ECONNRESET)')
    expect(describeNetworkFailure('Error, status 400: Timeout (5000ms)')).toBe('no answer (request timeout (5000ms))')
    expect(describeNetworkFailure('Error, status 400: socket hang up')).toMatch(/socket hang up/)
    expect(describeNetworkFailure('Bad request: subject session-timeouts-value')).toBeNull()
    expect(describeNetworkFailure("Subject 'read-ECONNREFUSED-value' not found")).toBeNull()
  })
})
