import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { RocksDbBackend } from '../../pipeline/state/backend.ts'

const CHILD = join(import.meta.dirname, 'write-and-kill.ts')

/** Runs write-and-kill.ts; returns the signal that ended it. */
function writeAndKill(mode: 'previous' | 'current', dir: string, pairs: string[]): NodeJS.Signals | null {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, mode, dir, ...pairs], { encoding: 'utf8', timeout: 30_000 })
  if (r.signal !== 'SIGKILL') throw new Error(`child ended with ${r.signal ?? r.status}: ${r.stderr}`)
  return r.signal
}

describe('RocksDB state after an unclean close (SIGKILL, data only in the write-ahead log)', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'hermes-unclean-'))
    dirs.push(d)
    return d
  }

  it('recovers what the previous options wrote (compressed WAL), then what it writes itself (uncompressed WAL)', async () => {
    const dir = join(tempDir(), 'task_0')
    expect(writeAndKill('previous', dir, ['a=1', 'b=2'])).toBe('SIGKILL')
    let db = await RocksDbBackend.open(dir)
    expect(db.getManySync(['a', 'b']).map((v) => v?.toString())).toEqual(['1', '2'])
    await db.close()

    expect(writeAndKill('current', dir, ['b=22', 'c=3'])).toBe('SIGKILL')
    db = await RocksDbBackend.open(dir)
    expect(db.getManySync(['a', 'b', 'c']).map((v) => v?.toString())).toEqual(['1', '22', '3'])
    expect(db.keysSync('')).toEqual(['a', 'b', 'c'])
    await db.close()
  })
})
