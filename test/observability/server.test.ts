import { Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TopologyBuilder, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Topology } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { REDACT_PATHS, createLogger } from '../../pipeline/observability/logger.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import type { HealthSource, ObservabilityServer } from '../../pipeline/observability/server.ts'
import { startObservabilityServer } from '../../pipeline/observability/server.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'

interface Ev {
  userId: string
  ts: number
}

function counting(): Processor<Ev, { userId: string; n: number }> {
  let ctx!: ProcessorContext<{ userId: string; n: number }>
  return {
    init(c) {
      ctx = c
    },
    process(r) {
      const s = ctx.valueStore<number>('count')
      const n = (s.get() ?? 0) + 1
      s.put(n)
      ctx.forward(r.withValue({ userId: r.value.userId, n }))
    },
  }
}

function countsTopology(): Topology {
  const b = new TopologyBuilder('obs-counts')
  b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
    .process('count', counting, { stores: { count: valueStore() } })
    .to('out', { topic: 'counts', serde: jsonSerde() })
  return b.build()
}

/** Opens an embedded runner over an in-memory log and state, with its own metrics registry. */
async function openRunner(): Promise<{ runner: EmbeddedRunner; log: EmbeddedLog; metrics: HermesMetrics }> {
  const config = validateConfig({ runtime: { stateBackend: 'memory' }, topics: { defaultPartitions: 2 }, time: { minTimestampMs: null }, observability: { http: { enabled: false } } })
  const log = EmbeddedLog.inMemory()
  const metrics = new HermesMetrics({ defaultMetrics: false })
  const runner = await EmbeddedRunner.open({
    topologies: [countsTopology()],
    config,
    log,
    state: { kind: 'memory', maps: new Map() },
    logger: createLogger({ level: 'silent' }),
    metrics,
  })
  return { runner, log, metrics }
}

function append(log: EmbeddedLog, events: Ev[]): void {
  for (const e of events) log.append('events', partitionFor(e.userId, log.partitions('events')), e.userId, Buffer.from(JSON.stringify(e)), e.ts)
}

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: { [k: string]: string }): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const body = line.slice(name.length + 1, line.indexOf('}'))
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.indexOf('}') + 1))
  }
  return undefined
}

const alwaysReady: HealthSource = { live: () => true, ready: () => ({ ready: true }) }

