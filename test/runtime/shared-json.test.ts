import { describe, expect, it } from 'vitest'
import { jsonObjectSerde, jsonSerde } from '../../pipeline/api/serde.ts'
import { SerdeError } from '../../pipeline/api/errors.ts'
import { UNPARSED, decodeShared, jsonClone } from '../../pipeline/runtime/shared-json.ts'
import { mulberry32 } from '../../operators/ids.ts'

const roundTrip = (v: unknown): unknown => {
  const text = JSON.stringify(v)
  return text === undefined ? undefined : JSON.parse(text)
}

/** What tells a copy from the round trip: the text, the own keys in order, and -0 vs 0. */
function same(actual: unknown, expected: unknown): void {
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected))
  expect(actual).toStrictEqual(expected)
}

const SEED = Number(process.env.HERMES_TEST_SEED ?? Date.now() % 1_000_000)

describe('jsonClone', () => {
  it('equals the JSON round trip for the values JSON treats specially', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const cases: unknown[] = [
      null,
      true,
      'text with "quotes", \\ and a lone surrogate \ud800',
      0,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1.5e300,
      { a: undefined, b: () => 1, c: Symbol('s'), d: -0, e: Number.NaN, f: [undefined, () => 1, Symbol('t'), -0] },
      { 2: 'two', 1: 'one', b: 'b', a: 'a' },
      [1, , 3],
      { when: new Date(Date.UTC(2026, 0, 1)), at: [new Date(0)] },
      { custom: { toJSON: () => ({ replaced: true }) } },
      { map: new Map([['k', 1]]), set: new Set([1]), point: new Point(1, 2) },
      JSON.parse('{"__proto__":{"polluted":true},"x":1}'),
      Object.assign(Object.create(null) as object, { bare: 1 }),
      Object.defineProperty({ visible: 1 }, 'hidden', { value: 2, enumerable: false }),
      { get computed() {
        return 42
      } },
      Array.from({ length: 80 }).reduce<unknown>((inner) => ({ inner }), { bottom: [1] }),
    ]
    for (const v of cases) same(jsonClone(v), roundTrip(v))
    expect(jsonClone(undefined)).toBeUndefined()
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
  })

  it('fails where JSON.stringify fails: a cycle, a BigInt', () => {
    const cyclic: { self?: unknown } = {}
    cyclic.self = cyclic
    expect(() => jsonClone(cyclic)).toThrow(TypeError)
    expect(() => jsonClone({ n: 1n })).toThrow(TypeError)
  })

  it(`equals the JSON round trip on random nested values (seed ${SEED}, replay with HERMES_TEST_SEED)`, () => {
    const rand = mulberry32(SEED)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    const gen = (depth: number): unknown => {
      const kind = Math.floor(rand() * (depth > 4 ? 6 : 9))
      switch (kind) {
        case 0:
          return null
        case 1:
          return rand() < 0.5
        case 2:
          return pick([0, -0, 1, -1.25, 1e21, Number.NaN, Number.NEGATIVE_INFINITY, Math.floor(rand() * 1e9)])
        case 3:
          return pick(['', 'a', 'é', '\u0000', '"\\', '\ud83d\ude00', String(rand())])
        case 4:
          return undefined
        case 5:
          return pick([new Date(Math.floor(rand() * 1e12)), () => 0])
        case 6:
        case 7: {
          const o: { [k: string]: unknown } = {}
          const n = Math.floor(rand() * 5)
          for (let i = 0; i < n; i++) o[pick(['a', 'b', '10', '2', 'userId', 'ts', `k${i}`])] = gen(depth + 1)
          return o
        }
        default:
          return Array.from({ length: Math.floor(rand() * 5) }, () => gen(depth + 1))
      }
    }
    for (let i = 0; i < 2000; i++) {
      const v = { root: gen(0) }
      same(jsonClone(v), roundTrip(v))
    }
  })
})

describe('decodeShared', () => {
  const bytes = Buffer.from('{"userId":"u1","tags":["a"],"ts":1}', 'utf8')

  it('parses once, gives every reader but the last its own copy and the last the value itself, then lets go', () => {
    const slot = { value: UNPARSED as unknown, readers: 3 }
    const first = decodeShared(jsonSerde(), bytes, slot) as { tags: string[] }
    const pristine = slot.value
    expect(pristine).not.toBe(UNPARSED)
    first.tags.push('changed by the first reader')
    const second = decodeShared(jsonSerde(), bytes, slot)
    expect(second).not.toBe(pristine)
    const last = decodeShared(jsonSerde(), bytes, slot)
    expect(last).toBe(pristine)
    for (const v of [second, last]) expect(v).toEqual({ userId: 'u1', tags: ['a'], ts: 1 })
    expect(slot).toEqual({ value: UNPARSED, readers: 0 })
  })

  it("applies each reader's check and reports bad bytes as the serde does", () => {
    const slot = { value: UNPARSED as unknown, readers: 2 }
    const strict = jsonObjectSerde((v) => (typeof v.userId === 'number' ? null : 'userId must be a number'))
    expect(() => decodeShared(strict, bytes, slot)).toThrow('userId must be a number')
    expect(decodeShared(jsonSerde(), bytes, slot)).toEqual({ userId: 'u1', tags: ['a'], ts: 1 })
    const bad = { value: UNPARSED as unknown, readers: 2 }
    const err = (() => {
      try {
        decodeShared(jsonSerde(), Buffer.from('{"a":', 'utf8'), bad)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(SerdeError)
    expect((err as Error).message).toMatch(/^invalid JSON/)
  })
})
