/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core: browser
 * builds downloaded at install time do not run on the CI machine, so none is used.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import type { Browser, ConsoleMessage, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { loadConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { simulate } from '../../scripts/simulate.ts'
import { DEFAULT_FEATURES, parseFeatures, sampleConfig, writeWorldConfig } from '../../scripts/sim/sample-config.ts'
import type { SampleConfig } from '../../scripts/sim/sample-config.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')

/** Where the system Chromium is; `HERMES_CHROMIUM` overrides it (e.g. on macOS). */
export const CHROMIUM = process.env.HERMES_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Launches the system Chromium headless.
 * @throws Error naming the missing binary and how to install it.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium, as .ci/run does) or set HERMES_CHROMIUM`)
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] })
}

/** Options of {@link openConsole}. */
export interface OpenConsoleOptions {
  /** The console's base URL, e.g. http://127.0.0.1:8480. */
  url: string
  /** The token put in the URL fragment as `hermes console` prints it; none: the sign-in form. */
  token?: string
  /** Viewport width (default 1400). */
  width?: number
  height?: number
}

/**
 * Opens the console as its printed URL does (`/#token=...`), or at `/` without a token, in a
 * fresh context (its own sessionStorage), and collects the page's errors: a test asserts there
 * were none.
 */
export async function openConsole(browser: Browser, o: OpenConsoleOptions): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: o.width ?? 1400, height: o.height ?? 900 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (m: ConsoleMessage) => {
    // An HTTP error status the page handles (a 400 with field errors, a viewer's 403) is logged
    // by Chromium as "Failed to load resource"; that is the API speaking, not a script failing.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`)
  })
  await page.goto(o.token === undefined ? `${o.url}/` : `${o.url}/#token=${encodeURIComponent(o.token)}`)
  return { page, errors }
}

/**
 * The sample world's start (as `npm start`), its seed, and its size for the browser tests: 200
 * users and a day, or the newcomer's walkthrough at `npm start`'s size with the same variables
 * (`HERMES_SAMPLE_USERS=500 HERMES_SAMPLE_DAYS=2 npx vitest run test/console/console.browser.test.ts`).
 */
export const WORLD = { start: Date.UTC(2026, 10, 2), seed: 42, users: Number(process.env.HERMES_SAMPLE_USERS ?? 200), days: Number(process.env.HERMES_SAMPLE_DAYS ?? 1) } as const

/**
 * The sample configuration the test world runs, as `npm start` runs it by default (the tuned set
 * with its default features: item triggers, the click model): tests pick its tasks.
 */
export function worldSample(): SampleConfig {
  return sampleConfig('tuned', parseFeatures(DEFAULT_FEATURES))
}

/**
 * Simulates the sample world as `npm start` does (`HERMES_SAMPLE_USERS=200
 * HERMES_SAMPLE_DAYS=1`), into `dir` instead of .hermes/start/: outputs in `dir`, the embedded
 * log and RocksDB state in `dir/state`.
 */
export async function makeWorld(dir: string): Promise<void> {
  const sample = worldSample()
  const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
  writeWorldConfig(dir, sample)
  await simulate({ users: WORLD.users, days: WORLD.days, seed: WORLD.seed, start: WORLD.start, config, sample, logger: createLogger({ level: 'error' }), outDir: dir })
}

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the console to take). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => done(port))
    })
  })
}

/** A running `hermes console`. */
export interface RunningConsole {
  url: string
  /** What the command printed so far (stdout and stderr), for failure messages. */
  output: () => string
  stop: () => Promise<void>
}

/**
 * Starts the real `hermes console` (node bin/hermes.js console, embedded) over a world's state
 * directory on a free port, with the tokens given as HERMES_CONSOLE_TOKENS
 * (`user:role:token,...`), and resolves once GET /healthz answers 200.
 * @throws Error with the command's output when it exits before it is up.
 */
export async function startConsole(o: { stateDir: string; tokens: string }): Promise<RunningConsole> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HERMES')) env[k] = v
  env.HERMES_CONSOLE_TOKENS = o.tokens
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'hermes.js'), 'console', '--mode', 'embedded', '--state-dir', o.stateDir, '--port', String(port)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (out += b.toString()))
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const url = `http://127.0.0.1:${port}`
  // Up when /healthz answers: polled, since the command says nothing machine-readable when ready.
  for (;;) {
    const gone = await Promise.race([exited.then((c) => ({ code: c })), new Promise<null>((r) => setTimeout(r, 100, null))])
    if (gone) throw new Error(`hermes console exited with ${gone.code} before it was up:\n${out}`)
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false)
    if (ok) break
  }
  return {
    url,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await exited
      }
    },
  }
}
