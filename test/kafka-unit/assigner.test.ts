import { AssignerProtocol } from 'kafkajs'
import type { Assigner, Cluster, GroupMember } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { TopicPartitions } from '../../pipeline/kafka/assigner.ts'
import { coPartitionAssigner, fixedAssigner, mergeGroups } from '../../pipeline/kafka/assigner.ts'

// The co-partitioning assigner with a fake cluster (partition counts per topic): no broker.

/** A cluster that only knows how many partitions each topic has. */
function fakeCluster(partitions: { [topic: string]: number }): Cluster {
  return {
    findTopicPartitionMetadata: (topic: string) => {
      const n = partitions[topic]
      if (n === undefined) throw new Error(`unknown topic ${topic}`)
      return Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }))
    },
  } as unknown as Cluster
}

function members(...ids: string[]): GroupMember[] {
  return ids.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) }))
}

/** Runs an assignment and decodes it: member id → topic → partitions. */
async function assign(assigner: Assigner, ids: string[], topics: string[]): Promise<Map<string, TopicPartitions>> {
  const out = await assigner.assign({ members: members(...ids), topics })
  return new Map(out.map((a) => [a.memberId, (AssignerProtocol.MemberAssignment.decode(a.memberAssignment) as { assignment: TopicPartitions }).assignment]))
}

/** Who holds each (topic, partition); fails the test if one is held twice. */
function owners(result: Map<string, TopicPartitions>): Map<string, string> {
  const by = new Map<string, string>()
  for (const [member, topics] of result) {
    for (const [topic, parts] of Object.entries(topics)) {
      for (const p of parts) {
        const tp = `${topic}:${p}`
        expect(by.has(tp), `${tp} assigned twice`).toBe(false)
        by.set(tp, member)
      }
    }
  }
  return by
}

function co(groups: string[][], partitions: { [topic: string]: number }): Assigner {
  return coPartitionAssigner(groups)({ cluster: fakeCluster(partitions), groupId: 'g', logger: undefined as never })
}

describe('coPartitionAssigner', () => {
  it('gives partition p of every input topic of a sub-topology to one member', async () => {
    const a = co([['events', 'audiences']], { events: 6, audiences: 6 })
    const result = await assign(a, ['m-b', 'm-a', 'm-c'], ['events', 'audiences'])
    const who = owners(result)
    expect(who.size).toBe(12)
    for (let p = 0; p < 6; p++) expect(who.get(`audiences:${p}`)).toBe(who.get(`events:${p}`))
  })

  it('balances tasks over the members, and every member computes the same result whatever the order of ids', async () => {
    const a = co([['events', 'audiences']], { events: 8, audiences: 8 })
    const one = await assign(a, ['m3', 'm1', 'm2', 'm4'], ['events', 'audiences'])
    const two = await assign(a, ['m2', 'm4', 'm1', 'm3'], ['audiences', 'events'])
    for (const topics of one.values()) expect(topics.events?.length).toBe(2)
    expect([...owners(one)].sort()).toEqual([...owners(two)].sort())
  })

  it('with more members than tasks, some members get nothing and no task is split', async () => {
    const a = co([['events']], { events: 2 })
    const result = await assign(a, ['m1', 'm2', 'm3'], ['events'])
    const who = owners(result)
    expect(who.size).toBe(2)
    expect([...result.values()].filter((t) => Object.keys(t).length === 0)).toHaveLength(1)
  })

  it('handles topics with different partition counts: the extra partitions of the larger one still go out once', async () => {
    const a = co([['events', 'profiles']], { events: 4, profiles: 2 })
    const result = await assign(a, ['m1', 'm2'], ['events', 'profiles'])
    const who = owners(result)
    expect([...who.keys()].sort()).toEqual(['events:0', 'events:1', 'events:2', 'events:3', 'profiles:0', 'profiles:1'])
    expect(who.get('profiles:0')).toBe(who.get('events:0'))
    expect(who.get('profiles:1')).toBe(who.get('events:1'))
  })

  it('keeps tasks of sub-topologies that share a topic on one member (groups are merged)', async () => {
    const a = co(
      [
        ['events', 'audiences'],
        ['events', 'items'],
      ],
      { events: 3, audiences: 3, items: 3 },
    )
    const who = owners(await assign(a, ['m1', 'm2'], ['events', 'audiences', 'items']))
    for (let p = 0; p < 3; p++) {
      expect(who.get(`audiences:${p}`)).toBe(who.get(`events:${p}`))
      expect(who.get(`items:${p}`)).toBe(who.get(`events:${p}`))
    }
  })

  it('assigns subscribed topics that are in no group, and skips groups nobody subscribed to', async () => {
    const a = co([['events'], ['not-subscribed']], { events: 2, extra: 3 })
    const who = owners(await assign(a, ['m1', 'm2'], ['events', 'extra']))
    expect([...who.keys()].sort()).toEqual(['events:0', 'events:1', 'extra:0', 'extra:1', 'extra:2'])
  })

  it('as members join and leave, every task stays assigned exactly once and stays balanced', async () => {
    const a = co([['events', 'audiences']], { events: 6, audiences: 6 })
    const topics = ['events', 'audiences']
    for (const ids of [['m1'], ['m1', 'm2'], ['m1', 'm2', 'm3'], ['m2', 'm3'], ['m3']]) {
      const result = await assign(a, ids, topics)
      const who = owners(result)
      expect(who.size).toBe(12)
      expect(new Set(who.values())).toEqual(new Set(ids))
      const counts = [...result.values()].map((t) => t.events?.length ?? 0)
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
    }
  })

  it('announces its protocol with the subscribed topics', () => {
    const a = co([['events']], { events: 1 })
    const { name, metadata } = a.protocol({ topics: ['events'] })
    expect(name).toBe('HermesCoPartitionAssigner')
    expect(AssignerProtocol.MemberMetadata.decode(metadata)?.topics).toEqual(['events'])
  })
})

describe('fixedAssigner', () => {
  it('gives exactly the chosen partitions to the first member (by id) and nothing to others', async () => {
    const chosen = { 'app.store.changelog': [2, 5], 'app.timers.changelog': [2] }
    const a = fixedAssigner(chosen)({ cluster: fakeCluster({}), groupId: 'g', logger: undefined as never })
    const result = await assign(a, ['z', 'a'], Object.keys(chosen))
    expect(result.get('a')).toEqual(chosen)
    expect(result.get('z')).toEqual({})
  })
})

describe('mergeGroups', () => {
  it('unions groups that share a topic, also through a later group that bridges two', () => {
    const merged = mergeGroups([['a', 'b'], ['c'], ['b', 'd'], ['d', 'c'], ['e']])
    expect(merged.map((g) => [...g].sort())).toEqual([
      ['a', 'b', 'c', 'd'],
      ['e'],
    ])
    for (const g of merged) expect(new Set(g).size).toBe(g.length)
    expect(mergeGroups([['a'], ['b']])).toEqual([['a'], ['b']])
    expect(mergeGroups([])).toEqual([])
  })
})
