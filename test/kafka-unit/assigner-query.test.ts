import { AssignerProtocol } from 'kafkajs'
import type { Cluster } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { advertisedQueryAddress, coPartitionAssigner, queryOwner } from '../../pipeline/kafka/assigner.ts'

const cluster = { findTopicPartitionMetadata: () => [0, 1, 2, 3].map((p) => ({ partitionId: p, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 })) } as unknown as Cluster

describe('query addresses in the consumer group (interactive-query routing)', () => {
  it('advertises the observability address in the member metadata, and finds the owner of a partition from a described group', async () => {
    const a = coPartitionAssigner([['events']], { queryAddress: 'http://10.0.0.1:9464' })({ cluster, groupId: 'g', logger: console as never })
    const b = coPartitionAssigner([['events']], { queryAddress: 'http://10.0.0.2:9464' })({ cluster, groupId: 'g', logger: console as never })
    const metaA = a.protocol({ topics: ['events'] }).metadata
    const metaB = b.protocol({ topics: ['events'] }).metadata
    const assignments = await a.assign({ members: [{ memberId: 'a', memberMetadata: metaA }, { memberId: 'b', memberMetadata: metaB }], topics: ['events'] })
    const described = assignments.map((x) => ({ memberId: x.memberId, memberMetadata: x.memberId === 'a' ? metaA : metaB, memberAssignment: x.memberAssignment }))
    const held = (id: string) => (AssignerProtocol.MemberAssignment.decode(described.find((m) => m.memberId === id)?.memberAssignment as Buffer) as unknown as { assignment: { events: number[] } }).assignment.events
    for (const p of held('a')) expect(queryOwner(described, 'events', p)).toBe('http://10.0.0.1:9464')
    for (const p of held('b')) expect(queryOwner(described, 'events', p)).toBe('http://10.0.0.2:9464')
    expect(held('a').length + held('b').length).toBe(4)
    expect(queryOwner(described, 'other', 0)).toBeNull()
  })

  it('advertises nothing without an address, and only a fixed port', () => {
    const plain = coPartitionAssigner([['events']])({ cluster, groupId: 'g', logger: console as never })
    const meta = AssignerProtocol.MemberMetadata.decode(plain.protocol({ topics: ['events'] }).metadata) as { userData: Buffer }
    expect(meta.userData.length).toBe(0)
    expect(advertisedQueryAddress({ enabled: true, host: '127.0.0.1', port: 9464 })).toBe('http://127.0.0.1:9464')
    expect(advertisedQueryAddress({ enabled: true, host: '127.0.0.1', port: 0 })).toBeUndefined()
    expect(advertisedQueryAddress({ enabled: false, host: '127.0.0.1', port: 9464 })).toBeUndefined()
  })
})
