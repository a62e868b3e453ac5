import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { valuesOf } from '../../pipeline/kafka/source.ts'

describe('values handed to the serdes before decoding', () => {
  it('leaves out transaction markers, whose value starts with the Avro magic byte, and tombstones', () => {
    const data = Buffer.from([0, 0, 0, 0, 7, 2, 97])
    const marker = { key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 3]), isControlRecord: true } as unknown as KafkaMessage
    const tombstone = { key: Buffer.from('k'), value: null } as unknown as KafkaMessage
    expect(valuesOf([{ key: null, value: data } as unknown as KafkaMessage, marker, tombstone])).toEqual([data])
  })
})
