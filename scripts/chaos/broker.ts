/**
 * The chaos run's own single-node Kafka broker (scripts/kafka/start.sh and stop.sh with other
 * ports and a data dir of its own), so restarting it never disturbs the shared one on 9092.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** Where the broker listens and keeps its data. */
export interface BrokerOptions {
  port: number
  controllerPort: number
  dataDir: string
}

async function script(name: string, args: string[]): Promise<void> {
  try {
    await exec(join('scripts', 'kafka', name), args, { timeout: 180_000 })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`scripts/kafka/${name} ${args.join(' ')} failed: ${(e.stderr ?? '').trim().split('\n').slice(-5).join('\n') || e.message}`, { cause: err })
  }
}

/** Its bootstrap address. */
export function brokerList(o: BrokerOptions): string[] {
  return [`127.0.0.1:${o.port}`]
}

/**
 * Starts the broker and waits until it answers. Without `keepData` its data dir is formatted
 * afresh (a new cluster); with it, topics, offsets and transactions survive (a restart).
 */
export async function startBroker(o: BrokerOptions, keepData = false): Promise<void> {
  await script('start.sh', ['--port', String(o.port), '--controller-port', String(o.controllerPort), '--data-dir', o.dataDir, ...(keepData ? ['--keep-data'] : [])])
}

/** Stops the broker: a controlled shutdown, or SIGKILL with `kill`; `clean` also deletes its data dir. */
export async function stopBroker(o: BrokerOptions, options: { kill?: boolean; clean?: boolean } = {}): Promise<void> {
  await script('stop.sh', ['--data-dir', o.dataDir, ...(options.kill ? ['--kill'] : []), ...(options.clean ? ['--clean'] : [])])
}
