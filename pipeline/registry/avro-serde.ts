import avro from 'avsc'
import { SerdeError, describeError } from '../api/errors.ts'
import type { Serde } from '../api/serde.ts'
import { RegistryError } from './client.ts'

/** First byte of the Confluent wire format; then a 4-byte big-endian schema id, then the Avro body. */
export const MAGIC_BYTE = 0
const HEADER = 5

/** Where the serde gets writer schemas (a {@link SchemaRegistryClient} in practice). */
export interface WriterSchemas {
  writerType(id: number): Promise<avro.Type>
}

/** Options of {@link confluentAvroSerde}. */
export interface ConfluentAvroOptions<V> {
  /** `<topic>-value`, for messages. */
  subject: string
  /** The current (reader) schema: records of older versions are read into this shape. */
  readerType: avro.Type
  /** Registry id of the reader schema, written in front of every serialized value. */
  writerId: number
  schemas: WriterSchemas
  /** Checks a decoded value as the topology's own serde would (see `Serde.fromValue`). */
  fromValue?: (value: unknown) => V
  /**
   * How long an id the registry did not know stays unknown before `prepare` asks again (default
   * 10 s): a registry that lags behind a producer (a follower, a replicated store) learns it later.
   */
  unknownRetryMs?: number
  clock?: () => number
}

type Reader = { ok: true; read: (body: Buffer) => unknown } | { ok: false; reason: string; retryAt?: number }

/** The schema id of a Confluent-wire value, or a reason it is not one. */
export function wireSchemaId(bytes: Buffer): number | string {
  if (bytes.length < HEADER) return `not Avro in the Confluent wire format: ${bytes.length} bytes, shorter than the 5-byte header`
  if (bytes[0] !== MAGIC_BYTE) {
    const hint = bytes[0] === 0x7b || bytes[0] === 0x5b ? ' (it looks like JSON)' : ''
    return `not Avro in the Confluent wire format: first byte 0x${(bytes[0] as number).toString(16).padStart(2, '0')}, expected magic byte 0x00${hint}`
  }
  return bytes.readInt32BE(1)
}

/**
 * Values as Avro in the Confluent wire format (magic byte 0, schema id, Avro body), the format of
 * Confluent's serializers. Decoding resolves each record's writer schema (fetched by id in
 * `prepare`, which Kafka runners await per fetched batch) against the current reader schema, so
 * records written with an older version arrive in the current shape, with defaults filled in.
 * What cannot be read (not this wire format, an id the registry does not know, a writer schema
 * the reader cannot resolve, a corrupt body) is a {@link SerdeError}: the runtime dead-letters
 * the record with that reason and goes on.
 */
export function confluentAvroSerde<V>(opts: ConfluentAvroOptions<V>): Serde<V> & { readonly writerId: number } {
  const readers = new Map<number, Reader>()
  const header = Buffer.alloc(HEADER)
  header.writeUInt8(MAGIC_BYTE, 0)
  header.writeInt32BE(opts.writerId, 1)
  const { readerType, subject } = opts
  const clock = opts.clock ?? Date.now
  const unknownRetryMs = opts.unknownRetryMs ?? 10_000

  const readerFor = (id: number, writer: avro.Type): Reader => {
    if (id === opts.writerId) return { ok: true, read: (body) => readerType.fromBuffer(body) }
    try {
      const resolver = readerType.createResolver(writer)
      return { ok: true, read: (body) => readerType.fromBuffer(body, resolver) }
    } catch (err) {
      return { ok: false, reason: `schema id ${id} cannot be read as the current ${subject} schema: ${describeError(err)}` }
    }
  }
  readers.set(opts.writerId, readerFor(opts.writerId, readerType))

  const fetch = async (id: number): Promise<void> => {
    try {
      readers.set(id, readerFor(id, await opts.schemas.writerType(id)))
    } catch (err) {
      // Only answers about this id are the record's fault; a registry refusing us (credentials,
      // a bad request) is not, and must not dead-letter every record.
      const reason = unreadableId(id, err)
      if (reason === null) throw err
      readers.set(id, { ok: false, reason, retryAt: clock() + unknownRetryMs })
    }
  }

  return {
    name: 'avro',
    writerId: opts.writerId,
    prepare(values: readonly Buffer[]): Promise<void> | undefined {
      let missing: Set<number> | undefined
      for (const v of values) {
        const id = wireSchemaId(v)
        if (typeof id !== 'number') continue
        const r = readers.get(id)
        if (!r || (!r.ok && r.retryAt !== undefined && r.retryAt <= clock())) (missing ??= new Set()).add(id)
      }
      if (!missing) return undefined
      return Promise.all([...missing].map(fetch)).then(() => undefined)
    },
    deserialize(bytes: Buffer): V {
      const id = wireSchemaId(bytes)
      if (typeof id === 'string') throw new SerdeError(id)
      const reader = readers.get(id)
      if (!reader) throw new SerdeError(`schema id ${id} was not fetched from the registry before decoding (a runner that does not call Serde.prepare)`)
      if (!reader.ok) throw new SerdeError(reader.reason)
      let value: unknown
      try {
        value = toPlain(reader.read(bytes.subarray(HEADER)))
      } catch (err) {
        throw new SerdeError(`corrupt Avro body (schema id ${id}, ${subject}): ${describeError(err)}`, err)
      }
      return opts.fromValue ? opts.fromValue(value) : (value as V)
    },
    serialize(value: V): Buffer {
      let body: Buffer
      try {
        body = readerType.toBuffer(value)
      } catch (err) {
        const paths: string[] = []
        readerType.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(value)') })
        throw new SerdeError(`value does not fit the ${subject} Avro schema${paths.length ? ` at ${paths.slice(0, 5).join(', ')}` : ''}: ${describeError(err)}`, err)
      }
      return Buffer.concat([header, body])
    },
  }
}

