import { AsyncLocalStorage } from 'node:async_hooks'
import { createRequire } from 'node:module'

/**
 * Committed group offsets read with KIP-447's `require_stable` (OffsetFetch v7), which kafkajs
 * 2.2.4 does not implement (it sends OffsetFetch v1-v4).
 *
 * Why: a transaction's offset commit reaches the group coordinator as pending offsets; the
 * coordinator makes them the group's committed offsets only after the transaction's marker is
 * written, and then asynchronously (Kafka 3.x `GroupMetadataManager.scheduleHandleTxnCompletion`).
 * So right after a task is fenced (its previous owner's last transaction complete, its changelogs
 * readable up to that transaction), a plain OffsetFetch can still answer the offsets from before
 * that transaction: the task then processes again records its restored state already holds
 * (seed 42's chaos run: events counted twice in window state). With `require_stable`, the broker
 * answers UNSTABLE_OFFSET_COMMIT (88, retriable) instead while a transactional commit for the
 * partition is pending, as the Java consumer asks for when it reads read_committed
 * (`ConsumerCoordinator.fetchCommittedOffsets`).
 *
 * How: kafkajs' `Broker.prototype.offsetFetch` is wrapped once per process; inside
 * {@link requiringStableOffsets} (an async-local scope, so kafkajs' own consumers keep their
 * requests as they were) it negotiates a definition with version 7 added, falling back to
 * kafkajs' versions for a broker without it. The v7 request and response are flexible (compact
 * strings and arrays, tagged fields); kafkajs writes request header v1, so the request body starts
 * with the empty tagged fields of header v2, and the response starts with those of header v1, as
 * bench/clients/kafkajs-kip447.mjs does for TxnOffsetCommit v3.
 */

interface FlexEncoder {
  writeUVarIntBytes(v?: Buffer): FlexEncoder
  writeUVarIntString(v: string | null): FlexEncoder
  writeUVarIntArray(v: FlexEncoder[] | null): FlexEncoder
  writeInt32(v: number): FlexEncoder
  writeBoolean(v: boolean): FlexEncoder
  writeUVarInt(v: number): FlexEncoder
}

interface FlexDecoder {
  readTaggedFields(): void
  readInt32(): number
  readInt16(): number
  readInt64(): { toString(): string }
  readUVarIntString(): string | null
  readUVarIntArray<T>(reader: (d: FlexDecoder) => T): T[] | null
}

interface OffsetFetchArgs {
  groupId: string
  topics: Array<{ topic: string; partitions: Array<{ partition: number }> }>
}

interface Definition {
  versions: string[]
  protocol: (v: { version: number }) => (args: OffsetFetchArgs) => unknown
}

interface BrokerPrototype {
  offsetFetch(this: BrokerInternals, args: OffsetFetchArgs): Promise<unknown>
  __hermesStableOffsets?: boolean
}

interface BrokerInternals {
  lookupRequest(apiKey: number, definition: Definition): (args: OffsetFetchArgs) => unknown
}

const require = createRequire(import.meta.url)
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => FlexEncoder
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => FlexDecoder
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as { OffsetFetch: number }
const requests = require('kafkajs/src/protocol/requests/index.js') as { requests: { OffsetFetch: Definition } }
const { parse: parseV2 } = require('kafkajs/src/protocol/requests/offsetFetch/v2/response.js') as { parse: (data: unknown) => Promise<unknown> }
const Broker = require('kafkajs/src/broker/index.js') as { prototype: BrokerPrototype }

/** The version that has `require_stable`. */
const STABLE_VERSION = 7

/**
 * OffsetFetch Request (Version: 7) => group_id [topics] require_stable TAG_BUFFER
 *   topics => name [partition_indexes] TAG_BUFFER
 */
function requestV7({ groupId, topics }: OffsetFetchArgs): unknown {
  return {
    apiKey: apiKeys.OffsetFetch,
    apiVersion: STABLE_VERSION,
    apiName: 'OffsetFetch',
    encode: async () =>
      new Encoder()
        .writeUVarIntBytes() // request header v2's tagged fields: kafkajs writes header v1
        .writeUVarIntString(groupId)
        .writeUVarIntArray(
          topics.map(({ topic, partitions }) => {
            const e = new Encoder().writeUVarIntString(topic).writeUVarInt(partitions.length + 1)
            for (const { partition } of partitions) e.writeInt32(partition)
            return e.writeUVarIntBytes()
          }),
        )
        .writeBoolean(true)
        .writeUVarIntBytes(),
  }
}

