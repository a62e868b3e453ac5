/** Hermes instances in child processes, for runs and tests that SIGKILL them. */
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'

/** A running instance. */
export interface Instance {
  child: ChildProcess
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Records it reported processing so far (reported about once a second). */
  progress: () => number
  /** Whether it has reported progress at least once (its run loop has started). */
  reported: () => boolean
  /**
   * Settles when it first writes to stdout (true; test/kafka/child.ts does once its modules are
   * loaded, which takes seconds on a loaded machine) or exits before that (false).
   */
  started: Promise<boolean>
  /** The last lines it wrote to stderr (kept for error messages). */
  stderr: () => string
}

const running = new Set<ChildProcess>()

/**
 * Starts `node --import tsx <script> '<json options>'`. The script reports progress as
 * `{"progress":<records>}` lines on stdout. With `logFile`, everything the instance writes is
 * appended to that file, so each life of a killed instance can be read afterwards.
 */
export function startInstance(o: { script: string; options: object; logFile?: string }): Instance {
  const child = spawn(process.execPath, ['--import', 'tsx', o.script, JSON.stringify(o.options)], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let records = 0
  let reported = false
  let stderr = ''
  const log = o.logFile ? createWriteStream(o.logFile, { flags: 'a' }) : null
  let wrote: (v: boolean) => void = () => {}
  const started = new Promise<boolean>((resolve) => (wrote = resolve))
  child.stdout?.on('data', (d: Buffer) => {
    wrote(true)
    log?.write(d)
    const all = [...d.toString().matchAll(/"progress":(\d+)/g)]
    const last = all[all.length - 1]
    if (last) {
      records = Number(last[1])
      reported = true
    }
  })
  child.stderr?.on('data', (d: Buffer) => {
    log?.write(d)
    stderr = (stderr + d.toString()).slice(-20_000)
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      wrote(false)
      running.delete(child)
      log?.end()
      resolve(code)
    }),
  )
  return { child, exited, progress: () => records, reported: () => reported, started, stderr: () => stderr }
}

/** SIGKILLs every instance still running (teardown); only processes this module started. */
export function killInstances(): void {
  for (const c of running) c.kill('SIGKILL')
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
