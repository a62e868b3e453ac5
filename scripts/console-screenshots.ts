/**
 * Screenshots of the web console for docs/console.md, taken from the real `hermes console`
 * (embedded) over the sample world that `npm start` left, in Debian's Chromium:
 *
 *   npm start && npx tsx scripts/console-screenshots.ts [--state-dir .hermes/start] [--out docs/console]
 *
 * Nothing is published: the pages are only read, and the backtest runs in memory.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { launchBrowser, openConsole, startConsole } from '../test/console/browser.ts'

const { values } = parseArgs({ options: { 'state-dir': { type: 'string', default: '.hermes/start' }, out: { type: 'string', default: 'docs/console' } } })
const stateDir = resolve(values['state-dir'] as string)
const out = resolve(values.out as string)
if (!existsSync(join(stateDir, 'state'))) {
  process.stderr.write(`no sample world in ${stateDir}: run \`npm start\` first (or pass --state-dir)\n`)
  process.exit(1)
}
mkdirSync(out, { recursive: true })
const token = randomBytes(16).toString('hex')
const server = await startConsole({ stateDir, tokens: `alice:editor:${token}` })
const browser = await launchBrowser()
try {
  const { page, errors } = await openConsole(browser, { url: server.url, token, width: 1400, height: 1000 })
  const go = (name: string): Promise<void> => page.getByRole('navigation', { name: 'Pages' }).getByRole('button', { name, exact: true }).click()
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true })
    process.stdout.write(`${join(values.out as string, `${name}.png`)}\n`)
  }

  // Configure: the task list and one task's form (the tuned sample set's viewed-deal, which has a rule), versions below.
  await page.getByRole('link', { name: 'viewed-deal', exact: true }).click()
  await page.getByRole('region', { name: 'Versions' }).waitFor()
  await page.getByLabel('Rule check').getByText('rule ok').waitFor()
  await shot('configure')

  // The trigger editor: a new task, its rule checked as typed, validation errors at the fields.
  await page.getByRole('button', { name: 'New task' }).click()
  await page.getByLabel('Task id').fill('vip-deal')
  await page.getByLabel('Materials').fill('m1, m2')
  await page.getByLabel('Events', { exact: true }).fill('view')
  await page.getByLabel('Rule (when, JsonLogic)').fill('{"and": [{">=": [{"var": "event.attrs.dropPct"}, 15]}, {"in": ["vip", {"var": "user.segments"}]}]}')
  await page.getByLabel('Rule check').getByText('rule ok').waitFor()
  await page.getByLabel('Unless events', { exact: true }).fill('purchase')
  await page.getByLabel('Unless within (ms)').fill('-5')
  await page.getByRole('button', { name: 'Validate' }).click()
  await page.locator('.field.invalid').first().waitFor()
  // The sticky top bar would cover the top of an element shot of a scrolled page.
  await page.addStyleTag({ content: 'header.top { position: static }' })
  await page.getByRole('region', { name: 'task editor' }).screenshot({ path: join(out, 'trigger-editor.png') })
  process.stdout.write(`${join(values.out as string, 'trigger-editor.png')}\n`)

  // Backtest: viewed-deal on views of items 20% off instead of 30%, against the recorded days.
  await page.getByRole('button', { name: 'Close' }).click()
  await page.getByRole('link', { name: 'viewed-deal', exact: true }).click()
  await page.getByLabel('Rule (when, JsonLogic)').fill('{">=": [{"var": "event.attrs.dropPct"}, 20]}')
  await page.getByRole('button', { name: 'Preview & backtest' }).click()
  // All the recorded history (warm-up left empty): the current replay is the recorded world. The
  // first backtest replays it twice, which takes minutes on the 2000-user world.
  await page.getByRole('button', { name: 'Run backtest' }).click()
  await page.getByLabel('Backtest result').waitFor({ timeout: 900_000 })
  await shot('backtest')

  // Explain: a user (HERMES_SCREENSHOT_USER, default u1), with the why-not trace.
  await go('Explain')
  await page.getByLabel('User id').fill(process.env.HERMES_SCREENSHOT_USER ?? 'u1')
  await page.getByLabel('Why not? (trace)').check()
  await page.getByRole('button', { name: 'Explain user' }).click()
  await page.getByRole('table', { name: 'Why-not trace' }).waitFor()
  await shot('explain')

  // Report: tasks and arms, charts, live rates.
  await go('Report')
  await page.getByRole('table', { name: 'Arms report' }).waitFor()
  await page.getByLabel('Live rates').getByText('events/s').waitFor()
  await shot('report')
  if (errors.length) process.stderr.write(`page errors:\n${errors.join('\n')}\n`)
} finally {
  await browser.close()
  await server.stop()
}
