import { execFile } from 'node:child_process'
import { connect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '..')

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
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
 * A local server the integration tests need (the Kafka broker, the schema registry), as vitest
 * global setup hooks: `setup` runs `scripts/<dir>/start.sh` when nothing listens on `port` (and
 * `skipEnv` is not `1`), checking that its output reports `reports=`; `teardown` runs
 * `scripts/<dir>/stop.sh` only if `setup` started it.
 */
export function localService(o: { dir: string; port: number; reports: string; skipEnv: string; startTimeoutMs: number }): { setup: () => Promise<void>; teardown: () => Promise<void> } {
  let startedHere = false
  return {
    async setup() {
      if (process.env[o.skipEnv] === '1' || (await listening(o.port))) return
      const { stdout } = await run(join(ROOT, 'scripts', o.dir, 'start.sh'), [], { cwd: ROOT, timeout: o.startTimeoutMs })
      if (!stdout.includes(`${o.reports}=`)) throw new Error(`scripts/${o.dir}/start.sh did not report ${o.reports}: ${stdout}`)
      startedHere = true
    },
    async teardown() {
      if (startedHere) await run(join(ROOT, 'scripts', o.dir, 'stop.sh'), [], { cwd: ROOT, timeout: 60_000 })
    },
  }
}

/** A port nothing listens on (taken, then released). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
