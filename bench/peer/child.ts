import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

/** A command-line option that must be a positive integer, or an error naming it. */
export function positiveOption(name: string, v: string | undefined): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`)
  return n
}

/**
 * Starts a bench child (compare.ts, scale.ts) in `cwd` with its output lines prefixed by `label`;
 * `exited` resolves with its exit code, -1 if it could not start. `detached`: in a session of its
 * own (scale.ts --setsid).
 */
export function spawnLabelled(label: string, command: string, argv: string[], cwd: string, detached = false): { child: ChildProcess; exited: Promise<number> } {
  const child = spawn(command, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached })
  const prefix = (stream: NodeJS.ReadableStream, to: NodeJS.WritableStream): void => {
    let rest = ''
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) to.write(`[${label}] ${l}\n`)
    })
    stream.on('end', () => rest && to.write(`[${label}] ${rest}\n`))
  }
  prefix(child.stdout as NodeJS.ReadableStream, process.stdout)
  prefix(child.stderr as NodeJS.ReadableStream, process.stderr)
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`[${label}] cannot start ${command}: ${e.message}\n`)
      resolve(-1)
    })
    child.on('close', (code) => resolve(code ?? -1))
  })
  return { child, exited }
}