describe('observability server', () => {
  const opened: ObservabilityServer[] = []
  const closers: Array<() => Promise<void>> = []

  afterEach(async () => {
    vi.restoreAllMocks()
    for (const s of opened.splice(0)) await s.close()
    for (const c of closers.splice(0)) await c()
  })

  async function start(options: Partial<Parameters<typeof startObservabilityServer>[0]> = {}): Promise<{ server: ObservabilityServer; url: string }> {
    const server = await startObservabilityServer({ registry: new HermesMetrics({ defaultMetrics: false }).registry, health: alwaysReady, port: 0, ...options })
    opened.push(server)
    return { server, url: `http://127.0.0.1:${server.port}` }
  }

  it('binds to 127.0.0.1 by default, on a free port when asked for port 0', async () => {
    const listening: Server[] = []
    const listen = Server.prototype.listen
    vi.spyOn(Server.prototype, 'listen').mockImplementation(function (this: Server, ...args: unknown[]) {
      listening.push(this)
      return (listen as (...a: unknown[]) => Server).apply(this, args)
    })
    const { server } = await start()
    expect(listening).toHaveLength(1)
    const address = (listening[0] as Server).address() as AddressInfo
    expect(address.address).toBe('127.0.0.1')
    expect(address.family).toBe('IPv4')
    expect(address.port).toBe(server.port)
    expect(server.port).toBeGreaterThan(0)
  })

  it('serves the records each node saw as Prometheus text on /metrics', async () => {
    const { runner, log, metrics } = await openRunner()
    closers.push(() => runner.close())
    append(log, [
      { userId: 'a', ts: 1 },
      { userId: 'b', ts: 2 },
      { userId: 'a', ts: 3 },
    ])
    const stats = await runner.run()
    expect(stats.records).toBe(3)
    runner.updateMetrics()
    const { url } = await start({ registry: metrics.registry })
    const res = await fetch(`${url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    const text = await res.text()
    expect(text).toContain('# TYPE hermes_node_records_total counter')
    expect(sample(text, 'hermes_node_records_total', { app: 'obs-counts', node: 'count', direction: 'in' })).toBe(3)
    expect(sample(text, 'hermes_node_records_total', { app: 'obs-counts', node: 'count', direction: 'out' })).toBe(3)
    expect(sample(text, 'hermes_consumer_lag', { app: 'obs-counts', topic: 'events', partition: '0' })).toBe(0)
    // Default process metrics were turned off.
    expect(text).not.toContain('hermes_process_cpu')
  })

  it('counts each record once however often metrics are updated, and refreshes them before a scrape', async () => {
    const { runner, log, metrics } = await openRunner()
    closers.push(() => runner.close())
    let scrapes = 0
    const { url } = await start({
      registry: metrics.registry,
      beforeScrape: () => {
        scrapes++
        runner.updateMetrics()
      },
    })
    append(log, [{ userId: 'a', ts: 1 }])
    await runner.run()
    runner.updateMetrics()
    runner.updateMetrics()
    const first = await (await fetch(`${url}/metrics`)).text()
    expect(sample(first, 'hermes_node_records_total', { node: 'count', direction: 'in' })).toBe(1)
    append(log, [
      { userId: 'b', ts: 2 },
      { userId: 'c', ts: 3 },
    ])
    await runner.run()
    const second = await (await fetch(`${url}/metrics`)).text()
    expect(sample(second, 'hermes_node_records_total', { node: 'count', direction: 'in' })).toBe(3)
    expect(scrapes).toBe(2)
  })

  it('answers /healthz with 200 while the process is live, and 503 when it is not', async () => {
    let live = true
    const { url } = await start({ health: { live: () => live, ready: () => ({ ready: true }) } })
    const ok = await fetch(`${url}/healthz`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ status: 'ok' })
    live = false
    const down = await fetch(`${url}/healthz`)
    expect(down.status).toBe(503)
    expect(await down.json()).toEqual({ status: 'down' })
  })

  it('answers /healthz with 503 and the reason when the source gives one', async () => {
    let live: { live: boolean; reason?: string } = { live: true }
    const { url } = await start({ health: { live: () => live, ready: () => ({ ready: true }) } })
    const ok = await fetch(`${url}/healthz`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ status: 'ok' })
    live = { live: false, reason: 'no commit has succeeded for 61 s' }
    const down = await fetch(`${url}/healthz`)
    expect(down.status).toBe(503)
    expect(await down.json()).toEqual({ status: 'down', reason: 'no commit has succeeded for 61 s' })
  })

  it('answers /readyz with 503 and the reason until ready, then 200', async () => {
    let ready = false
    const { url } = await start({ health: { live: () => true, ready: () => (ready ? { ready: true } : { ready: false, reason: 'restoring state' }) } })
    const before = await fetch(`${url}/readyz`)
    expect(before.status).toBe(503)
    expect(await before.json()).toEqual({ ready: false, reason: 'restoring state' })
    ready = true
    const after = await fetch(`${url}/readyz?verbose=1`)
    expect(after.status).toBe(200)
    expect(await after.json()).toEqual({ ready: true })
  })

  it('answers an unknown path with 404 naming the endpoints', async () => {
    const { url } = await start()
    const res = await fetch(`${url}/metrix`)
    expect(res.status).toBe(404)
    expect(await res.text()).toContain('/metrics')
  })

  it('refuses methods other than GET with 405 and an Allow header', async () => {
    const { url } = await start()
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const res = await fetch(`${url}${path}`, { method: 'POST', body: 'x' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('GET')
      await res.arrayBuffer()
    }
  })

  it('rejects when the port is taken', async () => {
    const { server } = await start()
    await expect(startObservabilityServer({ registry: new HermesMetrics({ defaultMetrics: false }).registry, health: alwaysReady, port: server.port })).rejects.toThrow(/EADDRINUSE/)
  })

  it('stops accepting connections once closed', async () => {
    const server = await startObservabilityServer({ registry: new HermesMetrics({ defaultMetrics: false }).registry, health: alwaysReady, port: 0 })
    const url = `http://127.0.0.1:${server.port}/healthz`
    expect((await fetch(url)).status).toBe(200)
    await server.close()
    await expect(fetch(url)).rejects.toThrow()
  })
})

describe('logger', () => {
  const SECRET = 'hunter2-do-not-log'

  /** A logger writing into memory, and a function returning the lines written so far. */
  function capture(level = 'info'): { log: ReturnType<typeof createLogger>; lines: () => Array<{ [k: string]: unknown }>; raw: () => string } {
    const out = new PassThrough()
    let raw = ''
    out.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8')
    })
    const log = createLogger({ level, destination: out })
    return {
      log,
      raw: () => raw,
      lines: () =>
        raw
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { [k: string]: unknown }),
    }
  }

  /** Waits for the PassThrough to deliver what was written. */
  const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

  it('writes JSON lines with the level, name and message', async () => {
    const { log, lines } = capture()
    log.info({ topic: 'events' }, 'started')
    log.debug('hidden at info level')
    await flushed()
    expect(lines()).toHaveLength(1)
    expect(lines()[0]).toMatchObject({ level: 30, name: 'hermes', topic: 'events', msg: 'started', pid: process.pid })
    expect(typeof lines()[0]?.time).toBe('string')
  })

  it('redacts password, sasl, token, secret, apiKey and authorization fields', async () => {
    const { log, lines, raw } = capture()
    log.info({ password: SECRET, sasl: SECRET, token: SECRET, secret: SECRET, apiKey: SECRET, authorization: SECRET }, 'top level')
    log.info({ conn: { password: SECRET, token: SECRET, secret: SECRET, apiKey: SECRET, authorization: SECRET } }, 'one level down')
    log.info({ req: { headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'json' } } }, 'headers')
    await flushed()
    expect(raw()).not.toContain(SECRET)
    const [top, nested, headers] = lines()
    expect(top).toMatchObject({ password: '[redacted]', sasl: '[redacted]', token: '[redacted]', secret: '[redacted]', apiKey: '[redacted]', authorization: '[redacted]' })
    expect(nested?.conn).toEqual({ password: '[redacted]', token: '[redacted]', secret: '[redacted]', apiKey: '[redacted]', authorization: '[redacted]' })
    expect(headers?.req).toEqual({ headers: { authorization: '[redacted]', 'content-type': 'json' } })
  })

  it('redacts the kafka SASL settings wherever a config is logged, keeping the other fields', async () => {
    const { log, lines, raw } = capture()
    const kafka = () => ({ brokers: ['b:9092'], sasl: { mechanism: 'plain', username: 'svc', password: SECRET } })
    log.info({ kafka: kafka() }, 'kafka section')
    log.info({ config: { kafka: kafka() } }, 'whole config')
    log.info({ a: { b: { password: SECRET } } }, 'password two levels down')
    log.child({ kafka: kafka() }).info('child bindings')
    await flushed()
    expect(raw()).not.toContain(SECRET)
    expect(raw()).toContain('[redacted]')
    const [section, config, deep, child] = lines()
    expect(section?.kafka).toEqual({ brokers: ['b:9092'], sasl: '[redacted]' })
    expect(config?.config).toEqual({ kafka: { brokers: ['b:9092'], sasl: '[redacted]' } })
    expect(deep?.a).toEqual({ b: { password: '[redacted]' } })
    expect(child?.kafka).toEqual({ brokers: ['b:9092'], sasl: '[redacted]' })
  })

  it('lists the redacted paths it promises', () => {
    for (const p of ['password', 'sasl', 'token', '*.sasl', '*.*.password']) expect(REDACT_PATHS).toContain(p)
  })

  it('writes nothing at level silent', async () => {
    const { log, raw } = capture('silent')
    log.error({ password: SECRET }, 'boom')
    await flushed()
    expect(raw()).toBe('')
  })
})

describe('logger redaction and the caller', () => {
  it('redacts a nested SASL password in the log line without changing the caller object', () => {
    const out = new PassThrough()
    const lines: string[] = []
    out.on('data', (b: Buffer) => lines.push(b.toString()))
    const logger = createLogger({ destination: out, level: 'info' })
    const config = { kafka: { sasl: { mechanism: 'plain', username: 'u', password: 'S3CRET' } } }
    logger.info(config, 'starting')
    expect(config.kafka.sasl.password).toBe('S3CRET')
    expect(lines.join('')).not.toContain('S3CRET')
  })
})
