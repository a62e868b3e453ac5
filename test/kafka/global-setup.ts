/**
 * Vitest global setup for the Kafka integration tests (`*.kafka.test.ts`): starts a local broker
 * with scripts/kafka/start.sh when nothing answers on 127.0.0.1:9092, and stops it at the end
 * only if it started it. Runs that cannot include a Kafka test (their file filters match no
 * `test/kafka/*.kafka.test.ts`) and `HERMES_SKIP_KAFKA=1` leave the broker alone.
 */
import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { listening } from '../listening.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '..', '..')
const PORT = 9092

/** HERMES_SKIP_KAFKA=1 leaves the broker alone (one that is already running elsewhere). */
function wantsKafka(): boolean {
  return process.env.HERMES_SKIP_KAFKA !== '1'
}

let startedHere = false

export async function setup(): Promise<void> {
  if (!wantsKafka() || (await listening(PORT))) return
  const { stdout } = await run(join(ROOT, 'scripts', 'kafka', 'start.sh'), [], { cwd: ROOT, timeout: 120_000 })
  if (!/KAFKA_BROKERS=/.test(stdout)) throw new Error(`scripts/kafka/start.sh did not report a broker: ${stdout}`)
  startedHere = true
}

export async function teardown(): Promise<void> {
  if (!startedHere) return
  await run(join(ROOT, 'scripts', 'kafka', 'stop.sh'), [], { cwd: ROOT, timeout: 60_000 })
}
