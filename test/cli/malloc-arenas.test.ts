import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '..', '..')
const PROBE = join(ROOT, 'test', 'cli', 'arena-probe.mjs')

/** Runs the probe with `env` (MALLOC_ARENA_MAX removed first unless `env` sets it). */
function probe(env: { [k: string]: string }, execArgv: string[] = []): { out: Array<{ arena: string | null; pid: number; argv: string[]; execArgv: string[] }>; stderr: string; status: number | null; pid: number } {
  const base = { ...process.env }
  delete base.MALLOC_ARENA_MAX
  const r = spawnSync(process.execPath, [...execArgv, PROBE, 'run', '--flag', 'a b'], { env: { ...base, ...env }, encoding: 'utf8', timeout: 30_000 })
  return { out: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr: r.stderr, status: r.status, pid: r.pid }
}

describe.runIf(process.platform === 'linux' && typeof (process as { execve?: unknown }).execve === 'function')('MALLOC_ARENA_MAX for hermes (bin/malloc-arenas.js)', () => {
  it('re-executes once with MALLOC_ARENA_MAX=2 when it is not set, keeping the arguments, the Node flags and the pid', () => {
    const r = probe({}, ['--no-deprecation'])
    expect(r.status).toBe(0)
    expect(r.out).toHaveLength(1)
    expect(r.out[0]).toMatchObject({ arena: '2', argv: ['run', '--flag', 'a b'], execArgv: ['--no-deprecation'], pid: r.pid })
    expect(r.stderr).toBe('')
  })

  it('leaves a value the user set, even an empty one, as it is', () => {
    expect(probe({ MALLOC_ARENA_MAX: '4' }).out).toEqual([expect.objectContaining({ arena: '4' })])
    expect(probe({ MALLOC_ARENA_MAX: '' }).out).toEqual([expect.objectContaining({ arena: '' })])
  })

  it('is what bin/hermes.js does before anything else', () => {
    const bin = readFileSync(join(ROOT, 'bin', 'hermes.js'), 'utf8')
    expect(bin.indexOf('limitMallocArenas()')).toBeGreaterThan(0)
    expect(bin.indexOf('limitMallocArenas()')).toBeLessThan(bin.indexOf("import('tsx/esm/api')"))
  })
})
