import { createRequire } from 'node:module'

/**
 * KIP-447 consumer-group metadata in transactional offset commits (TxnOffsetCommit v3), which
 * kafkajs 2.2.4 does not implement (it sends v0 and v1: the group id alone). With it, one
 * transactional producer per process can commit the offsets of every task it runs
 * (`runtime.guarantee: exactly_once_v2`): a zombie (a member the group has moved on from) is
 * refused by the group coordinator with ILLEGAL_GENERATION, instead of by a per-task
 * transactional id (EOS v1). Ported from bench/clients/kafkajs-kip447.mjs, which
 * bench/clients/fencing.mjs showed to be fenced so.
 *
 * Two changes to kafkajs, from outside, once per process (as stable-offsets.ts does):
 * 1. TxnOffsetCommit gains version 3 (flexible: compact strings and arrays, tagged fields) with
 *    generation_id, member_id and group_instance_id. It is sent only for a transactional id and
 *    group that {@link setOffsetsGroupMetadata} named; any other commit (EOS v1) keeps kafkajs'
 *    own encoding, byte for byte.
 * 2. The consumer group's private sync step records each member's generation
 *    ({@link generationOf}): kafkajs exposes neither the generation nor a hook after the join;
 *    its GROUP_JOIN event, emitted after the sync, carries the member id only.
 * 3. A consumer's join (kafkajs' `joinAndSync`, which it runs in the background when the group
 *    rebalances) waits for a commit of its group in flight ({@link duringCommit}), and a commit
 *    waits for a join in progress: see {@link duringCommit}.
 */

/** The consumer group's side of a transactional offset commit. */
export interface GroupMetadata {
  generationId: number
  memberId: string
}

/** kafkajs' protocol encoder, with the compact (flexible-version) writers it has. */
export interface FlexEncoder {
  writeUVarIntBytes(v?: Buffer): FlexEncoder
  writeUVarIntString(v: string | null): FlexEncoder
  writeUVarIntArray(v: FlexEncoder[]): FlexEncoder
  writeInt16(v: number): FlexEncoder
  writeInt32(v: number): FlexEncoder
  writeInt64(v: number | string | bigint): FlexEncoder
  buffer: Buffer
}

interface FlexDecoder {
  readTaggedFields(): void
  readInt32(): number
  readInt16(): number
  readUVarIntString(): string | null
  readUVarIntArray<T>(reader: (d: FlexDecoder) => T): T[] | null
}

/** What kafkajs' eosManager passes to the request (broker.txnOffsetCommit). */
export interface TxnOffsetCommitArgs {
  transactionalId: string
  groupId: string
  producerId: number | string
  producerEpoch: number
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata?: string | null }> }>
}

interface Request {
  apiKey: number
  apiVersion: number
  apiName: string
  encode: () => Promise<FlexEncoder>
}

interface Definition {
  versions: string[]
  protocol: (v: { version: number }) => (args: TxnOffsetCommitArgs) => { request: unknown; response: unknown }
}

const require = createRequire(import.meta.url)
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => FlexEncoder
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => FlexDecoder
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as { TxnOffsetCommit: number }
const requests = require('kafkajs/src/protocol/requests/index.js') as { requests: { TxnOffsetCommit: Definition & { __hermesKip447?: boolean } } }
const { parse } = require('kafkajs/src/protocol/requests/txnOffsetCommit/v0/response.js') as { parse: (data: unknown) => Promise<unknown> }
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: object }

/** The version with the group metadata. */
const KIP447_VERSION = 3

/** memberId → the generation it last synced (filled by the patched sync step). */
const generations = new Map<string, number>()
/** `${transactionalId}\0${groupId}` → the metadata the next commit of its offsets carries. */
const pending = new Map<string, GroupMetadata>()

/** The generation `memberId` last joined with, or undefined (not a member of this process). */
export function generationOf(memberId: string): number | undefined {
  return generations.get(memberId)
}

/**
 * Says under which group generation and member the offsets that `transactionalId` commits for
 * `groupId` were read: its next `sendOffsets` for the group carries them (TxnOffsetCommit v3),
 * and the group coordinator refuses them (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) once the group
 * moved on. Set before every `sendOffsets`: kafkajs drops any other field on its way.
 */
