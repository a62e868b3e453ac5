import type { Assigner, GroupMemberAssignment, PartitionAssigner } from 'kafkajs'
import { AssignerProtocol } from 'kafkajs'

/** Topic partitions by topic name. */
export type TopicPartitions = { [topic: string]: number[] }

/** Options of {@link coPartitionAssigner}. */
export interface CoPartitionOptions {
  /**
   * Where this member answers interactive queries (`http://host:port` of its observability
   * server), advertised in its group metadata, as Kafka Streams advertises `application.server`:
   * whoever can describe the group finds the owner of a key's partition ({@link queryOwner}).
   */
  queryAddress?: string
}

/**
 * The query address of an instance: its observability server (`observability.http`), when on
 * and on a fixed port (with port 0 the address is known only once listening: none advertised).
 */
export function advertisedQueryAddress(http: { enabled: boolean; host: string; port: number }): string | undefined {
  if (!http.enabled || http.port === 0) return undefined
  return `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`
}

/** The userData a member advertises: `{"query": "<address>"}` as JSON, or nothing. */
export function memberUserData(options: CoPartitionOptions): Buffer {
  return options.queryAddress ? Buffer.from(JSON.stringify({ query: options.queryAddress })) : Buffer.alloc(0)
}

/** A member of a group as `admin.describeGroups` lists it. */
export interface DescribedMember {
  memberId: string
  memberMetadata: Buffer
  memberAssignment: Buffer
}

/**
 * The query address of the member that holds `partition` of `topic` (Kafka Streams'
 * `queryMetadataForKey`), from a described group: each member's metadata carries its address,
 * its assignment the partitions it holds. Null when no member holds it or the holder advertises
 * no address.
 */
export function queryOwner(members: readonly DescribedMember[], topic: string, partition: number): string | null {
  for (const m of members) {
    if (!m.memberAssignment?.length) continue
    const assignment = (AssignerProtocol.MemberAssignment.decode(m.memberAssignment) as { assignment: TopicPartitions } | null)?.assignment
    if (!assignment?.[topic]?.includes(partition)) continue
    const userData = m.memberMetadata?.length ? (AssignerProtocol.MemberMetadata.decode(m.memberMetadata) as { userData?: Buffer } | null)?.userData : undefined
    if (!userData?.length) return null
    try {
      const info = JSON.parse(userData.toString('utf8')) as { query?: unknown }
      return typeof info.query === 'string' ? info.query : null
    } catch {
      return null // another client's userData
    }
  }
  return null
}

/**
 * A partition assigner for co-partitioned topics (Kafka Streams' task assignment): `groups` are
 * the keyed input topics of each sub-topology, and partition p of every topic in a group goes to
 * the same member, so one member holds the whole task (sub-topology, p). Tasks are sorted by
 * (group, partition) and dealt round-robin over the members sorted by id, so the result is the
 * same on every member and balanced within each sub-topology.
 *
 * Groups that share a topic are merged (one consumer reads a partition once, so both
 * sub-topologies' tasks of that partition must live together).
 */
export function coPartitionAssigner(groups: readonly (readonly string[])[], options: CoPartitionOptions = {}): PartitionAssigner {
  const merged = mergeGroups(groups)
  const userData = memberUserData(options)
  return ({ cluster }) => ({
    name: 'HermesCoPartitionAssigner',
    version: 0,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort()
      const subscribed = new Set(topics)
      const out = new Map<string, TopicPartitions>(ids.map((id) => [id, {}]))
      let i = 0
      const all = [...merged, ...topics.filter((t) => !merged.some((g) => g.includes(t))).map((t) => [t])]
      for (const group of all) {
        const live = group.filter((t) => subscribed.has(t))
        if (live.length === 0) continue
        const counts = live.map((t) => cluster.findTopicPartitionMetadata(t).length)
        const partitions = Math.max(...counts)
        for (let p = 0; p < partitions; p++) {
          const member = out.get(ids[i++ % ids.length] as string) as TopicPartitions
          live.forEach((t, k) => {
            if (p < (counts[k] as number)) (member[t] ??= []).push(p)
          })
        }
      }
      return encode(out)
    },
    protocol({ topics }) {
      return { name: this.name, metadata: AssignerProtocol.MemberMetadata.encode({ version: this.version, topics, userData }) }
    },
  })
}

/**
 * An assigner that gives exactly `partitions` to the (single) member of a throwaway group: used
 * to read chosen partitions (changelog restore) with kafkajs, which has no manual `assign()`.
 */
export function fixedAssigner(partitions: TopicPartitions): PartitionAssigner {
  return () =>
    ({
      name: 'HermesFixedAssigner',
      version: 0,
      async assign({ members }) {
        const ids = members.map((m) => m.memberId).sort()
        const out = new Map<string, TopicPartitions>(ids.map((id, i) => [id, i === 0 ? partitions : {}]))
        return encode(out)
      },
      protocol({ topics }) {
        return { name: this.name, metadata: AssignerProtocol.MemberMetadata.encode({ version: this.version, topics, userData: Buffer.alloc(0) }) }
      },
    }) satisfies Assigner
}

function encode(out: Map<string, TopicPartitions>): GroupMemberAssignment[] {
  return [...out].map(([memberId, assignment]) => ({
    memberId,
    memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment, userData: Buffer.alloc(0) }),
  }))
}

/** Unions groups that share a topic; topics keep their first-seen order. */
export function mergeGroups(groups: readonly (readonly string[])[]): string[][] {
  const result: string[][] = []
  for (const g of groups) {
    const touching = result.filter((r) => r.some((t) => g.includes(t)))
    const merged = [...new Set([...touching.flat(), ...g])]
    for (const r of touching) result.splice(result.indexOf(r), 1)
    result.push(merged)
  }
  return result
}
