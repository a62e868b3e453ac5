/**
 * A task's input positions are committed with its state: they go to the timers changelog in the
 * same transaction, so a task restored elsewhere (or after its local state was wiped) continues
 * exactly after the records its state holds, whatever the group's committed offsets say then.
 */
import { describe, expect, it } from 'vitest'
import type { ChangelogRecord } from '../../pipeline/kafka/changelog.ts'
import { ChangelogBackend, POSITIONS_KEY } from '../../pipeline/kafka/changelog.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { PREFIX } from '../../pipeline/state/task-state.ts'

describe('the changelog of a task', () => {
  it('carries its input positions with its state and timers', async () => {
    const sent: ChangelogRecord[] = []
    const topics = { stores: new Map([['task-center.events', 'app.task-center.events.changelog']]), timers: 'app.timers-0.changelog' }
    const backend = new ChangelogBackend(new MemoryBackend(), '0_1', topics, async (_task, records) => (sent.push(...records), {}), {}, () => {})
    const positions = Buffer.from(JSON.stringify({ 'events:1': 42 }))
    await backend.write([
      [`${PREFIX.keyed}task-center.events\u0000u1`, Buffer.from('[[1,1,"view"]]')],
      [POSITIONS_KEY, positions],
      [`${PREFIX.meta}other`, Buffer.from('1')],
    ])
    expect(POSITIONS_KEY).toBe(`${PREFIX.meta}positions`)
    expect(sent.map((r) => [r.topic, r.key])).toEqual([
      ['app.task-center.events.changelog', 'u1'],
      ['app.timers-0.changelog', POSITIONS_KEY],
    ])
    expect(sent[1]?.value).toEqual(positions)
  })
})
