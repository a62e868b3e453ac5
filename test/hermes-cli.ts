import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')

/** How a `hermes` command ended. */
export interface Run {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs `node bin/hermes.js ...args` in the package root as a user would, without the HERMES_*
 * variables of this process but with `env`'s; resolves with the exit code and output.
 */
export function runHermes(args: readonly string[], env: { [k: string]: string } = {}, timeoutMs = 60_000): Promise<Run> {
  const base: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HERMES')) base[k] = v
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'hermes.js'), ...args], { cwd: ROOT, env: { ...base, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      done({ code, stdout, stderr })
    })
  })
}
