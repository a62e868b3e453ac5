import { createRequire } from 'node:module'
import { mulberry32 } from '../../operators/ids.ts'
import { describe, expect, it } from 'vitest'
import { murmur2, partitionFor } from '../../pipeline/runtime/partitioner.ts'

// kafkajs's default partitioner: murmur2 over a 64-bit Long emulation, whose `toInt()` result is a
// signed 32-bit number; the partitioner then computes `(hash & 0x7fffffff) % numPartitions`.
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number
const kafkajsPartition = (key: string, partitions: number): number => (kafkajsMurmur2(key) & 0x7fffffff) % partitions

/** A small deterministic PRNG, so a failure can be reproduced from the seed. */
const prng = mulberry32

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:./ éüß中文日本🙂'

function randomKeys(count: number, seed: number): string[] {
  const rnd = prng(seed)
  const chars = [...ALPHABET]
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    // Lengths 0..40 cover every tail length (len % 4) and multi-byte UTF-8 sequences.
    const len = Math.floor(rnd() * 41)
    let key = ''
    for (let j = 0; j < len; j++) key += chars[Math.floor(rnd() * chars.length)]
    keys.push(key)
  }
  return keys
}

describe('murmur2', () => {
  it('matches the hashes of the Kafka Java client test vectors', () => {
    // From Kafka's UtilsTest.testMurmur2.
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ]
    for (const [key, hash] of vectors) {
      expect(murmur2(Buffer.from(key, 'utf8')), key).toBe(hash)
      expect(kafkajsMurmur2(Buffer.from(key, 'utf8')), key).toBe(hash)
    }
  })

  it('equals kafkajs murmur2 for thousands of random keys, including empty and multi-byte keys', () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', '\u0000', '🙂', ...randomKeys(3000, 42)]
    for (const key of keys) {
      const bytes = Buffer.from(key, 'utf8')
      expect(murmur2(bytes), JSON.stringify(key)).toBe(kafkajsMurmur2(bytes))
    }
  })

  it('equals kafkajs murmur2 for random binary buffers, including bytes above 0x7f', () => {
    const rnd = prng(7)
    for (let i = 0; i < 1000; i++) {
      const bytes = Buffer.alloc(Math.floor(rnd() * 33))
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rnd() * 256)
      expect(murmur2(bytes), bytes.toString('hex')).toBe(kafkajsMurmur2(bytes))
    }
  })

  it('returns a signed 32-bit integer', () => {
    for (const key of randomKeys(500, 3)) {
      const h = murmur2(Buffer.from(key, 'utf8'))
      expect(Number.isInteger(h)).toBe(true)
      expect(h).toBe(h | 0)
    }
  })
})

describe('partitionFor', () => {
  it('picks the same partition as the kafkajs default partitioner for random keys and partition counts', () => {
    const keys = randomKeys(2000, 1234)
    for (const partitions of [1, 2, 3, 4, 6, 7, 8, 12, 16, 31, 64, 100]) {
      for (const key of keys) {
        expect(partitionFor(key, partitions), `${JSON.stringify(key)} / ${partitions}`).toBe(kafkajsPartition(key, partitions))
      }
    }
  })

  it('returns a partition in range even for keys whose hash is negative', () => {
    const negative = randomKeys(2000, 99).filter((k) => murmur2(Buffer.from(k, 'utf8')) < 0)
    expect(negative.length).toBeGreaterThan(100)
    for (const key of negative) {
      const p = partitionFor(key, 7)
      expect(p).toBeGreaterThanOrEqual(0)
      expect(p).toBeLessThan(7)
    }
  })
})
