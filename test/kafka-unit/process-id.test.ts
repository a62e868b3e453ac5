import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PROCESS_ID_FILE, processId } from '../../pipeline/kafka/process-id.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hermes-pid-'))
  dirs.push(d)
  return d
}

describe('the process id of exactly_once_v2', () => {
  it('is created once and kept in the state directory, so a restart of the same process has the same one', () => {
    const dir = stateDir()
    const first = processId({ kind: 'rocksdb', dir })
    expect(readFileSync(join(dir, PROCESS_ID_FILE), 'utf8').trim()).toBe(first)
    expect(processId({ kind: 'rocksdb', dir })).toBe(first)
    expect(processId({ kind: 'rocksdb', dir: stateDir() })).not.toBe(first)
  })

  it('is replaced when the file is torn', () => {
    const dir = stateDir()
    writeFileSync(join(dir, PROCESS_ID_FILE), '3f2a')
    const id = processId({ kind: 'rocksdb', dir })
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(processId({ kind: 'rocksdb', dir })).toBe(id)
  })

  it('with memory state, follows the state maps (a runner reopened on them is the same process)', () => {
    const maps = new Map<string, Map<string, Buffer>>()
    expect(processId({ kind: 'memory', maps })).toBe(processId({ kind: 'memory', maps }))
    expect(processId({ kind: 'memory', maps: new Map() })).not.toBe(processId({ kind: 'memory', maps }))
  })
})
