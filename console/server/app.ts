/**
 * The console's Fastify instance: the /api/v1 routes (one file per area under routes/), the web
 * console's static files from console/web/, the browser modules it imports under /vendor/, and
 * /healthz. Every /api route needs a bearer token (auth.ts).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import type { TokenEntry } from './auth.ts'
import { accessHook } from './auth.ts'
import type { ConsoleContext } from './context.ts'
import { backtestRoutes } from './routes/backtest.ts'
import { configRoutes } from './routes/config.ts'
import { explainRoutes } from './routes/explain.ts'
import { previewRoutes } from './routes/preview.ts'
import { reportRoutes } from './routes/report.ts'
import type { ConfigStore } from './store.ts'
import type { World } from './world.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')

/** Packages the web console imports in the browser, served from node_modules under /vendor/<name>/. */
export const VENDOR_PACKAGES = ['preact', 'htm', 'chart.js', '@kurkle/color'] as const

/** Options of {@link buildConsole}. */
export interface ConsoleOptions {
  world: World
  store: ConfigStore
  tokens: readonly TokenEntry[]
  /** The pino logger requests are logged to (authorization headers and tokens redacted). */
  logger: HermesLogger
  /**
   * Origins allowed to write (the console's own: `http://127.0.0.1:<port>`); asked on every
   * write, since the port is known only once listening.
   */
  origins: () => readonly string[]
  /** Folder of the web console (default console/web/). */
  webDir?: string
}

/** Builds the console's server; call `listen` on it (127.0.0.1 unless told otherwise). */
export async function buildConsole(o: ConsoleOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger as unknown as FastifyBaseLogger,
    bodyLimit: 4 * 1024 * 1024,
  })
  app.decorateRequest('principal', null)
  app.addHook('onRequest', accessHook(o.tokens, o.origins))
  app.setErrorHandler((err: { statusCode?: number; message: string; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) req.log.error({ err: err.message }, 'console request failed')
    return reply.code(status).send({ error: status === 500 ? `internal error: ${err.message}` : err.message })
  })
  const ctx: ConsoleContext = { world: o.world, store: o.store, logger: o.logger }
  app.get('/healthz', async () => ({ status: 'ok' }))
  await app.register(async (api) => {
    configRoutes(api, ctx)
    previewRoutes(api, ctx)
    backtestRoutes(api, ctx)
    explainRoutes(api, ctx)
    reportRoutes(api, ctx)
  }, { prefix: '/api/v1' })
  app.all('/api/*', async (_req, reply) => reply.code(404).send({ error: 'no such API route (see console/API.md)' }))
  const web = o.webDir ?? join(ROOT, 'console', 'web')
  if (existsSync(web)) await app.register(fastifyStatic, { root: web, prefix: '/', index: ['index.html'] })
  else app.get('/', async (_req, reply) => reply.type('text/plain').send('The web console is not built (console/web/ is missing); the API is under /api/v1.\n'))
  for (const pkg of VENDOR_PACKAGES) {
    const root = join(ROOT, 'node_modules', pkg)
    if (existsSync(root)) await app.register(fastifyStatic, { root, prefix: `/vendor/${pkg}/`, decorateReply: false })
  }
  return app
}
