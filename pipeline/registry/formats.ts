import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import avro from 'avsc'
import { HermesError, describeError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { Serde } from '../api/serde.ts'
import type { SinkNode, SourceNode, Topology, TopologyNode } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import { confluentAvroSerde } from './avro-serde.ts'
import { RegistryError, SchemaRegistryClient } from './client.ts'

const PACKAGE_ROOT = resolve(import.meta.dirname, '..', '..')

/** The value format of a topic: its own `format`, else `topics.defaultFormat` if it has a schema, else json. */
export function topicFormat(config: HermesConfig, topic: string): 'json' | 'avro' {
  const o = config.topics.overrides[topic]
  return o?.format ?? (o?.schema ? config.topics.defaultFormat : 'json')
}

/** Subject of a topic's values (Confluent's TopicNameStrategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`
}

/** The schemas directory: as configured, relative to the working directory, else to the package. */
export function schemasDir(config: HermesConfig): string {
  const dir = config.schemaRegistry.schemasDir
  if (isAbsolute(dir)) return dir
  const here = resolve(dir)
  return existsSync(here) ? here : join(PACKAGE_ROOT, dir)
}

/** A schema file of the schemas directory: its text (normalized JSON) and avsc type. */
export interface SchemaFile {
  name: string
  file: string
  text: string
  type: avro.Type
}

/** Reads and checks `schemas/<name>.avsc`; a missing or invalid file is a config error naming it. */
export function loadSchema(config: HermesConfig, name: string, field = 'schema'): SchemaFile {
  const dir = schemasDir(config)
  const file = join(dir, `${name}.avsc`)
  if (!existsSync(file)) {
    const known = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.avsc')).map((f) => f.slice(0, -5)) : []
    throw new HermesError('CONFIG_INVALID', `${field}: no schema file ${file}; known schemas: ${known.join(', ') || 'none'} (schemaRegistry.schemasDir is ${config.schemaRegistry.schemasDir})`)
  }
  let parsed: unknown
  let type: avro.Type
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
    type = avro.Type.forSchema(parsed as avro.Schema)
  } catch (err) {
    throw new HermesError('SCHEMA_INVALID', `${file} is not a valid Avro schema: ${describeError(err)}`, { cause: err })
  }
  return { name, file, text: JSON.stringify(parsed), type }
}

/** The topics with a schema, with their schema name and format. */
export function schemaTopics(config: HermesConfig): Array<{ topic: string; schema: string; format: 'json' | 'avro' }> {
  const out: Array<{ topic: string; schema: string; format: 'json' | 'avro' }> = []
  for (const [topic, o] of Object.entries(config.topics.overrides)) if (o.schema) out.push({ topic, schema: o.schema, format: topicFormat(config, topic) })
  return out
}

/** Topics the topologies read or write whose format is avro. */
export function avroTopics(topologies: readonly Topology[], config: HermesConfig): string[] {
  const topics = new Set<string>()
  for (const t of topologies) for (const n of t.nodes) if ((n.kind === 'source' || n.kind === 'sink') && topicFormat(config, n.topic) === 'avro') topics.add(n.topic)
  return [...topics].sort()
}

/**
 * Gives every source and sink of an avro topic the Confluent-wire Avro serde of its schema
 * (the topology's own serde still checks decoded values through `fromValue`), with a registry
 * client from the config. Waits for the registry with backoff; registers the current schemas
 * first when `schemaRegistry.autoRegister` is on, else requires them to be registered.
 * Topologies without avro topics come back as they are, and no registry is contacted.
 */
export async function withTopicFormats(topologies: readonly Topology[], config: HermesConfig, logger: Logger, signal?: AbortSignal): Promise<Topology[]> {
  const topics = avroTopics(topologies, config)
  if (topics.length === 0) return [...topologies]
  const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
  const ids = new Map<string, { id: number; schema: SchemaFile }>()
  for (const topic of topics) ids.set(topic, await registeredSchema(topic, config, registry, signal))
  logger.info({ registry: registry.url, topics: Object.fromEntries([...ids].map(([t, s]) => [t, { subject: valueSubject(t), id: s.id, schema: s.schema.name }])) }, 'Avro topics use the schema registry')
  return topologies.map((t) =>
    withSerdes(t, (node) => {
      const s = ids.get(node.topic)
      return s ? avroSerde(node.topic, s, registry, node.serde) : null
    }),
  )
}

/**
 * The current schema of an avro topic and its registry id: registered first when
 * `schemaRegistry.autoRegister` is on (an equal schema keeps its id), else looked up. Waits for
 * an unreachable registry with backoff (see {@link SchemaRegistryClient.untilAvailable}).
 */
export async function registeredSchema(topic: string, config: HermesConfig, registry: SchemaRegistryClient, signal?: AbortSignal): Promise<{ id: number; schema: SchemaFile }> {
  const name = config.topics.overrides[topic]?.schema
  if (!name) throw new HermesError('CONFIG_INVALID', `topics.overrides.${topic}.schema: topic ${topic} has no schema; name a file of schemaRegistry.schemasDir (without .avsc)`)
  const schema = loadSchema(config, name, `topics.overrides.${topic}.schema`)
  const subject = valueSubject(topic)
  // Remembered across retries: a retry after the schema was registered must still set the rule.
  let isNew: boolean | undefined
  const id = await registry.untilAvailable(
    `schema of ${topic}`,
    async () => {
      if (!config.schemaRegistry.autoRegister) {
        const found = await registry.idOf(subject, schema.text)
        if (found === null) throw new RegistryError('not-found', `the current ${schema.name} schema is not registered under ${subject}: run \`hermes schemas register\` or set schemaRegistry.autoRegister: true`, 404)
        return found
      }
      isNew ??= (await registry.latest(subject)) === null
      const registered = await registry.register(subject, schema.text)
      if (isNew) await registry.setCompatibility(subject, config.schemaRegistry.compatibility)
      return registered
    },
    signal ? { signal } : {},
  )
  return { id, schema }
}

/** The Confluent-wire Avro serde of a topic; `own` (the topology's serde) still checks decoded values. */
export function avroSerde(topic: string, s: { id: number; schema: SchemaFile }, registry: SchemaRegistryClient, own?: Serde<unknown>): Serde<unknown> {
  const check = own?.fromValue
  return confluentAvroSerde({
    subject: valueSubject(topic),
    readerType: s.schema.type,
    writerId: s.id,
    schemas: registry,
    ...(check ? { fromValue: (v: unknown) => check.call(own, v) } : {}),
  })
}

/** A copy of a topology with the serdes of some sources and sinks replaced. */
export function withSerdes(topology: Topology, replace: (node: SourceNode | SinkNode) => Serde<unknown> | null): Topology {
  let changed = false
  const nodes: TopologyNode[] = topology.nodes.map((n) => {
    if (n.kind !== 'source' && n.kind !== 'sink') return n
    const serde = replace(n)
    if (!serde) return n
    changed = true
    return Object.freeze({ ...n, serde })
  })
  if (!changed) return topology
  const frozen = Object.freeze(nodes)
  return Object.freeze({
    name: topology.name,
    nodes: frozen,
    node(id: string): TopologyNode {
      const found = frozen.find((x) => x.id === id)
      return found ?? topology.node(id)
    },
  })
}
