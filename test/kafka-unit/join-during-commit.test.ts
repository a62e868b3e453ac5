/**
 * exactly_once_v2: a member's join (kafkajs' joinAndSync, run in the background at a rebalance)
 * and its commits do not overlap (pipeline/kafka/kip447.ts, duringCommit), so a commit's group
 * generation is not moved on under it (ILLEGAL_GENERATION at every rebalance, which reset every
 * task: rebalance.kafka.test.ts under v2).
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { duringCommit, duringJoin } from '../../pipeline/kafka/kip447.ts'

const require = createRequire(import.meta.url)
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: { joinAndSync(this: unknown): Promise<unknown> } }

/** A promise and its resolve. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** Lets every settled promise's continuations run. */
const settle = () => new Promise((r) => setImmediate(r))

describe('joins and exactly_once_v2 commits of a group', () => {
  it("kafkajs' joinAndSync of a group waits for that group's commit in flight", async () => {
    const events: string[] = []
    const commit = deferred()
    const committing = duringCommit(['g1'], async () => {
      events.push('commit start')
      await commit.promise
      events.push('commit end')
    })
    // What kafkajs' own joinAndSync calls first: its retrier, with the join and sync inside.
    const member = { groupId: 'g1', rebalanceTimeout: 60_000, retrier: async () => void events.push('join') }
    const joining = ConsumerGroup.prototype.joinAndSync.call(member)
    // Another group's join does not wait.
    await ConsumerGroup.prototype.joinAndSync.call({ ...member, groupId: 'g2', retrier: async () => void events.push('other group join') })
    await settle()
    expect(events).toEqual(['commit start', 'other group join'])
    commit.resolve()
    await Promise.all([committing, joining])
    expect(events).toEqual(['commit start', 'other group join', 'commit end', 'join'])
  })

  it('a commit waits for a join in progress, so that it sees the new assignment and generation', async () => {
    const events: string[] = []
    const join = deferred()
    const joining = duringJoin('g3', 60_000, async () => {
      events.push('join start')
      await join.promise
      events.push('join end')
    })
    const committing = duringCommit(['g0', 'g3'], async () => void events.push('commit'))
    await settle()
    expect(events).toEqual(['join start'])
    join.resolve()
    await Promise.all([joining, committing])
    expect(events).toEqual(['join start', 'join end', 'commit'])
  })

  it('a join waits for a commit that never ends no longer than it was told (the group would drop the member)', async () => {
    const events: string[] = []
    void duringCommit(['g4'], () => new Promise<void>(() => events.push('commit hangs')))
    await duringJoin('g4', 10, async () => void events.push('join'))
    expect(events).toEqual(['commit hangs', 'join'])
  })

  it('a failed commit or join releases the other', async () => {
    await expect(duringCommit(['g5'], async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused')
    const joined = duringJoin('g5', 60_000, async () => Promise.reject(new Error('coordinator gone')))
    await expect(duringCommit(['g5'], async () => 'committed')).resolves.toBe('committed')
    await expect(joined).rejects.toThrow('coordinator gone')
  })
})
