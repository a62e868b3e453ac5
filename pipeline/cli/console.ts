/**
 * `hermes console`: the Configuration Center's HTTP API and web console (console/server/),
 * embedded over the state directory a run left (`npm start` → .hermes/start) or on Kafka.
 * The server is imported when the command runs: nothing else in pipeline/ depends on console/.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { loadConfig } from '../config/load.ts'
import { createLogger } from '../observability/logger.ts'
import { PACKAGE_ROOT } from './topologies.ts'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

interface ConsoleFlags {
  config: string[]
  env?: string
  host?: string
  port?: string
  mode?: 'embedded' | 'kafka'
  stateDir: string
  dataDir?: string
  logLevel?: string
}

/** Adds `hermes console` to the CLI. */
export function addConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('serve the Configuration Center: HTTP API and web console (configure, preview, backtest, explain, report)')
    .option('-c, --config <file>', 'extra YAML config file (repeatable)', collect, [])
    .option('--env <name>', 'environment: merges config/<name>.yaml (default $HERMES_ENV)')
    .option('--host <host>', 'bind address (default console.host, 127.0.0.1)')
    .option('--port <port>', 'port (default console.port, 8480; 0 = any free port)')
    .addOption(new Option('--mode <mode>', 'embedded (a state directory) or kafka (default runtime.mode)').choices(['embedded', 'kafka']))
    .option('--state-dir <dir>', 'embedded: the directory a run left', join('.hermes', 'start'))
    .option('--data-dir <dir>', 'embedded: where versions and the audit log are kept (default <state-dir>/console)')
    .option('--log-level <level>', 'log level (trace, debug, info, warn, error, silent)')
    .action(async (flags: ConsoleFlags) => {
      const consoleOverrides: { [k: string]: unknown } = {}
      if (flags.host !== undefined) consoleOverrides.host = flags.host
      if (flags.port !== undefined) consoleOverrides.port = Number(flags.port)
      const overrides: { [k: string]: unknown } = {}
      if (Object.keys(consoleOverrides).length) overrides.console = consoleOverrides
      if (flags.logLevel) overrides.observability = { log: { level: flags.logLevel } }
      const dir = resolve('config')
      const configDir = existsSync(join(dir, 'default.yaml')) ? dir : join(PACKAGE_ROOT, 'config')
      let config = loadConfig({ dir: configDir, env: flags.env, files: flags.config, overrides })
      // A simulated world (npm start) keeps the hermes settings it ran with beside it: decide as it did.
      const worldFile = join(flags.stateDir, 'hermes.yaml')
      if ((flags.mode ?? config.runtime.mode) === 'embedded' && existsSync(worldFile)) config = loadConfig({ dir: configDir, env: flags.env, files: [worldFile, ...flags.config], overrides })
      const logger = createLogger({ level: config.observability.log.level, name: 'hermes-console' })
      const { startConsole } = await import('../../console/server/start.ts')
      const mode = flags.mode ?? config.runtime.mode
      if (mode === 'embedded' && !existsSync(flags.stateDir)) {
        process.stderr.write(`hermes console: ${flags.stateDir} does not exist; run \`npm start\` first (it leaves a world there), or name another with --state-dir\n`)
        process.exitCode = 2
        return
      }
      const c = await startConsole({ config, logger, mode, host: config.console.host, port: config.console.port, stateDir: flags.stateDir, ...(flags.dataDir ? { dataDir: flags.dataDir } : {}) })
      // The only place the generated token is written: stdout, once, in the URL to open.
      process.stdout.write(`Hermes console (${mode}) on ${c.origin}\n`)
      process.stdout.write(c.generated ? `  open ${c.origin}/#token=${c.generated.token}\n  (user ${c.generated.user}, editor; the token is valid until the console stops)\n` : `  open ${c.origin}/ and sign in with your token (console.tokens / HERMES_CONSOLE_TOKENS)\n`)
      await new Promise<void>((done) => {
        const stop = (): void => done()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await c.close()
    })
}
