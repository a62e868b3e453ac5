/**
 * Vitest global setup for the Kafka integration tests (`*.kafka.test.ts`): starts a local broker
 * with scripts/kafka/start.sh when nothing answers on 127.0.0.1:9092, and stops it at the end
 * only if it started it. Runs that cannot include a Kafka test (their file filters match no
 * `test/kafka/*.kafka.test.ts`) and `HERMES_SKIP_KAFKA=1` leave the broker alone.
 */
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '..', '..')
const PORT = 9092

function answers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
    socket.once('timeout', () => {
      socket.destroy()
      done(false)
    })
  })
}

/**
 * Whether this vitest invocation may run a Kafka test. Only command-line arguments that are
 * clearly paths (`test/runtime`, `x.test.ts`) count as file filters; anything else (a bare word
 * could be a filter or an option's value) keeps the broker.
 */
function wantsKafka(): boolean {
  if (process.env.HERMES_SKIP_KAFKA === '1') return false
  const files = readdirSync(join(ROOT, 'test', 'kafka'))
    .filter((f) => f.endsWith('.kafka.test.ts'))
    .map((f) => `test/kafka/${f}`)
  const args = process.argv.slice(2)
  const start = args.findIndex((a) => a === 'run' || a === 'watch' || a === 'related')
  const words = (start >= 0 ? args.slice(start + 1) : args).filter((a) => !a.startsWith('-'))
  if (words.length === 0 || !words.every((w) => w.includes('/') || w.endsWith('.ts'))) return true
  return files.some((f) => words.some((w) => f.includes(w.replace(/^\.\//, '')) || w.replace(/^\.\//, '').startsWith(f)))
}

let startedHere = false

export async function setup(): Promise<void> {
  if (!wantsKafka() || (await answers(PORT))) return
  const { stdout } = await run(join(ROOT, 'scripts', 'kafka', 'start.sh'), [], { cwd: ROOT, timeout: 120_000 })
  if (!/KAFKA_BROKERS=/.test(stdout)) throw new Error(`scripts/kafka/start.sh did not report a broker: ${stdout}`)
  startedHere = true
}

export async function teardown(): Promise<void> {
  if (!startedHere) return
  await run(join(ROOT, 'scripts', 'kafka', 'stop.sh'), [], { cwd: ROOT, timeout: 60_000 })
}
