/** Who holds what in a consumer group, read with the admin API. */
import type { Kafka } from 'kafkajs'
import { AssignerProtocol } from 'kafkajs'

/**
 * The partitions of `topic` each member of a stable group holds (sorted), or null while the
 * group is rebalancing or unknown.
 */
export async function groupMembers(kafka: Kafka, groupId: string, topic: string): Promise<number[][] | null> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([groupId])
    const g = groups[0]
    if (!g || g.state !== 'Stable') return null
    return g.members.map((m) => [...(AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])].sort((a, b) => a - b))
  } finally {
    await admin.disconnect()
  }
}

/**
 * Polls `fn` every 300 ms until `ok` accepts its value; its errors count as "not yet".
 * @throws Error naming `what` and the last value after `timeoutMs`.
 */
export async function waitFor<T>(what: string, fn: () => Promise<T | null>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => null)
    if (v !== null && ok(v)) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`)
    await new Promise((r) => setTimeout(r, 300))
  }
}
