/**
 * Vitest global setup for the schema-registry integration tests (`*.registry.test.ts`): starts
 * Apicurio Registry with scripts/registry/start.sh when nothing answers on 127.0.0.1:18081, and
 * stops it at the end only if it started it. HERMES_SKIP_REGISTRY=1 leaves it alone.
 */
import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { listening } from '../listening.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '..', '..')
const PORT = 18081

let startedHere = false

export async function setup(): Promise<void> {
  if (process.env.HERMES_SKIP_REGISTRY === '1' || (await listening(PORT))) return
  // The first start downloads Apicurio (~150 MB) with Maven.
  const { stdout } = await run(join(ROOT, 'scripts', 'registry', 'start.sh'), [], { cwd: ROOT, timeout: 600_000 })
  if (!/REGISTRY_URL=/.test(stdout)) throw new Error(`scripts/registry/start.sh did not report a registry: ${stdout}`)
  startedHere = true
}

export async function teardown(): Promise<void> {
  if (!startedHere) return
  await run(join(ROOT, 'scripts', 'registry', 'stop.sh'), [], { cwd: ROOT, timeout: 60_000 })
}
