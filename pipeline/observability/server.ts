import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

/** What the health endpoints report. */
export interface HealthSource {
  /**
   * Process is alive and its loop turns; when not, optionally why (shown on `/healthz`, so that
   * whoever sees the restart knows its cause).
   */
  live(): boolean | { live: boolean; reason?: string }
  /** Ready to do work: state restored, inputs connected. */
  ready(): { ready: boolean; reason?: string }
}

/**
 * Answers an interactive query: the state this process holds of a key (see key-query.ts), or
 * null while it cannot tell (starting up).
 */
export type KeyQuery = (key: string) => Promise<unknown>

/** A running metrics/health server. */
export interface ObservabilityServer {
  readonly port: number
  close(): Promise<void>
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` and `/readyz` on `host:port`
 * (127.0.0.1 by default: nothing listens on other interfaces unless configured), and, given
 * `query`, the read-only interactive query `/query/users/<id>` (the user's keyed state and
 * timers in the tasks this process owns; the console asks every instance, the owner answers).
 */
export async function startObservabilityServer(options: {
  registry: Registry
  health: HealthSource
  host?: string
  port?: number
  beforeScrape?: () => void
  query?: KeyQuery
}): Promise<ObservabilityServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0] ?? '/'
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end()
      return
    }
    if (url === '/metrics') {
      options.beforeScrape?.()
      options.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500).end(err.message))
      return
    }
    if (url === '/healthz') {
      const l = options.health.live()
      const ok = typeof l === 'boolean' ? l : l.live
      const reason = typeof l === 'boolean' || ok ? undefined : l.reason
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'down', ...(reason ? { reason } : {}) }))
      return
    }
    if (url === '/readyz') {
      const r = options.health.ready()
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: r.ready, ...(r.reason ? { reason: r.reason } : {}) }))
      return
    }
    if (url.startsWith('/query/users/')) {
      let key: string
      try {
        key = decodeURIComponent(url.slice('/query/users/'.length))
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'malformed user id in the path' }))
        return
      }
      if (!options.query || key === '') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: options.query ? 'name a user: /query/users/<id>' : 'interactive queries are not served by this process' }))
        return
      }
      options
        .query(key)
        .then((r) => (r === null ? res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not ready: state is being restored' })) : res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r))))
        .catch((err: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message })))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz or /query/users/<id>\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 9464, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/**
 * Starts the server when `observability.http.enabled`; a failure to listen (port taken) is
 * logged and the run goes on without it. Returns null when there is no server.
 */
export async function maybeStartObservabilityServer(options: {
  http: { enabled: boolean; host: string; port: number }
  registry: Registry
  health: HealthSource
  beforeScrape?: () => void
  query?: KeyQuery
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}): Promise<ObservabilityServer | null> {
  const { http, logger } = options
  if (!http.enabled) return null
  try {
    const server = await startObservabilityServer({ registry: options.registry, host: http.host, port: http.port, health: options.health, ...(options.beforeScrape ? { beforeScrape: options.beforeScrape } : {}), ...(options.query ? { query: options.query } : {}) })
    logger.info({ host: http.host, port: server.port }, 'metrics on /metrics, health on /healthz and /readyz')
    return server
  } catch (err) {
    logger.warn({ err: (err as Error).message, port: http.port }, 'metrics server not started; the run goes on without it')
    return null
  }
}
