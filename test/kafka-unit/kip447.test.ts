/** TxnOffsetCommit v3 (KIP-447) as pipeline/kafka/kip447.ts patches it into kafkajs 2.2.4. */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type { FlexEncoder as E, TxnOffsetCommitArgs } from '../../pipeline/kafka/kip447.ts'
import { decodeTxnOffsetCommitV3, encodeTxnOffsetCommitV3, setOffsetsGroupMetadata } from '../../pipeline/kafka/kip447.ts'

const require = createRequire(import.meta.url)
interface D {
  readTaggedFields(): void
  readInt16(): number
  readInt32(): number
  readInt64(): { toString(): string }
  readUVarIntString(): string | null
  readUVarIntArray<T>(f: (d: D) => T): T[]
}
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => D
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => E
const definition = (require('kafkajs/src/protocol/requests/index.js') as { requests: { TxnOffsetCommit: { versions: string[]; protocol: (v: { version: number }) => (a: TxnOffsetCommitArgs) => { request: { apiVersion: number } } } } }).requests.TxnOffsetCommit

const args: TxnOffsetCommitArgs = { transactionalId: 'app-p1', groupId: 'app', producerId: 4001, producerEpoch: 7, topics: [{ topic: 'events', partitions: [{ partition: 2, offset: '1234' }, { partition: 5, offset: '99' }] }] }

describe('TxnOffsetCommit v3', () => {
  it('carries the generation and member id, field by field as the protocol orders them', async () => {
    const d = new Decoder(await encodeTxnOffsetCommitV3(args, { generationId: 12, memberId: 'm-1' }))
    d.readTaggedFields() // request header v2
    expect(d.readUVarIntString()).toBe('app-p1')
    expect(d.readUVarIntString()).toBe('app')
    expect(d.readInt64().toString()).toBe('4001')
    expect(d.readInt16()).toBe(7)
    expect(d.readInt32()).toBe(12)
    expect(d.readUVarIntString()).toBe('m-1')
    expect(d.readUVarIntString()).toBeNull() // no static membership
    const topics = d.readUVarIntArray((t) => {
      const topic = t.readUVarIntString()
      const partitions = t.readUVarIntArray((p) => {
        const out = { partition: p.readInt32(), offset: p.readInt64().toString(), leaderEpoch: p.readInt32(), metadata: p.readUVarIntString() }
        p.readTaggedFields()
        return out
      })
      t.readTaggedFields()
      return { topic, partitions }
    })
    expect(topics).toEqual([{ topic: 'events', partitions: [{ partition: 2, offset: '1234', leaderEpoch: -1, metadata: null }, { partition: 5, offset: '99', leaderEpoch: -1, metadata: null }] }])
    d.readTaggedFields()
  })

  it("decodes the response so that kafkajs' parse throws the group coordinator's refusal", async () => {
    const partition = (p: number, code: number): E => new Encoder().writeInt32(p).writeInt16(code).writeUVarIntBytes()
    const raw = new Encoder()
      .writeUVarIntBytes()
      .writeInt32(0)
      .writeUVarIntArray([new Encoder().writeUVarIntString('events').writeUVarIntArray([partition(2, 0), partition(5, 22)]).writeUVarIntBytes()])
      .writeUVarIntBytes().buffer
    const decoded = await decodeTxnOffsetCommitV3(raw)
    expect(decoded.topics).toEqual([{ topic: 'events', partitions: [{ partition: 2, errorCode: 0 }, { partition: 5, errorCode: 22 }] }])
    const { parse } = require('kafkajs/src/protocol/requests/txnOffsetCommit/v0/response.js') as { parse: (d: unknown) => Promise<unknown> }
    await expect(parse(decoded)).rejects.toMatchObject({ type: 'ILLEGAL_GENERATION' })
  })

  it('is what kafkajs negotiates for a producer given group metadata; any other keeps kafkajs’ v1 (EOS v1 unchanged)', () => {
    expect(definition.versions).toContain('3')
    const v3 = definition.protocol({ version: 3 })
    expect(v3({ ...args, transactionalId: 'no-metadata' }).request.apiVersion).toBe(1)
    setOffsetsGroupMetadata('app-p1', 'app', { generationId: 3, memberId: 'm' })
    expect(v3(args).request.apiVersion).toBe(3)
    expect(v3({ ...args, groupId: 'other' }).request.apiVersion).toBe(1)
    expect(definition.protocol({ version: 1 })(args).request.apiVersion).toBe(1)
  })
})
