/**
 * `hermes console` as a user runs it: over a world a run left, on a free port of 127.0.0.1, with
 * a generated token printed once on stdout (in the URL to open) and never in the log.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { makeWorld } from './helpers.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const dir = mkdtempSync(join(tmpdir(), 'hermes-console-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('hermes console (command)', () => {
  it('serves the world on 127.0.0.1, prints the token only in the URL on stdout, and never logs it', async () => {
    await makeWorld(dir)
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'hermes.js'), 'console', '--state-dir', dir, '--port', '0', '--log-level', 'info'], { cwd: ROOT, env: { ...process.env, HERMES_CONSOLE_TOKENS: '' } })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        const m = /open (http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)/.exec(stdout)
        if (m) resolve(`${m[1]}#${m[2]}`)
      })
      child.on('exit', (code) => reject(new Error(`hermes console exited with ${code} before printing its URL: ${stderr}`)))
    })
    const [base, token] = url.split('#') as [string, string]
    try {
      const session = await fetch(`${base}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } })
      expect(await session.json()).toEqual({ user: 'admin', role: 'editor', mode: 'embedded' })
      expect((await fetch(`${base}/api/v1/session`)).status).toBe(401)
      const put = await fetch(`${base}/api/v1/config/tasks/welcome/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin: base }, body: '{"comment":"from the cli test"}' })
      expect(await put.json()).toEqual({ version: 2 })
      expect((await fetch(`${base}/healthz`)).status).toBe(200)
      expect((await fetch(`${base}/vendor/preact/dist/preact.mjs`)).status).toBe(200)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
    expect(stdout.split(token).length - 1).toBe(1)
    expect(stderr).toContain('/api/v1/session') // requests were logged...
    expect(stderr).not.toContain(token) // ...without the token
  })
})
