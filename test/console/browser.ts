/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core: browser
 * builds downloaded at install time do not run on the CI machine, so none is used.
 */
import { existsSync } from 'node:fs'
import type { Browser, ConsoleMessage, Page } from 'playwright-core'
import { chromium } from 'playwright-core'

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
  token: string
  /** Viewport width (default 1400). */
  width?: number
  height?: number
}

/**
 * Opens the console as its printed URL does (`/#token=...`) in a fresh context (its own
 * sessionStorage), and collects the page's errors: a test asserts there were none.
 */
export async function openConsole(browser: Browser, o: OpenConsoleOptions): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: o.width ?? 1400, height: o.height ?? 900 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  await page.goto(`${o.url}/#token=${encodeURIComponent(o.token)}`)
  return { page, errors }
}
