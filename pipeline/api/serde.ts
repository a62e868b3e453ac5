import { SerdeError } from './errors.ts'

/**
 * Turns values into bytes and back. `deserialize` throws {@link SerdeError} on bad input; the
 * runtime then applies the deserialize-phase error handler (by default: dead-letter and continue).
 */
export interface Serde<V> {
  /** Short name for `describe` output and error messages. */
  readonly name: string
  serialize(value: V): Buffer
  deserialize(bytes: Buffer): V
  /**
   * Work to finish before `deserialize` can run synchronously on these bytes (a schema-registry
   * serde fetches unknown writer schemas here). Runners that read from Kafka await it for every
   * fetched batch; it returns undefined when nothing has to be fetched. Bytes it cannot help with
   * are left for `deserialize` to reject.
   */
  prepare?(values: readonly Buffer[]): Promise<void> | undefined
  /**
   * Checks an already-decoded value (when another wire format, such as Avro, did the decoding)
   * the way `deserialize` checks a parsed one; throws {@link SerdeError} when it does not fit.
   */
  fromValue?(value: unknown): V
}

/** UTF-8 JSON. Rejects bytes that are not JSON, and `undefined` values. */
export function jsonSerde<V = unknown>(): Serde<V> {
  return {
    name: 'json',
    serialize(value: V): Buffer {
      const text = JSON.stringify(value)
      if (text === undefined) throw new SerdeError('json serde cannot serialize undefined')
      return Buffer.from(text, 'utf8')
    },
    deserialize(bytes: Buffer): V {
      try {
        return JSON.parse(bytes.toString('utf8')) as V
      } catch (err) {
        throw new SerdeError(`invalid JSON: ${(err as Error).message}`, err)
      }
    },
  }
}

/**
 * JSON whose decoded value must be an object; `validate` may check it further and return an error
 * message (or null when the value is fine).
 */
export function jsonObjectSerde<V extends object>(validate?: (value: { [k: string]: unknown }) => string | null): Serde<V> {
  const base = jsonSerde<unknown>()
  const fromValue = (value: unknown): V => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new SerdeError(`expected an object, got ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}`)
    }
    const problem = validate?.(value as { [k: string]: unknown })
    if (problem) throw new SerdeError(problem)
    return value as V
  }
  return {
    name: 'json',
    serialize: (value: V) => base.serialize(value),
    deserialize: (bytes: Buffer): V => fromValue(base.deserialize(bytes)),
    fromValue,
  }
}

/** UTF-8 strings. */
export function stringSerde(): Serde<string> {
  return {
    name: 'string',
    serialize: (value: string) => Buffer.from(value, 'utf8'),
    deserialize: (bytes: Buffer) => bytes.toString('utf8'),
  }
}
