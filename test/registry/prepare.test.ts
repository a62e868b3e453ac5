import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import type { Logger } from '../../pipeline/api/processor.ts'
import { prepareValues, valuesOf } from '../../pipeline/kafka/source.ts'

const quiet = { warn() {}, info() {}, error() {}, debug() {} } as unknown as Logger
const down = (): Promise<void> => Promise.reject(new HermesError('REGISTRY_UNAVAILABLE', 'no answer', { retriable: true }))

describe('values handed to the serdes before decoding', () => {
  it('leaves out transaction markers, whose value starts with the Avro magic byte, and tombstones', () => {
    const data = Buffer.from([0, 0, 0, 0, 7, 2, 97])
    const marker = { key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 3]), isControlRecord: true } as unknown as KafkaMessage
    const tombstone = { key: Buffer.from('k'), value: null } as unknown as KafkaMessage
    expect(valuesOf([{ key: null, value: data } as unknown as KafkaMessage, marker, tombstone])).toEqual([data])
  })
})

describe('waiting for an unreachable registry before decoding a batch', () => {
  it('gives way to a rebalance the heartbeat reports, instead of holding up the whole group', async () => {
    const rebalancing = Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' })
    const started = Date.now()
    const err = await prepareValues(down, quiet, 't', [Buffer.alloc(5)], () => true, () => Promise.reject(rebalancing)).catch((e: unknown) => e)
    expect(err).toBe(rebalancing)
    expect(Date.now() - started).toBeLessThan(3000)
  }, 10_000)

  it('stops waiting soon after the consumer stops, even in a long backoff', async () => {
    let running = true
    const stopped = new Promise<number>((resolve) =>
      setTimeout(() => {
        running = false
        resolve(Date.now())
      }, 700),
    )
    const ours = await prepareValues(down, quiet, 't', [Buffer.alloc(5)], () => running, () => Promise.resolve())
    expect(ours).toBe(false)
    expect(Date.now() - (await stopped)).toBeLessThan(500)
  }, 10_000)
})
