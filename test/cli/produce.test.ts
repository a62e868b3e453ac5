import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { runHermes } from '../hermes-cli.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-produce-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const keys = (log: EmbeddedLog, topic: string): Array<string | null> => {
  const out: Array<string | null> = []
  for (let p = 0; p < log.partitions(topic); p++) for (let o = 0; o < log.endOffset(topic, p); o++) out.push(log.read(topic, p, o)?.key ?? null)
  return out.sort()
}

describe('hermes produce (embedded)', () => {
  it('keys each configuration topic as the topologies read it: tasks by taskId, materials by materialId, users by userId', async () => {
    const state = join(root, 'state')
    for (const [topic, file] of [['config.tasks', 'tasks'], ['config.materials', 'materials'], ['config.users', 'users']] as const) {
      const r = await runHermes(['produce', topic, '-f', join('docs', 'examples', `${file}.jsonl`), '--state-dir', state])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
    }
    const log = EmbeddedLog.open(join(state, 'log'))
    expect(keys(log, 'config.tasks')).toEqual(['broken', 'cart-abandon', 'evening', 'morning-vip', 'price-drop'])
    expect(keys(log, 'config.materials')).toEqual(['m1', 'm2', 'm3', 'm4'])
    expect(keys(log, 'config.users')).toEqual(['alice', 'bob', 'carol'])
  })

  it('still takes --key-field over the topologies', async () => {
    const state = join(root, 'state-flag')
    const r = await runHermes(['produce', 'config.tasks', '-f', join('docs', 'examples', 'tasks.jsonl'), '--key-field', 'channel', '--state-dir', state])
    expect(r.code).toBe(0)
    expect(keys(EmbeddedLog.open(join(state, 'log')), 'config.tasks')).toEqual([null, null, null, null, 'push'])
  })
})