export function setOffsetsGroupMetadata(transactionalId: string, groupId: string, meta: GroupMetadata): void {
  pending.set(`${transactionalId}\0${groupId}`, meta)
}

/** Forgets the metadata of a transactional id (its producer closed). */
export function clearOffsetsGroupMetadata(transactionalId: string): void {
  for (const k of pending.keys()) if (k.startsWith(`${transactionalId}\0`)) pending.delete(k)
}

/**
 * TxnOffsetCommit Request (Version: 3) => transactional_id group_id producer_id producer_epoch
 *   generation_id member_id group_instance_id [topics] TAG_BUFFER
 *   topics => name [partitions] TAG_BUFFER
 *     partitions => partition_index committed_offset committed_leader_epoch committed_metadata TAG_BUFFER
 * kafkajs writes request header v1, so the body starts with header v2's (empty) tagged fields.
 */
export function encodeTxnOffsetCommitV3(args: TxnOffsetCommitArgs, meta: GroupMetadata): Promise<Buffer> {
  return txnOffsetCommitV3(args, meta)
    .encode()
    .then((e) => e.buffer)
}

function txnOffsetCommitV3({ transactionalId, groupId, producerId, producerEpoch, topics }: TxnOffsetCommitArgs, meta: GroupMetadata): Request {
  return {
    apiKey: apiKeys.TxnOffsetCommit,
    apiVersion: KIP447_VERSION,
    apiName: 'TxnOffsetCommit',
    encode: async () =>
      new Encoder()
        .writeUVarIntBytes()
        .writeUVarIntString(transactionalId)
        .writeUVarIntString(groupId)
        .writeInt64(producerId)
        .writeInt16(producerEpoch)
        .writeInt32(meta.generationId)
        .writeUVarIntString(meta.memberId)
        .writeUVarIntString(null) // group_instance_id: no static membership
        .writeUVarIntArray(
          topics.map(({ topic, partitions }) =>
            new Encoder()
              .writeUVarIntString(topic)
              .writeUVarIntArray(partitions.map(({ partition, offset, metadata }) => new Encoder().writeInt32(partition).writeInt64(offset).writeInt32(-1).writeUVarIntString(metadata ?? null).writeUVarIntBytes()))
              .writeUVarIntBytes(),
          ),
        )
        .writeUVarIntBytes(),
  }
}

/**
 * TxnOffsetCommit Response (Version: 3) => throttle_time_ms [topics] TAG_BUFFER
 *   topics => name [partitions] TAG_BUFFER
 *     partitions => partition_index error_code TAG_BUFFER
 * after response header v1's tagged fields; decoded into kafkajs' v0 shape, so that its parse
 * throws a partition's error (ILLEGAL_GENERATION, ...) as kafkajs' own error.
 */
export async function decodeTxnOffsetCommitV3(raw: Buffer): Promise<{ throttleTime: number; clientSideThrottleTime: number; topics: Array<{ topic: string | null; partitions: Array<{ partition: number; errorCode: number }> }> }> {
  const d = new Decoder(raw)
  d.readTaggedFields()
  const throttleTime = d.readInt32()
  const topics =
    d.readUVarIntArray((t) => {
      const topic = t.readUVarIntString()
      const partitions =
        t.readUVarIntArray((p) => {
          const partition = { partition: p.readInt32(), errorCode: p.readInt16() }
          p.readTaggedFields()
          return partition
        }) ?? []
      t.readTaggedFields()
      return { topic, partitions }
    }) ?? []
  d.readTaggedFields()
  return { throttleTime: 0, clientSideThrottleTime: throttleTime, topics }
}

/** Per group id: the commit in flight (exactly_once_v2) and the join in progress. */
interface Gate {
  commit: Promise<unknown> | null
  join: Promise<unknown> | null
}
const gates = new Map<string, Gate>()
const gateOf = (groupId: string): Gate => {
  let g = gates.get(groupId)
  if (!g) gates.set(groupId, (g = { commit: null, join: null }))
  return g
}

