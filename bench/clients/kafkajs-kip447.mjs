/**
 * A proof that kafkajs 2.2.4 can be patched to send KIP-447 consumer-group metadata with its
 * transactional offset commits (TxnOffsetCommit v3), so that a zombie is fenced. kafkajs only
 * implements TxnOffsetCommit v0 and v1, which carry the group id alone. This patch reaches into
 * kafkajs' private modules (`kafkajs/src/...`), as Hermes already does elsewhere; it is measured by
 * fencing.mjs, not used by the bench.
 *
 * Three changes, all from outside the library:
 * 1. `TxnOffsetCommit` gains version 3 (flexible: compact strings and arrays, tagged fields), with
 *    generation_id, member_id and group_instance_id; kafkajs negotiates it with brokers >= 2.5.
 * 2. `ConsumerGroup.prototype.joinAndSync` records each member's generation, since kafkajs' consumer
 *    exposes neither (its GROUP_JOIN event has the member id, not the generation).
 * 3. The caller says which generation its offsets were read under, by transactional id and group
 *    (`setOffsetsGeneration`), before `sendOffsets`: kafkajs' `sendOffsets({ consumerGroupId, topics })`
 *    drops any other field on the way to the request.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const Encoder = require('kafkajs/src/protocol/encoder')
const Decoder = require('kafkajs/src/protocol/decoder')
const { TxnOffsetCommit: apiKey } = require('kafkajs/src/protocol/requests/apiKeys')
const definition = require('kafkajs/src/protocol/requests').requests.TxnOffsetCommit
const { parse } = require('kafkajs/src/protocol/requests/txnOffsetCommit/v0/response')
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup')

/** memberId → the generation it last joined (filled by the patched joinAndSync). */
const generations = new Map()
/** `${transactionalId}\0${groupId}` → the group metadata of the offsets the next sendOffsets commits. */
const pending = new Map()

/** The generation `memberId` joined last, or undefined. Read it when a batch is fetched, not at commit. */
export const generationOf = (memberId) => generations.get(memberId)

/** Says under which group generation and member the offsets of the next `sendOffsets` of `transactionalId` for `groupId` were read. */
export function setOffsetsGeneration({ transactionalId, groupId, generationId, memberId }) {
  pending.set(`${transactionalId}\0${groupId}`, { generationId, memberId })
}

/**
 * TxnOffsetCommit Request (Version: 3) => transactional_id group_id producer_id producer_epoch
 *   generation_id member_id group_instance_id [topics] TAG_BUFFER
 *   topics => name [partitions] TAG_BUFFER
 *     partitions => partition_index committed_offset committed_leader_epoch committed_metadata TAG_BUFFER
 * Without metadata (generation -1, member ''), the broker skips the generation check, as for v0-v2.
 */
const requestV3 = ({ transactionalId, groupId, producerId, producerEpoch, topics }) => {
  const meta = pending.get(`${transactionalId}\0${groupId}`) ?? { generationId: -1, memberId: '' }
  return {
    apiKey,
    apiVersion: 3,
    apiName: 'TxnOffsetCommit',
    encode: async () =>
      new Encoder()
        .writeUVarIntBytes() // request header v2's tagged fields: kafkajs writes header v1
        .writeUVarIntString(transactionalId)
        .writeUVarIntString(groupId)
        .writeInt64(producerId)
        .writeInt16(producerEpoch)
        .writeInt32(meta.generationId)
        .writeUVarIntString(meta.memberId)
        .writeUVarIntString(null)
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

/** TxnOffsetCommit Response (Version: 3) => throttle_time_ms [topics] TAG_BUFFER, after response header v1's tagged fields. */
const responseV3 = {
  parse,
  decode: async (rawData) => {
    const decoder = new Decoder(rawData)
    decoder.readTaggedFields()
    const throttleTime = decoder.readInt32()
    const topics = decoder.readUVarIntArray((d) => {
      const topic = d.readUVarIntString()
      const partitions = d.readUVarIntArray((p) => {
        const partition = { partition: p.readInt32(), errorCode: p.readInt16() }
        p.readTaggedFields()
        return partition
      })
      d.readTaggedFields()
      return { topic, partitions }
    })
    decoder.readTaggedFields()
    return { throttleTime: 0, clientSideThrottleTime: throttleTime, topics }
  },
}

let applied = false
/** Applies the patch to this process' kafkajs (idempotent). */
export function applyKip447Patch() {
  if (applied) return
  applied = true
  const older = definition.protocol
  definition.versions = [...definition.versions, '3']
  definition.protocol = ({ version }) => (version === 3 ? (args) => ({ request: requestV3(args), response: responseV3 }) : older({ version }))
  // joinAndSync is the one public method around kafkajs' (symbol-private) join and sync.
  const joinAndSync = ConsumerGroup.prototype.joinAndSync
  ConsumerGroup.prototype.joinAndSync = async function (...args) {
    const result = await joinAndSync.apply(this, args)
    generations.set(this.memberId, this.generationId)
    return result
  }
}