/**
 * OffsetFetch Response (Version: 7) => throttle_time_ms [topics] error_code TAG_BUFFER
 *   topics => name [partitions] TAG_BUFFER
 *     partitions => partition_index committed_offset committed_leader_epoch metadata error_code TAG_BUFFER
 * Decoded into kafkajs' v2-v4 shape, so its parse (which throws on a partition's error) applies.
 */
const responseV7 = {
  parse: parseV2,
  decode: async (raw: Buffer) => {
    const d = new Decoder(raw)
    d.readTaggedFields() // response header v1
    const throttleTime = d.readInt32()
    const responses = d.readUVarIntArray((t) => {
      const topic = t.readUVarIntString()
      const partitions = t.readUVarIntArray((p) => {
        const partition = p.readInt32()
        const offset = p.readInt64().toString()
        p.readInt32() // committed_leader_epoch
        const metadata = p.readUVarIntString()
        const errorCode = p.readInt16()
        p.readTaggedFields()
        return { partition, offset, metadata, errorCode }
      })
      t.readTaggedFields()
      return { topic, partitions: partitions ?? [] }
    })
    const errorCode = d.readInt16()
    d.readTaggedFields()
    return { throttleTime: 0, clientSideThrottleTime: throttleTime, responses: responses ?? [], errorCode }
  },
}

const kafkajsOffsetFetch = requests.requests.OffsetFetch
const kafkajsMax = Math.max(...kafkajsOffsetFetch.versions.map(Number))

/** kafkajs' OffsetFetch versions plus 7 (require_stable); 5 and 6 fall back to kafkajs' best. */
const stableDefinition: Definition = {
  versions: [...kafkajsOffsetFetch.versions, String(STABLE_VERSION)],
  protocol: ({ version }) => (version >= STABLE_VERSION ? (args) => ({ request: requestV7(args), response: responseV7 }) : kafkajsOffsetFetch.protocol({ version: Math.min(version, kafkajsMax) })),
}

const stableScope = new AsyncLocalStorage<boolean>()

/** kafkajs' private `Broker[PRIVATE.SEND_REQUEST]` method, found by its symbol's description. */
const sendRequest = Object.getOwnPropertySymbols(Broker.prototype).find((s) => s.description === 'private:Broker:sendRequest')

if (!Broker.prototype.__hermesStableOffsets) {
  if (!sendRequest) throw new Error('kafkajs internals changed: Broker has no private:Broker:sendRequest method (pipeline/kafka/stable-offsets.ts)')
  Broker.prototype.__hermesStableOffsets = true
  const offsetFetch = Broker.prototype.offsetFetch
  Broker.prototype.offsetFetch = function (this: BrokerInternals, args: OffsetFetchArgs): Promise<unknown> {
    if (!stableScope.getStore()) return offsetFetch.call(this, args)
    // What kafkajs' own offsetFetch does, with the definition that knows version 7.
    const send = (this as unknown as Record<symbol, (r: unknown) => Promise<unknown>>)[sendRequest as symbol] as (r: unknown) => Promise<unknown>
    return send.call(this, this.lookupRequest(apiKeys.OffsetFetch, stableDefinition)(args))
  }
}

/**
 * Runs `fn` (an admin `fetchOffsets`) with OffsetFetch requests that set `require_stable`: while
 * a transaction's offset commit is pending for a partition, the call fails with kafkajs'
 * retriable UNSTABLE_OFFSET_COMMIT error instead of answering the offset from before it; the
 * caller retries.
 */
export async function requiringStableOffsets<T>(fn: () => Promise<T>): Promise<T> {
  stableCalls++
  try {
    return await stableScope.run(true, fn)
  } finally {
    // An enabled AsyncLocalStorage keeps Node's promise hooks on for the whole process, and every
    // promise then costs several times as much: kafkajs makes a few per request, so the decision
    // flow on Kafka, whose first task assignment reads committed offsets here, ran all of its
    // fetches with them (promiseInitHook and the other hooks in every profile: issue 9, fifth
    // round). Disabled when the last scope ends; the next run() enables it again.
    if (--stableCalls === 0) stableScope.disable()
  }
}

/** Calls of {@link requiringStableOffsets} under way. */
let stableCalls = 0

/** Whether an error is the broker's UNSTABLE_OFFSET_COMMIT (a transactional offset commit is pending). */
export function isUnstableOffsetCommit(err: unknown): boolean {
  return (err as { type?: string } | null)?.type === 'UNSTABLE_OFFSET_COMMIT'
}
