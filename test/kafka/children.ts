/** Hermes instances in child processes (see child.ts), for tests that kill them. */
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'

const children = new Set<ChildProcess>()

/** A running child instance. */
export interface Child {
  child: ChildProcess
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Records it reported processing so far (reported about once a second). */
  progress: () => number
}

/** Starts the test topology in a child process with these options (see child.ts). */
export function startChild(options: object): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/kafka/child.ts', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let records = 0
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => {
    const all = [...d.toString().matchAll(/"progress":(\d+)/g)]
    const last = all[all.length - 1]
    if (last) records = Number(last[1])
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000)
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      if (code !== 0 && code !== null) console.error(`child ${child.pid} exited with ${code}:\n${stderr.slice(-4000)}`)
      resolve(code)
    }),
  )
  return { child, exited, progress: () => records }
}

/** Kills every child still running (test teardown). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL')
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
