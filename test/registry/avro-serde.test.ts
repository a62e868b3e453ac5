import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { SerdeError } from '../../pipeline/api/errors.ts'
import { jsonObjectSerde } from '../../pipeline/api/serde.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import type { Logger } from '../../pipeline/api/processor.ts'
import { RegistryError, SchemaRegistryClient, classify, safeUrl } from '../../pipeline/registry/client.ts'
import { confluentAvroSerde, wireSchemaId } from '../../pipeline/registry/avro-serde.ts'
import { avroTopics, loadSchema, registeredSchema, topicFormat, withSerdes } from '../../pipeline/registry/formats.ts'
import { diffSchemas, registerSchemas } from '../../pipeline/registry/register.ts'
import { TopologyBuilder, jsonSerde } from '../../pipeline/api/index.ts'

const v1 = { type: 'record', name: 'Ev', namespace: 't', fields: [{ name: 'id', type: 'string' }, { name: 'n', type: 'long' }] } as const
const v2 = { ...v1, fields: [...v1.fields, { name: 'channel', type: ['null', 'string'], default: null }, { name: 'attrs', type: { type: 'map', values: 'string' }, default: {} }] }
const t1 = avro.Type.forSchema(v1 as unknown as avro.Schema)
const t2 = avro.Type.forSchema(v2 as unknown as avro.Schema)

/** Writer schemas by id, as a registry would hand them out (the registry itself is tested in the integration tests). */
function schemasOf(byId: { [id: number]: avro.Type }, fetched: number[] = []) {
  return {
    async writerType(id: number): Promise<avro.Type> {
      fetched.push(id)
      const t = byId[id]
      if (!t) throw new RegistryError('not-found', `fetching schema id ${id}: Schema ${id} not found.`, 404)
      return t
    },
  }
}

const wire = (id: number, type: avro.Type, value: unknown): Buffer => {
  const h = Buffer.alloc(5)
  h.writeInt32BE(id, 1)
  return Buffer.concat([h, type.toBuffer(value)])
}