/** Why records of schema id `id` cannot be read, when the registry's error is about that id; else null. */
function unreadableId(id: number, err: unknown): string | null {
  if (!(err instanceof RegistryError)) return null
  if (err.failure === 'not-found') return `schema id ${id} is unknown to the schema registry (${err.message})`
  if (err.failure === 'invalid') return err.message
  return null
}

/** avsc decodes records as instances of generated classes; operators get plain objects. */
function toPlain(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v
  if (Array.isArray(v)) return v.map(toPlain)
  const out: { [k: string]: unknown } = {}
  for (const k of Object.keys(v)) {
    const x = toPlain((v as { [k: string]: unknown })[k])
    // A map key "__proto__" stays a key.
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
    else out[k] = x
  }
  return out
}

/**
 * Decodes a Confluent-wire value with its own writer schema (no reader schema: for tools that
 * print a topic as it is). Throws {@link SerdeError} when it is not that format or the id is unknown.
 */
export async function decodeAsWritten(bytes: Buffer, schemas: WriterSchemas): Promise<unknown> {
  const id = wireSchemaId(bytes)
  if (typeof id === 'string') throw new SerdeError(id)
  let type: avro.Type
  try {
    type = await schemas.writerType(id)
  } catch (err) {
    const reason = unreadableId(id, err)
    if (reason !== null) throw new SerdeError(reason, err)
    throw err
  }
  try {
    return toPlain(type.fromBuffer(bytes.subarray(HEADER)))
  } catch (err) {
    throw new SerdeError(`corrupt Avro body (schema id ${id}): ${describeError(err)}`, err)
  }
}

/**
 * A JSON value in the Avro form of a record schema: a field the schema declares as a string (or
 * a union of null and string) but the value holds as an object or a list travels as JSON text,
 * as the task schema's nested trigger, audience, fatigue and experiment do (schemas/task.avsc;
 * the consumer parses them back). Other values come back as they are.
 */
export function toAvroForm(type: avro.Type, value: unknown): unknown {
  if (type.typeName !== 'record' || value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const out: { [k: string]: unknown } = { ...(value as { [k: string]: unknown }) }
  for (const field of (type as avro.types.RecordType).fields) {
    const v = out[field.name]
    if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && takesJsonText(field.type)) out[field.name] = JSON.stringify(v)
  }
  return out
}

/** Whether a field type is a string, or a union whose only non-null branch is a string. */
function takesJsonText(type: avro.Type): boolean {
  if (type.typeName === 'string') return true
  if (!type.typeName.startsWith('union')) return false
  const branches = (type as avro.types.UnwrappedUnionType).types.filter((t) => t.typeName !== 'null')
  return branches.length === 1 && branches[0]?.typeName === 'string'
}
