import type { Serde } from '../api/serde.ts'
import { SerdeError } from '../api/errors.ts'

/**
 * A record's value held decoded beside its bytes, for the readers of one embedded log entry
 * whose serde decodes plain JSON (`isPlainJsonSerde`): the bytes are parsed once for all of them,
 * or never when the writer handed over the value it serialized (a keyBy's repartition record).
 *
 * `value` is pristine: equal to `JSON.parse` of the record's bytes and never given to an operator
 * while another reader is still to come. Each reader but the last gets its own copy
 * ({@link jsonClone}); the last gets `value` itself, and the slot lets go of it. Operators may
 * therefore change what they receive, exactly as with a value parsed for them alone.
 */
export interface SharedJson {
  /** The decoded value, or {@link UNPARSED} until a reader parses the bytes (or after the last reader). */
  value: unknown
  /** Readers that have still to take the value; at 0 the slot holds nothing. */
  readers: number
}

/** The value of a {@link SharedJson} that holds none (not parsed yet, or handed to its last reader). */
export const UNPARSED: unique symbol = Symbol('unparsed')

/**
 * Decodes a record's bytes with a plain-JSON serde through its shared slot: parses them if no
 * reader has, then hands out a copy (readers to come) or the pristine value (last reader).
 * Throws the serde's own errors (the parse's, or its `fromValue` check's).
 */
export function decodeShared(serde: Serde<unknown>, bytes: Buffer, slot: SharedJson): unknown {
  if (slot.value === UNPARSED) {
    try {
      slot.value = JSON.parse(bytes.toString('utf8'))
    } catch (err) {
      throw new SerdeError(`invalid JSON: ${(err as Error).message}`, err)
    }
  }
  // The pristine value only to the last reader: the others may change what they get.
  const value = slot.readers > 1 ? jsonClone(slot.value) : slot.value
  if (--slot.readers <= 0) slot.value = UNPARSED
  return serde.fromValue ? serde.fromValue(value) : value
}

/** Thrown inside {@link jsonClone} at anything a plain copy would not render as JSON does. */
const NOT_PLAIN = Symbol('not plain')
/** Nesting beyond this is copied through JSON (which also reports a cycle as JSON.stringify does). */
const MAX_DEPTH = 64

/**
 * `JSON.parse(JSON.stringify(value))`, without the text in between when the value is plain
 * (objects with Object's or no prototype and no `toJSON`, arrays, strings, numbers, booleans,
 * null): property order, `undefined` and functions dropped from objects and turned into null in
 * arrays, NaN and ±Infinity as null, -0 as 0, exactly as the round trip gives them. Anything else
 * (Dates, Maps, class instances, `toJSON`, a `__proto__` key, deep nesting or a cycle) takes the
 * round trip itself, with its errors (a BigInt, a cycle) and its `undefined` for a bare
 * `undefined`, function or symbol.
 */
export function jsonClone(value: unknown): unknown {
  try {
    return copy(value, 0)
  } catch (err) {
    if (err !== NOT_PLAIN) throw err
    const text = JSON.stringify(value)
    return text === undefined ? undefined : JSON.parse(text)
  }
}

function copy(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v
    case 'number':
      // JSON writes -0 as 0 and non-finite numbers as null.
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null
    case 'object': {
      if (v === null) return null
      if (depth >= MAX_DEPTH) throw NOT_PLAIN
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype || typeof (v as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN
        const out = new Array<unknown>(v.length)
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i]
          out[i] = item === undefined || typeof item === 'function' || typeof item === 'symbol' ? null : copy(item, depth + 1)
        }
        return out
      }
      const proto: unknown = Object.getPrototypeOf(v)
      if ((proto !== Object.prototype && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN
      const out: { [k: string]: unknown } = {}
      // for-in walks the own enumerable keys in Object.keys order (and is faster than it); an
      // inherited enumerable key (a polluted Object.prototype) is skipped, as JSON skips it.
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue
        // JSON.parse makes "__proto__" an own property; an assignment would set the prototype.
        if (k === '__proto__') throw NOT_PLAIN
        const item: unknown = (v as { [k: string]: unknown })[k]
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue
        out[k] = copy(item, depth + 1)
      }
      return out
    }
    default:
      // undefined, functions and symbols at the top, and BigInts: the round trip decides.
      throw NOT_PLAIN
  }
}