describe('Confluent-wire Avro serde', () => {
  it('writes magic byte, the registered id and the Avro body, and reads it back as a plain object', () => {
    const serde = confluentAvroSerde<{ id: string }>({ subject: 'ev-value', readerType: t2, writerId: 7, schemas: schemasOf({}) })
    const bytes = serde.serialize({ id: 'a', n: 3, channel: 'sms', attrs: { k: 'v' } } as never)
    expect(bytes[0]).toBe(0)
    expect(bytes.readInt32BE(1)).toBe(7)
    const back = serde.deserialize(bytes)
    expect(back).toEqual({ id: 'a', n: 3, channel: 'sms', attrs: { k: 'v' } })
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
  })

  it('reads records of an older writer schema into the current shape, defaults filled, after prepare fetched it once', async () => {
    const fetched: number[] = []
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t2, writerId: 2, schemas: schemasOf({ 1: t1 }, fetched) })
    const old = [wire(1, t1, { id: 'x', n: 1 }), wire(1, t1, { id: 'y', n: 2 })]
    expect(() => serde.deserialize(old[0] as Buffer)).toThrow(/not fetched/)
    await serde.prepare?.(old)
    expect(serde.prepare?.(old)).toBeUndefined()
    expect(fetched).toEqual([1])
    expect(serde.deserialize(old[1] as Buffer)).toEqual({ id: 'y', n: 2, channel: null, attrs: {} })
  })

  it('rejects bytes that are not the wire format, unknown ids, unreadable writers and corrupt bodies with a reason', async () => {
    const other = avro.Type.forSchema({ type: 'record', name: 'Ev', namespace: 't', fields: [{ name: 'id', type: 'int' }] })
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t2, writerId: 2, schemas: schemasOf({ 3: other }) })
    const unknown = wire(99, t1, { id: 'x', n: 1 })
    const clash = wire(3, other, { id: 5 })
    await serde.prepare?.([unknown, clash, Buffer.from('{"id":"x"}')])
    const reason = (b: Buffer): string => {
      try {
        serde.deserialize(b)
      } catch (err) {
        expect(err).toBeInstanceOf(SerdeError)
        return (err as Error).message
      }
      throw new Error('decoded')
    }
    expect(reason(Buffer.from('{"id":"x"}'))).toMatch(/not Avro in the Confluent wire format: first byte 0x7b.*looks like JSON/)
    expect(reason(Buffer.from([0, 0, 1]))).toMatch(/shorter than the 5-byte header/)
    expect(reason(unknown)).toMatch(/schema id 99 is unknown to the schema registry/)
    expect(reason(clash)).toMatch(/schema id 3 cannot be read as the current ev-value schema/)
    expect(reason(Buffer.concat([wire(2, t2, { id: 'x', n: 1, channel: null, attrs: {} }).subarray(0, 7)]))).toMatch(/corrupt Avro body/)
  })

  it('keeps the topology serde check on decoded values and names the path of values that do not fit', () => {
    const own = jsonObjectSerde<{ id: string }>((v) => (v.id === 'bad' ? 'id must not be bad' : null))
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t1, writerId: 1, schemas: schemasOf({}), fromValue: own.fromValue as (v: unknown) => { id: string } })
    expect(() => serde.deserialize(wire(1, t1, { id: 'bad', n: 1 }))).toThrow('id must not be bad')
    expect(() => serde.serialize({ id: 'a', n: 'three' } as never)).toThrow(/does not fit the ev-value Avro schema at n/)
  })

  it('asks the registry again about an unknown id after a while: a lagging registry learns it later', async () => {
    let now = 1000
    const byId: { [id: number]: avro.Type } = {}
    const fetched: number[] = []
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t2, writerId: 2, schemas: schemasOf(byId, fetched), clock: () => now, unknownRetryMs: 5000 })
    const rec = wire(4, t1, { id: 'x', n: 1 })
    await serde.prepare?.([rec])
    expect(() => serde.deserialize(rec)).toThrow(/schema id 4 is unknown/)
    byId[4] = t1
    now += 1000
    expect(serde.prepare?.([rec])).toBeUndefined()
    now += 5000
    await serde.prepare?.([rec])
    expect(fetched).toEqual([4, 4])
    expect(serde.deserialize(rec)).toEqual({ id: 'x', n: 1, channel: null, attrs: {} })
  })

  it('a registry refusing our credentials fails the batch instead of dead-lettering its records as unknown ids', async () => {
    const denied = { writerType: async (): Promise<avro.Type> => Promise.reject(classify(Object.assign(new Error('Unauthorized'), { status: 401 }), 'fetching schema id 5')) }
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t1, writerId: 1, schemas: denied })
    const rec = wire(5, t1, { id: 'a', n: 1 })
    const err = await (serde.prepare?.([rec]) as Promise<void>).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect((err as RegistryError).failure).toBe('refused')
    // Not remembered as unknown: the next batch asks again.
    await expect(serde.prepare?.([rec])).rejects.toBeInstanceOf(RegistryError)
  })

  it('a registry that cannot be reached is retriable, not a reason to dead-letter', async () => {
    const down = { writerType: async (): Promise<avro.Type> => Promise.reject(classify(Object.assign(new Error('Confluent_Schema_Registry - Error, status 400: connect ECONNREFUSED 127.0.0.1:1'), { status: 400 }), 'fetching schema id 5')) }
    const serde = confluentAvroSerde({ subject: 'ev-value', readerType: t1, writerId: 1, schemas: down })
    const err = await (serde.prepare?.([wire(5, t1, { id: 'a', n: 1 })]) as Promise<void>).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect((err as RegistryError).retriable).toBe(true)
    expect((err as RegistryError).failure).toBe('unavailable')
    expect(wireSchemaId(wire(5, t1, { id: 'a', n: 1 }))).toBe(5)
  })
})

describe('registry errors and urls', () => {
  it('classifies the client library failures by status and network errors', () => {
    const e = (status: number, msg: string) => classify(Object.assign(new Error(msg), { status }), 'x')
    expect(e(404, 'Schema 3 not found').failure).toBe('not-found')
    expect(e(409, 'Incompatible artifact').failure).toBe('incompatible')
    expect(e(422, 'Invalid schema').failure).toBe('invalid')
    expect(e(503, 'down').failure).toBe('unavailable')
    expect(e(400, 'Error, status 400: connect ECONNREFUSED').failure).toBe('unavailable')
    expect(e(401, 'Unauthorized').failure).toBe('refused')
    // Subject names in the registry's answers are not network errors.
    expect(e(404, "Subject 'session-timeouts-value' not found.").failure).toBe('not-found')
    expect(e(409, 'Incompatible schema for subject read-timeout-value').failure).toBe('incompatible')
  })

  it('refuses credentials in schemaRegistry.url, pointing to the username and password fields', () => {
    expect(() => validateConfig({ schemaRegistry: { url: 'https://bob:s3cret@registry:8080/apis/ccompat/v7' } })).toThrow(/schemaRegistry\.url[\s\S]*set schemaRegistry\.username and schemaRegistry\.password/)
    expect(validateConfig({ schemaRegistry: { url: 'https://registry:8080/apis/ccompat/v7', username: 'bob', password: 's3cret' } }).schemaRegistry.username).toBe('bob')
  })

  it('never shows credentials of the registry url', () => {
    expect(safeUrl('http://bob:s3cret@registry:8080/apis/ccompat/v7/')).toBe('http://registry:8080/apis/ccompat/v7')
  })
})

