/**
 * Values of the topics the console reads and writes on Kafka, in the deployment's format: JSON, or
 * Avro in the Confluent wire format through the schema registry (`topics.defaultFormat` /
 * `topics.overrides.<topic>.format: avro`), with the registry serdes of pipeline/registry/. The
 * console works on the JSON form either way: Avro values are decoded with their writer schema
 * and nested objects the schema carries as JSON text (a task's trigger, audience...) parsed back;
 * values it writes are encoded with the topic's current schema, as `hermes produce` does.
 */
import type avro from 'avsc'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import { decodeAsWritten, toAvroForm } from '../../pipeline/registry/avro-serde.ts'
import { SchemaRegistryClient } from '../../pipeline/registry/client.ts'
import { avroSerde, registeredSchema, topicFormat } from '../../pipeline/registry/formats.ts'
import type { Serde } from '../../pipeline/api/serde.ts'

/** Whether an Avro field type is a string, or a union whose only non-null branch is a string. */
function stringField(type: avro.Type): boolean {
  if (type.typeName === 'string') return true
  if (!type.typeName.startsWith('union')) return false
  const branches = (type as avro.types.UnwrappedUnionType).types.filter((t) => t.typeName !== 'null')
  return branches.length === 1 && branches[0]?.typeName === 'string'
}

/** Codec of one topic's values. */
interface Codec {
  decode(bytes: Buffer): Promise<unknown>
  encode(value: unknown): Promise<Buffer>
}

const json: Codec = {
  decode: async (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
  encode: async (value) => Buffer.from(JSON.stringify(value)),
}

/** The console's reader and writer of topic values. */
export class TopicValues {
  private readonly codecs = new Map<string, Codec>()
  private registry: SchemaRegistryClient | null = null

  constructor(private readonly config: HermesConfig, private readonly logger: HermesLogger) {}

  /** The topics among these that are Avro. */
  avroTopics(topics: readonly string[]): string[] {
    return topics.filter((t) => topicFormat(this.config, t) === 'avro')
  }

  private codec(topic: string): Codec {
    let c = this.codecs.get(topic)
    if (c) return c
    if (topicFormat(this.config, topic) !== 'avro') c = json
    else {
      this.registry ??= new SchemaRegistryClient(this.config.schemaRegistry, this.logger)
      const registry = this.registry
      let writer: Promise<{ serde: Serde<unknown>; type: avro.Type }> | null = null
      const schema = (): Promise<{ serde: Serde<unknown>; type: avro.Type }> =>
        (writer ??= registeredSchema(topic, this.config, registry).then((s) => ({ serde: avroSerde(topic, s, registry), type: s.schema.type })))
      c = {
        decode: async (bytes) => {
          const plain = await decodeAsWritten(bytes, registry)
          return fromAvroForm((await schema()).type, plain)
        },
        encode: async (value) => {
          const s = await schema()
          return s.serde.serialize(toAvroForm(s.type, value))
        },
      }
    }
    this.codecs.set(topic, c)
    return c
  }

  /** The JSON form of a value read from `topic` (null for a tombstone). Throws when it cannot be read. */
  async decode(topic: string, bytes: Buffer | null): Promise<unknown> {
    return bytes === null ? null : this.codec(topic).decode(bytes)
  }

  /** The bytes to write for a JSON-form value on `topic` (null stays a tombstone). */
  async encode(topic: string, value: unknown): Promise<Buffer | null> {
    return value === null ? null : this.codec(topic).encode(value)
  }
}

/**
 * The JSON form of a decoded Avro record: string fields holding JSON objects or lists (how the
 * schemas carry nested configuration) parsed back, and fields null only because the schema has
 * them and the record did not (null in Avro, absent in JSON) left out.
 */
export function fromAvroForm(type: avro.Type, value: unknown): unknown {
  if (type.typeName !== 'record' || value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const out: { [k: string]: unknown } = { ...(value as { [k: string]: unknown }) }
  for (const field of (type as avro.types.RecordType).fields) {
    const v = out[field.name]
    if (v === null && field.defaultValue() === null) delete out[field.name]
    else if (typeof v === 'string' && stringField(field.type) && /^\s*[[{]/.test(v)) {
      try {
        out[field.name] = JSON.parse(v) as unknown
      } catch {
        // A string that only looks like JSON stays a string.
      }
    }
  }
  return out
}
