import { describe, expect, it } from 'vitest'
import { freePort } from '../local-service.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import type { Topology } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { HermesMetrics } from '../../pipeline/observability/metrics.ts'
import { RegistryError } from '../../pipeline/registry/client.ts'

// A Kafka run must answer its probes from the first second, while it still waits for the schema
// registry or the brokers: a liveness probe that finds nothing listening kills the process.
// No broker or registry is needed: both are pointed at ports where nothing listens.


function topology(): Topology {
  const b = new TopologyBuilder('startup-probe')
  b.source('in', { topic: 'startup-events', serde: jsonObjectSerde() }).to('out', { topic: 'startup-out', serde: jsonSerde() })
  return b.build()
}

/** GETs a path, retrying while nothing listens yet; returns the answer and when it came. */
async function probe(port: number, path: string, started: number): Promise<{ status: number; body: unknown; afterMs: number }> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      const text = await res.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // /metrics is text.
      }
      return { status: res.status, body, afterMs: Date.now() - started }
    } catch {
      if (Date.now() - started > 5000) throw new Error(`nothing answered on 127.0.0.1:${port}${path} within 5 s`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

describe('a Kafka run answers /healthz and /readyz while it starts', () => {
  it('is live and not ready, with the registry it waits for, from the first second of the registry wait', async () => {
    const [registryPort, httpPort] = [await freePort(), await freePort()]
    const config = validateConfig({
      topics: { overrides: { 'startup-events': { format: 'avro', schema: 'behavior-event' } } },
      schemaRegistry: { url: `http://127.0.0.1:${registryPort}/apis/ccompat/v7`, username: 'bob', password: 'never-shown', retryInitialMs: 200, retryMaxMs: 400, startupTimeoutMs: 60_000 },
      observability: { http: { port: httpPort } },
      runtime: { stateBackend: 'memory' },
    })
    const abort = new AbortController()
    const started = Date.now()
    const run = runKafka({ topologies: [topology()], config, logger: createLogger({ level: 'silent' }), metrics: new HermesMetrics({ defaultMetrics: false }), signal: abort.signal }).catch((e: unknown) => e)
    try {
      const health = await probe(httpPort, '/healthz', started)
      expect(health.afterMs).toBeLessThan(1000)
      expect(health.status).toBe(200)
      expect(health.body).toEqual({ status: 'ok' })
      const ready = await probe(httpPort, '/readyz', started)
      expect(ready.status).toBe(503)
      expect(ready.body).toEqual({ ready: false, reason: `waiting for the schema registry at http://127.0.0.1:${registryPort}/apis/ccompat/v7` })
      const metrics = await probe(httpPort, '/metrics', started)
      expect(metrics.status).toBe(200)
      expect(String(metrics.body)).toContain('# TYPE hermes_node_records_total counter')
      // Still waiting a second later, still answering.
      await new Promise((r) => setTimeout(r, 1000))
      expect((await probe(httpPort, '/healthz', started)).status).toBe(200)
      expect((await probe(httpPort, '/readyz', started)).status).toBe(503)
    } finally {
      abort.abort()
    }
    const err = await run
    expect(err).toBeInstanceOf(RegistryError)
    // The server goes away with the run.
    await expect(fetch(`http://127.0.0.1:${httpPort}/healthz`)).rejects.toThrow()
  })

  it('says it is connecting to Kafka while the brokers do not answer, and closes the server when the run fails', async () => {
    const [brokerPort, httpPort] = [await freePort(), await freePort()]
    const config = validateConfig({
      kafka: { brokers: [`127.0.0.1:${brokerPort}`] },
      observability: { http: { port: httpPort } },
      runtime: { stateBackend: 'memory' },
    })
    const started = Date.now()
    // Start-up retries while Kafka is unreachable for kafka.maxOutageMs (5 minutes by default): 1 s here, so the first failed attempt ends it.
    const run = runKafka({ topologies: [topology()], config, logger: createLogger({ level: 'silent' }), metrics: new HermesMetrics({ defaultMetrics: false }), maxOutageMs: 1000 }).catch((e: unknown) => e)
    const health = await probe(httpPort, '/healthz', started)
    expect(health.afterMs).toBeLessThan(1000)
    expect(health.status).toBe(200)
    const ready = await probe(httpPort, '/readyz', started)
    expect(ready.status).toBe(503)
    expect((ready.body as { reason: string }).reason).toMatch(new RegExp(`^connecting to Kafka at 127\\.0\\.0\\.1:${brokerPort} `))
    // kafkajs gives up connecting after its retries (about 10 s); the run fails and its server closes.
    const err = await run
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toMatch(/kafka\.maxOutageMs: 1000/)
    await expect(fetch(`http://127.0.0.1:${httpPort}/healthz`)).rejects.toThrow()
  })
})