describe('topic formats in the config', () => {
  it('uses topics.defaultFormat for topics with a schema and json for the rest', () => {
    const config = validateConfig({ topics: { defaultFormat: 'avro', overrides: { a: { schema: 'behavior-event' }, b: { partitions: 2 }, c: { schema: 'decision', format: 'json' } } } })
    expect([topicFormat(config, 'a'), topicFormat(config, 'b'), topicFormat(config, 'c'), topicFormat(config, 'zzz')]).toEqual(['avro', 'json', 'json', 'json'])
  })

  it('refuses format avro without a schema, naming the field and the fix', () => {
    expect(() => validateConfig({ topics: { overrides: { ev: { format: 'avro' } } } })).toThrow(/topics\.overrides\.ev\.schema[\s\S]*format avro but no schema/)
  })

  it('names a missing schema file and lists the known ones', () => {
    const config = validateConfig({})
    expect(() => loadSchema(config, 'nope', 'topics.overrides.x.schema')).toThrow(/topics\.overrides\.x\.schema: no schema file .*nope\.avsc; known schemas: .*behavior-event/)
    expect(loadSchema(config, 'decision').type.name).toBe('hermes.PushDecision')
  })

  it('swaps the serdes of avro topics only, keeping the topology otherwise the same', () => {
    const b = new TopologyBuilder('fmt')
    b.source('in', { topic: 'ev', serde: jsonSerde() }).to('out', { topic: 'plain', serde: jsonSerde() })
    const t = b.build()
    const config = validateConfig({ topics: { overrides: { ev: { format: 'avro', schema: 'behavior-event' } } } })
    expect(avroTopics([t], config)).toEqual(['ev'])
    const swapped = withSerdes(t, (n) => (n.topic === 'ev' ? { ...jsonSerde(), name: 'avro' } : null))
    expect(swapped.node('in').kind).toBe('source')
    expect((swapped.node('in') as { serde: { name: string } }).serde.name).toBe('avro')
    expect((swapped.node('out') as { serde: { name: string } }).serde.name).toBe('json')
    expect((t.node('in') as { serde: { name: string } }).serde.name).toBe('json')
  })
})

describe('schema diffs', () => {
  it('lists added, removed, retyped and re-defaulted fields', () => {
    const before = JSON.stringify(v1)
    const after = JSON.stringify({ ...v1, fields: [{ name: 'id', type: 'string', default: '' }, { name: 'n', type: 'int' }, { name: 'c', type: ['null', 'string'], default: null }] })
    expect(diffSchemas(before, after)).toEqual(['~ id: default (none) -> ""', '~ n: type "long" -> "int"', '+ c: ["null","string"] = null'])
    expect(diffSchemas(after, before)).toContain('- c: ["null","string"] = null')
  })
})

describe('registering the current schema at start-up', () => {
  it('still sets a new subject compatibility rule when the registry failed between registering and setting it', async () => {
    const config = validateConfig({ topics: { overrides: { ev: { format: 'avro', schema: 'behavior-event' } } }, schemaRegistry: { retryInitialMs: 1, retryMaxMs: 1 } })
    const quiet = { warn() {}, info() {}, error() {}, debug() {} } as unknown as Logger
    const registry = new SchemaRegistryClient(config.schemaRegistry, quiet)
    let versions = 0
    const rules: string[] = []
    let failOnce = true
    Object.assign(registry, {
      latest: async () => (versions ? { subject: 'ev-value', version: versions, id: 1, schema: '' } : null),
      register: async () => {
        versions = 1
        return 1
      },
      setCompatibility: async (_: string, level: string) => {
        if (failOnce) {
          failOnce = false
          throw new RegistryError('unavailable', 'connect ECONNRESET', 400)
        }
        rules.push(level)
      },
    })
    expect((await registeredSchema('ev', config, registry)).id).toBe(1)
    expect(rules).toEqual(['BACKWARD'])
  })
})

describe('hermes schemas register', () => {
  it('gives an unchanged subject the compatibility rule too, unless dry', async () => {
    const config = validateConfig({ topics: { overrides: { ev: { format: 'avro', schema: 'behavior-event' } } } })
    const rules: string[] = []
    const registry = {
      latest: async () => ({ subject: 'ev-value', version: 3, id: 9, schema: '' }),
      idOf: async () => 9,
      setCompatibility: async (subject: string, level: string) => void rules.push(`${subject} ${level}`),
    } as unknown as SchemaRegistryClient
    expect((await registerSchemas(config, registry, { dryRun: true }))[0]?.status).toBe('unchanged')
    expect(rules).toEqual([])
    const [report] = await registerSchemas(config, registry)
    expect(report).toMatchObject({ status: 'unchanged', id: 9, previousVersion: 3 })
    expect(rules).toEqual(['ev-value BACKWARD'])
  })
})
