/**
 * Starts a console: opens the world (embedded state directory or Kafka), loads the versions,
 * resolves the tokens, builds the server and listens. What `hermes console` runs.
 */
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { buildConsole } from './app.ts'
import { FileAuditSink } from './audit-file.ts'
import type { TokenEntry } from './auth.ts'
import { generatedToken, tokensFrom } from './auth.ts'
import { ConfigStore } from './store.ts'
import type { World } from './world.ts'

/** Options of {@link startConsole}. */
export interface StartConsoleOptions {
  config: HermesConfig
  logger: HermesLogger
  mode: 'embedded' | 'kafka'
  host: string
  port: number
  /** Embedded: the directory a run left (default `.hermes/start`). */
  stateDir: string
  /** Embedded: versions and audit (default `<stateDir>/console`). */
  dataDir?: string
  env?: { [k: string]: string | undefined }
}

/** A listening console. */
export interface RunningConsole {
  app: FastifyInstance
  world: World
  /** `http://host:port`, the console's own origin. */
  origin: string
  /** The generated token, when none was configured (printed once by the command, never logged). */
  generated: TokenEntry | null
  close(): Promise<void>
}

export async function startConsole(o: StartConsoleOptions): Promise<RunningConsole> {
  const env = o.env ?? process.env
  const configured = tokensFrom({ configured: o.config.console.tokens, env })
  const generated = configured.length ? null : generatedToken()
  const tokens = generated ? [generated] : configured
  let world: World
  let store: ConfigStore
  if (o.mode === 'kafka') {
    const { KafkaWorld } = await import('./kafka-world.ts')
    const kw = await KafkaWorld.open({ config: o.config, logger: o.logger })
    world = kw
    store = kw.store
  } else {
    const { EmbeddedWorld } = await import('./embedded-world.ts')
    world = await EmbeddedWorld.open({ stateDir: o.stateDir, config: o.config, logger: o.logger })
    const sink = new FileAuditSink(join(resolve(o.dataDir ?? join(o.stateDir, 'console')), 'audit.jsonl'))
    store = new ConfigStore(sink, sink.load())
  }
  let origins: string[] = []
  const app = await buildConsole({ world, store, tokens, logger: o.logger, origins: () => origins })
  try {
    await app.listen({ host: o.host, port: o.port })
  } catch (err) {
    await world.close()
    throw err
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : o.port
  const host = o.host.includes(':') ? `[${o.host}]` : o.host
  const origin = `http://${host}:${port}`
  // The browser may name the loopback either way.
  origins = [origin, ...(o.host === '127.0.0.1' ? [`http://localhost:${port}`] : [])]
  return {
    app,
    world,
    origin,
    generated,
    close: async () => {
      await app.close()
      await world.close()
    },
  }
}