/**
 * Runs `commit` (an exactly_once_v2 commit of the groups' offsets) so that no member of this
 * process joins the groups meanwhile: it first waits for a join in progress (the commit then
 * sees its new assignment and generation), and a join that starts while it runs waits for it
 * (up to half the group's rebalance timeout). Kafka Streams gets this from its one thread (the
 * consumer rejoins only inside poll, between commits); kafkajs rejoins in the background, and a
 * commit whose generation moved on under it is refused (ILLEGAL_GENERATION) and aborted, every
 * task going back to its last commit. At every rebalance: a member that died during that
 * recovery left its partitions unprocessed while the other ran hours of event time ahead
 * (rebalance.kafka.test.ts, docs/performance.md "Exactly-once v2"). The group coordinator accepts
 * a transactional offset commit of the current generation while the group prepares a rebalance.
 */
export async function duringCommit<T>(groupIds: readonly string[], commit: () => Promise<T>): Promise<T> {
  const mine = groupIds.map(gateOf)
  for (;;) {
    const joining = mine.find((g) => g.join)
    if (!joining) break
    await (joining.join as Promise<unknown>).catch(() => {})
  }
  const p = commit()
  for (const g of mine) g.commit = p
  try {
    return await p
  } finally {
    for (const g of mine) if (g.commit === p) g.commit = null
  }
}

/** Whether a member of this process is joining `groupId` (a rebalance in progress). */
export function joining(groupId: string): boolean {
  return gates.get(groupId)?.join != null
}

/** Runs a join of `groupId` after the commit in flight, if any (waiting at most `maxWaitMs`). */
export async function duringJoin<T>(groupId: string, maxWaitMs: number, join: () => Promise<T>): Promise<T> {
  const g = gateOf(groupId)
  if (g.commit) {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([g.commit.catch(() => {}), new Promise((r) => (timer = setTimeout(r, maxWaitMs)))])
    clearTimeout(timer)
  }
  const p = join()
  g.join = p
  try {
    return await p
  } finally {
    if (g.join === p) g.join = null
  }
}

const definition = requests.requests.TxnOffsetCommit
if (!definition.__hermesKip447) {
  definition.__hermesKip447 = true
  const kafkajsProtocol = definition.protocol
  const kafkajsMax = Math.max(...definition.versions.map(Number))
  definition.versions = [...definition.versions, String(KIP447_VERSION)]
  definition.protocol = ({ version }) => {
    if (version < KIP447_VERSION) return kafkajsProtocol({ version })
    const older = kafkajsProtocol({ version: kafkajsMax })
    return (args) => {
      const meta = pending.get(`${args.transactionalId}\0${args.groupId}`)
      // No metadata named for this producer (EOS v1): kafkajs' own request, as before.
      if (!meta) return older(args)
      return { request: txnOffsetCommitV3(args, meta), response: { parse, decode: decodeTxnOffsetCommitV3 } }
    }
  }
  // The sync step ends with the member's generation set; kafkajs' GROUP_JOIN follows it.
  const sync = Object.getOwnPropertySymbols(ConsumerGroup.prototype).find((s) => s.description === 'private:ConsumerGroup:sync')
  if (!sync) throw new Error('kafkajs internals changed: ConsumerGroup has no private:ConsumerGroup:sync method (pipeline/kafka/kip447.ts)')
  const proto = ConsumerGroup.prototype as Record<symbol, (this: { memberId: string; generationId: number }, ...args: unknown[]) => Promise<unknown>>
  const original = proto[sync] as (this: { memberId: string; generationId: number }, ...args: unknown[]) => Promise<unknown>
  const groupProto = ConsumerGroup.prototype as { joinAndSync: (this: { groupId: string; rebalanceTimeout: number }) => Promise<unknown> }
  const joinAndSync = groupProto.joinAndSync
  groupProto.joinAndSync = function (this: { groupId: string; rebalanceTimeout: number }): Promise<unknown> {
    return duringJoin(this.groupId, this.rebalanceTimeout / 2, () => joinAndSync.call(this))
  }
  proto[sync] = async function (this: { memberId: string; generationId: number }, ...args: unknown[]): Promise<unknown> {
    const result = await original.apply(this, args)
    generations.set(this.memberId, this.generationId)
    return result
  }
}
