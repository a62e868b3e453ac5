import { describe, expect, it } from 'vitest'
import { CHECKPOINT_EVERY_RECORDS, ChangelogBackend, changelogTopic, timersChangelogTopic } from '../../pipeline/kafka/changelog.ts'
import type { ChangelogRecord } from '../../pipeline/kafka/changelog.ts'
import type { ChangelogOffsets } from '../../pipeline/kafka/checkpoint.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'
import { PREFIX } from '../../pipeline/state/task-state.ts'

// When the checkpoint file is rewritten (issue 9: at every commit it cost 5-10% of the main
// thread): never ahead of the local state, at the first commit, then every
// CHECKPOINT_EVERY_RECORDS changelog records, and at close. No broker: the commit sink is a fake
// that numbers the records as a changelog partition would.

const STORE = 'counts.store'
const topics = { stores: new Map([[STORE, changelogTopic('app', STORE)]]), timers: timersChangelogTopic('app', 0) }

function setup(): { backend: ChangelogBackend; raw: MemoryBackend; saved: ChangelogOffsets[] } {
  const raw = new MemoryBackend()
  const saved: ChangelogOffsets[] = []
  let next = 0
  const sink = async (_task: string, records: ChangelogRecord[]): Promise<ChangelogOffsets> => {
    next += records.length
    return records.length ? { [changelogTopic('app', STORE)]: next } : {}
  }
  const backend = new ChangelogBackend(raw, '0_0', topics, sink, {}, (o) => saved.push({ ...o }))
  return { backend, raw, saved }
}

/** A commit of `n` changed keys of the store. */
function ops(n: number, from = 0): Array<[string, Buffer]> {
  return Array.from({ length: n }, (_, i) => [`${PREFIX.keyed}${STORE}\u0000k${from + i}`, Buffer.from('1')])
}

describe('ChangelogBackend checkpoints', () => {
  it('saves the first commit, then only once CHECKPOINT_EVERY_RECORDS records are not in it, and always after the state', async () => {
    const { backend, raw, saved } = setup()
    await backend.write(ops(10))
    expect(saved).toEqual([{ [changelogTopic('app', STORE)]: 10 }])
    // Small commits: the state moves, the file does not.
    await backend.write(ops(10, 10))
    await backend.write(ops(10, 20))
    expect(saved).toHaveLength(1)
    expect(raw.getManySync([`${PREFIX.keyed}${STORE}\u0000k29`])[0]?.toString()).toBe('1')
    // Past the threshold: saved, with every record written so far (all of them in the local state).
    await backend.write(ops(CHECKPOINT_EVERY_RECORDS, 30))
    expect(saved).toHaveLength(2)
    expect(saved[1]).toEqual({ [changelogTopic('app', STORE)]: 30 + CHECKPOINT_EVERY_RECORDS })
  })

  it('saves what is not saved yet at close, and nothing when everything is', async () => {
    const { backend, saved } = setup()
    await backend.write(ops(5))
    await backend.write(ops(5, 5))
    expect(saved).toHaveLength(1)
    await backend.close()
    expect(saved).toHaveLength(2)
    expect(saved[1]).toEqual({ [changelogTopic('app', STORE)]: 10 })

    const second = setup()
    await second.backend.write(ops(5))
    await second.backend.close()
    expect(second.saved).toHaveLength(1)
  })

  it('does not move the checkpoint when the commit fails before the state is written', async () => {
    const raw = new MemoryBackend()
    const saved: ChangelogOffsets[] = []
    const failing = async (): Promise<ChangelogOffsets> => {
      throw new Error('broker gone')
    }
    const backend = new ChangelogBackend(raw, '0_0', topics, failing, {}, (o) => saved.push({ ...o }))
    await expect(backend.write(ops(3))).rejects.toThrow('broker gone')
    await backend.close()
    expect(saved).toEqual([])
  })
})
