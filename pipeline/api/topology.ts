import { TopologyError } from './errors.ts'
import type { Record } from './record.ts'
import type { ProcessorFactory } from './processor.ts'
import type { Serde } from './serde.ts'
import type { BroadcastStoreSpec, StoreSpec } from './stores.ts'
import type { WindowOptions, WindowResult } from './windows.ts'
import { LATE_OUTPUT, checkWindowOptions, windowProcessor, windowStores } from './windows.ts'

/** An edge: the named output (`main` or a side output) of an upstream node. */
export interface Edge {
  readonly node: string
  readonly output: string
}

interface NodeBase {
  readonly id: string
  readonly inputs: readonly Edge[]
}

/** Reads a topic. `keyField`/`timestampField` name fields of the decoded values: the record key and the event time. */
export interface SourceNode extends NodeBase {
  readonly kind: 'source'
  readonly topic: string
  readonly serde: Serde<unknown>
  /**
   * Field of the value that holds the record key (e.g. `userId`). On a keyed source the key is
   * always this field's value, never the Kafka key: a record without it (missing, not a string,
   * empty) is dead-lettered, a disagreeing Kafka key is replaced (`runtime.keyMismatch`), and a
   * record on a partition the field does not hash to is moved to the partition that holds its
   * key's state (see docs/producers.md). Broadcast sources keep the Kafka key (a compacted
   * topic's key decides what a tombstone deletes); files are keyed by this field.
   */
  readonly keyField?: string
  /** Field of the value that holds the event time (epoch ms); else the log timestamp is used. */
  readonly timestampField?: string
  /** Whether the records carry event time: see {@link SourceOptions.eventTime}. */
  readonly eventTime?: boolean
  /** Broadcast sources are read in full by every task. */
  readonly broadcast: boolean
  /** How the topic must keep its records on Kafka: see {@link SourceOptions.cleanup}. */
  readonly cleanup?: 'compact' | 'forever'
}

/** Stateless value transform. */
export interface MapNode extends NodeBase {
  readonly kind: 'map'
  readonly fn: (value: unknown, record: Record<unknown>) => unknown
}

/** Stateless predicate. */
export interface FilterNode extends NodeBase {
  readonly kind: 'filter'
  readonly fn: (value: unknown, record: Record<unknown>) => boolean
}

/** Stateless one-to-many transform. */
export interface FlatMapNode extends NodeBase {
  readonly kind: 'flatMap'
  readonly fn: (value: unknown, record: Record<unknown>) => Iterable<unknown>
}

/** Re-keys records; downstream keyed state then sees the new key (via a repartition topic). */
export interface KeyByNode extends NodeBase {
  readonly kind: 'keyBy'
  readonly fn: (value: unknown, record: Record<unknown>) => string
  /** Serde for the repartition topic (default JSON). */
  readonly serde?: Serde<unknown>
}

/** Union of several streams. */
export interface MergeNode extends NodeBase {
  readonly kind: 'merge'
}

/** Stateful operator. `inputs[0]` is the keyed input; `broadcastInputs` are connected broadcast streams. */
export interface ProcessNode extends NodeBase {
  readonly kind: 'process'
  readonly factory: ProcessorFactory<unknown, unknown>
  readonly broadcastInputs: readonly Edge[]
  readonly stores: { readonly [name: string]: StoreSpec }
  readonly broadcastStores: { readonly [name: string]: BroadcastStoreSpec }
  /** Declared side outputs, readable with `Stream.sideOutput(name)`. */
  readonly sideOutputs: readonly string[]
}

/** Writes to a topic. */
export interface SinkNode extends NodeBase {
  readonly kind: 'sink'
  readonly topic: string
  readonly serde: Serde<unknown>
}

/** Any node of a topology graph. */
export type TopologyNode = SourceNode | MapNode | FilterNode | FlatMapNode | KeyByNode | MergeNode | ProcessNode | SinkNode

/** A validated, immutable dataflow graph. Built by {@link TopologyBuilder.build}. */
export interface Topology {
  /** Application id: prefixes internal topics, state directories and consumer groups. */
  readonly name: string
  /** Nodes in the order they were added (a topological order). */
  readonly nodes: readonly TopologyNode[]
  node(id: string): TopologyNode
}

/** Options of {@link TopologyBuilder.source}. */
export interface SourceOptions<V> {
  topic: string
  serde: Serde<V>
  /** Field of the value that holds the record key: see {@link SourceNode.keyField}. */
  keyField?: string
  timestampField?: string
  /**
   * Whether the records of this source carry event time (default true). Records of a source with
   * `eventTime: false` (configuration such as user profiles or audience memberships, whose values
   * usually have no time and take the broker's wall-clock timestamp) never move event time: not a
   * task's time, not its watermark, and its partitions never hold a task back; on Kafka they are
   * read as soon as fetched, ahead of records with event time. Their operators see the time
   * field if present, else time 0 (no time: not the broker's clock at publication, which would
   * differ between a replay and embedded mode). Broadcast sources never move event time,
   * whatever this says.
   */
  eventTime?: boolean
  /**
   * A configuration topic that must keep its records for a restart with fresh state to rebuild
   * from it: `compact` (the latest record per key: profiles) or `forever` (every record: changes
   * that several records per key add up, such as audience memberships). On Kafka the topic is
   * created so and an existing one set otherwise is refused at start-up;
   * `topics.overrides.<topic>.cleanup` in the config wins. Broadcast topics are compacted anyway.
   */
  cleanup?: 'compact' | 'forever'
}

/** Options of {@link Stream.process}. */
export interface ProcessOptions {
  stores?: { [name: string]: StoreSpec }
  broadcastStores?: { [name: string]: BroadcastStoreSpec }
  sideOutputs?: string[]
}

/** Options of {@link Stream.to}. */
export interface SinkOptions<V> {
  topic: string
  serde: Serde<V>
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/
const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/

/**
 * Fluent, typed builder of a topology. Every node takes a stable id first; ids name state,
 * metrics and log lines, so keep them when you change a topology.
 *
 * Mistakes are reported at once by a {@link TopologyError} that names the node and the fix;
 * {@link TopologyBuilder.build} checks the whole graph.
 */
export class TopologyBuilder {
  readonly name: string
  private readonly nodes: TopologyNode[] = []
  private readonly byId = new Map<string, TopologyNode>()
  private built = false

  constructor(name: string) {
    if (!ID_PATTERN.test(name)) {
      throw new TopologyError(`Topology name "${name}" is invalid: use letters, digits, '.', '_' or '-' (it prefixes topic and directory names).`)
    }
    this.name = name
  }

  /** Adds a keyed source reading `options.topic`. */
  source<V>(id: string, options: SourceOptions<V>): Stream<V> {
    this.checkSourceOptions(id, options)
    this.add({ kind: 'source', id, inputs: [], broadcast: false, ...options } as SourceNode)
    return new Stream<V>(this, { node: id, output: 'main' })
  }

  /** Adds a broadcast source: every task reads all of it. Connect it with {@link Stream.connect}. */
  broadcast<V>(id: string, options: SourceOptions<V>): BroadcastStream<V> {
    this.checkSourceOptions(id, options)
    this.add({ kind: 'source', id, inputs: [], broadcast: true, ...options } as SourceNode)
    return new BroadcastStream<V>(this, { node: id, output: 'main' })
  }

  /**
   * Validates and freezes the graph.
   * @throws TopologyError naming the node and the fix.
   */
  build(): Topology {
    if (this.built) throw new TopologyError(`Topology "${this.name}" was already built; create a new TopologyBuilder for another.`)
    validateGraph(this.name, this.nodes)
    this.built = true
    const nodes = Object.freeze([...this.nodes])
    const byId = new Map(this.byId)
    return Object.freeze({
      name: this.name,
      nodes,
      node(id: string): TopologyNode {
        const n = byId.get(id)
        if (!n) throw new TopologyError(`Topology "${nodes.length ? this.name : ''}" has no node "${id}".`)
        return n
      },
    })
  }

  /** @internal Adds a node; used by {@link Stream}. */
  add(node: TopologyNode): void {
    if (this.built) throw new TopologyError(`Cannot add node "${node.id}": topology "${this.name}" is already built.`)
    if (!ID_PATTERN.test(node.id)) {
      throw new TopologyError(`Node id "${node.id}" (${node.kind}) is invalid: start with a letter or digit, then use letters, digits, '.', '_' or '-' (at most 100).`)
    }
    const existing = this.byId.get(node.id)
    if (existing) {
      throw new TopologyError(`Node id "${node.id}" is used twice (a ${existing.kind} and a ${node.kind}); give each node a unique id.`)
    }
    for (const edge of [...node.inputs, ...(node.kind === 'process' ? node.broadcastInputs : [])]) {
      if (!this.byId.has(edge.node)) {
        throw new TopologyError(`Node "${node.id}" reads from "${edge.node}", which is not in topology "${this.name}"; streams cannot be shared between builders.`)
      }
    }
    this.nodes.push(node)
    this.byId.set(node.id, node)
  }

  /** @internal */
  nodeById(id: string): TopologyNode | undefined {
    return this.byId.get(id)
  }

  private checkSourceOptions<V>(id: string, options: SourceOptions<V>): void {
    if (!options || typeof options.topic !== 'string' || !TOPIC_PATTERN.test(options.topic)) {
      throw new TopologyError(`Source "${id}" needs a valid topic name (letters, digits, '.', '_', '-'), got ${JSON.stringify(options?.topic)}.`)
    }
    if (!isSerde(options.serde)) {
      throw new TopologyError(`Source "${id}" (topic ${options.topic}) has no serde: pass { serde: jsonSerde() } or another Serde.`)
    }
    if (options.eventTime !== undefined && typeof options.eventTime !== 'boolean') {
      throw new TopologyError(`Source "${id}" (topic ${options.topic}): eventTime must be true or false, got ${JSON.stringify(options.eventTime)}.`)
    }
  }
}

/** A stream of records with values of type V. Every method takes a stable node id first. */
export class Stream<V> {
  /** @internal */
  constructor(
    protected readonly builder: TopologyBuilder,
    /** @internal */ readonly edge: Edge,
  ) {}

  /** Transforms each value; key and timestamp are kept. */
  map<U>(id: string, fn: (value: V, record: Record<V>) => U): Stream<U> {
    requireFunction(id, 'map', fn)
    return this.chain<U>({ kind: 'map', id, inputs: [this.edge], fn: fn as MapNode['fn'] })
  }

  /** Keeps the records for which `fn` is true. */
  filter(id: string, fn: (value: V, record: Record<V>) => boolean): Stream<V> {
    requireFunction(id, 'filter', fn)
    return this.chain<V>({ kind: 'filter', id, inputs: [this.edge], fn: fn as FilterNode['fn'] })
  }

  /** Emits zero or more values per record. */
  flatMap<U>(id: string, fn: (value: V, record: Record<V>) => Iterable<U>): Stream<U> {
    requireFunction(id, 'flatMap', fn)
    return this.chain<U>({ kind: 'flatMap', id, inputs: [this.edge], fn: fn as FlatMapNode['fn'] })
  }

  /**
   * Re-keys the stream. Records are redistributed by the new key through an internal repartition
   * topic (`<topology>-<id>-repartition`), so keyed state downstream sees all records of a key.
   */
  keyBy(id: string, fn: (value: V, record: Record<V>) => string, options: { serde?: Serde<V> } = {}): Stream<V> {
    requireFunction(id, 'keyBy', fn)
    const node: KeyByNode = { kind: 'keyBy', id, inputs: [this.edge], fn: fn as KeyByNode['fn'] }
    return this.chain<V>(options.serde ? { ...node, serde: options.serde as Serde<unknown> } : node)
  }

  /** Union with other streams of the same value type (they must be co-partitioned by key). */
  merge(id: string, ...others: Stream<V>[]): Stream<V> {
    if (others.length === 0) throw new TopologyError(`Merge "${id}" needs at least one other stream: stream.merge("${id}", other).`)
    return this.chain<V>({ kind: 'merge', id, inputs: [this.edge, ...others.map((s) => s.edge)] })
  }

  /** Connects broadcast streams; call `.process(...)` on the result. */
  connect(...broadcasts: BroadcastStream<unknown>[]): ConnectedStream<V> {
    if (broadcasts.length === 0) throw new TopologyError('connect() needs at least one broadcast stream made with builder.broadcast(...).')
    for (const b of broadcasts) {
      if (!(b instanceof BroadcastStream)) {
        throw new TopologyError(`connect() takes broadcast streams only; "${(b as Stream<unknown>).edge?.node}" is a keyed stream: make it with builder.broadcast(...).`)
      }
    }
    return new ConnectedStream<V>(this.builder, this.edge, broadcasts.map((b) => b.edge))
  }

  /** Runs a stateful operator, one instance per task. */
  process<Out>(id: string, factory: ProcessorFactory<V, Out>, options: ProcessOptions = {}): ProcessedStream<Out> {
    return addProcess<Out>(this.builder, id, this.edge, [], factory as ProcessorFactory<unknown, unknown>, options)
  }

  /**
   * Windowed aggregation per key. Emits one final {@link WindowResult} per window once the watermark
   * passes its end plus `graceMs`; records later than that go to the `late` side output
   * (`.sideOutput('late')`), never silently dropped.
   */
  window<A>(id: string, options: WindowOptions<V, A>): ProcessedStream<WindowResult<A>> {
    checkWindowOptions(id, options as WindowOptions<unknown, unknown>)
    return addProcess<WindowResult<A>>(
      this.builder,
      id,
      this.edge,
      [],
      (() => windowProcessor(options)) as ProcessorFactory<unknown, unknown>,
      { stores: windowStores(options as WindowOptions<unknown, unknown>), sideOutputs: [LATE_OUTPUT] },
    )
  }

  /** Writes the stream to a topic. */
  to(id: string, options: SinkOptions<V>): void {
    if (!options || typeof options.topic !== 'string' || !TOPIC_PATTERN.test(options.topic)) {
      throw new TopologyError(`Sink "${id}" needs a valid topic name, got ${JSON.stringify(options?.topic)}.`)
    }
    if (!isSerde(options.serde)) {
      throw new TopologyError(`Sink "${id}" (topic ${options.topic}) has no serde: pass { serde: jsonSerde() } or another Serde.`)
    }
    this.builder.add({ kind: 'sink', id, inputs: [this.edge], topic: options.topic, serde: options.serde as Serde<unknown> })
  }

  protected chain<U>(node: TopologyNode): Stream<U> {
    this.builder.add(node)
    return new Stream<U>(this.builder, { node: node.id, output: 'main' })
  }
}

/** Output of a `process` node: a stream, plus access to the node's declared side outputs. */
export class ProcessedStream<V> extends Stream<V> {
  /** The named side output of this node, as a stream. */
  sideOutput<U = unknown>(name: string): Stream<U> {
    const node = this.builder.nodeById(this.edge.node)
    if (!node || node.kind !== 'process' || !node.sideOutputs.includes(name)) {
      const declared = node && node.kind === 'process' ? node.sideOutputs : []
      throw new TopologyError(
        `Node "${this.edge.node}" has no side output "${name}" (declared: ${declared.length ? declared.join(', ') : 'none'}); declare it with { sideOutputs: ["${name}"] }.`,
      )
    }
    return new Stream<U>(this.builder, { node: this.edge.node, output: name })
  }
}

/** A broadcast stream: only usable through {@link Stream.connect}. */
export class BroadcastStream<V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyBuilder,
    /** @internal */ readonly edge: Edge,
  ) {
    void this.builder
  }
}

/** A keyed stream connected to broadcast streams. */
export class ConnectedStream<V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyBuilder,
    private readonly edge: Edge,
    private readonly broadcasts: Edge[],
  ) {}

  /** Runs a stateful operator that also receives the broadcast records in `processBroadcast`. */
  process<Out>(id: string, factory: ProcessorFactory<V, Out>, options: ProcessOptions = {}): ProcessedStream<Out> {
    return addProcess<Out>(this.builder, id, this.edge, this.broadcasts, factory as ProcessorFactory<unknown, unknown>, options)
  }
}

function addProcess<Out>(
  builder: TopologyBuilder,
  id: string,
  edge: Edge,
  broadcastInputs: Edge[],
  factory: ProcessorFactory<unknown, unknown>,
  options: ProcessOptions,
): ProcessedStream<Out> {
  requireFunction(id, 'process', factory)
  const stores = { ...(options.stores ?? {}) }
  const broadcastStores = { ...(options.broadcastStores ?? {}) }
  for (const [name, spec] of Object.entries(stores)) checkStoreSpec(id, name, spec)
  for (const [name, spec] of Object.entries(broadcastStores)) {
    if (!spec || spec.kind !== 'broadcast') {
      throw new TopologyError(`Process "${id}": broadcast store "${name}" must be declared with broadcastStore().`)
    }
    if (name in stores) throw new TopologyError(`Process "${id}": store name "${name}" is used for a keyed and a broadcast store; rename one.`)
  }
  if (Object.keys(broadcastStores).length > 0 && broadcastInputs.length === 0) {
    throw new TopologyError(`Process "${id}" declares broadcast stores but no broadcast input: use stream.connect(broadcastStream).process("${id}", ...).`)
  }
  const sideOutputs = [...(options.sideOutputs ?? [])]
  for (const name of sideOutputs) {
    if (name === 'main' || !ID_PATTERN.test(name)) throw new TopologyError(`Process "${id}": side output name "${name}" is invalid (and "main" is reserved).`)
  }
  builder.add({ kind: 'process', id, inputs: [edge], broadcastInputs, factory, stores, broadcastStores, sideOutputs })
  return new ProcessedStream<Out>(builder, { node: id, output: 'main' })
}

function checkStoreSpec(nodeId: string, name: string, spec: StoreSpec): void {
  if (!ID_PATTERN.test(name)) throw new TopologyError(`Process "${nodeId}": store name "${name}" is invalid; use letters, digits, '.', '_' or '-'.`)
  if (!spec || !['value', 'map', 'window'].includes(spec.kind)) {
    throw new TopologyError(`Process "${nodeId}": store "${name}" has unknown kind ${JSON.stringify(spec?.kind)}; declare it with valueStore(), mapStore() or windowStore().`)
  }
  if (spec.kind === 'window' && !(typeof spec.retentionMs === 'number' && spec.retentionMs > 0)) {
    throw new TopologyError(`Process "${nodeId}": window store "${name}" needs a positive retentionMs: windowStore({ retentionMs: 86_400_000 }).`)
  }
  if (spec.ttlMs !== undefined && !(typeof spec.ttlMs === 'number' && spec.ttlMs > 0)) {
    throw new TopologyError(`Process "${nodeId}": store "${name}" has ttlMs ${String(spec.ttlMs)}; use a positive number of milliseconds or leave it out.`)
  }
}

function requireFunction(id: string, kind: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new TopologyError(`${kind} "${id}" needs a function, got ${typeof fn}.`)
}

function isSerde(serde: unknown): serde is Serde<unknown> {
  const s = serde as Serde<unknown> | undefined
  return !!s && typeof s.serialize === 'function' && typeof s.deserialize === 'function'
}

/**
 * Checks a whole graph: at least one keyed source and one sink, inputs that exist, no cycles,
 * side outputs that exist, and no sink writing to a topic that the same topology reads.
 * @throws TopologyError naming the node and the fix.
 */
export function validateGraph(name: string, nodes: readonly TopologyNode[]): void {
  const byId = new Map<string, TopologyNode>()
  for (const n of nodes) {
    if (byId.has(n.id)) throw new TopologyError(`Node id "${n.id}" is used twice; give each node a unique id.`)
    byId.set(n.id, n)
  }
  if (!nodes.some((n) => n.kind === 'source' && !n.broadcast)) {
    throw new TopologyError(`Topology "${name}" has no keyed source: add builder.source("id", { topic, serde }).`)
  }
  if (!nodes.some((n) => n.kind === 'sink')) {
    throw new TopologyError(`Topology "${name}" has no sink: its results would go nowhere; add .to("id", { topic, serde }).`)
  }
  const sourceTopics = new Set(nodes.filter((n): n is SourceNode => n.kind === 'source').map((n) => n.topic))
  for (const n of nodes) {
    const edges = [...n.inputs, ...(n.kind === 'process' ? n.broadcastInputs : [])]
    for (const e of edges) {
      const up = byId.get(e.node)
      if (!up) throw new TopologyError(`Node "${n.id}" reads from unknown node "${e.node}".`)
      if (up.kind === 'sink') throw new TopologyError(`Node "${n.id}" reads from sink "${up.id}"; a sink has no output: read its topic with a source instead.`)
      if (e.output !== 'main' && !(up.kind === 'process' && up.sideOutputs.includes(e.output))) {
        throw new TopologyError(`Node "${n.id}" reads side output "${e.output}" of "${up.id}", which does not declare it.`)
      }
      if (up.kind === 'source' && up.broadcast && !(n.kind === 'process' && n.broadcastInputs.includes(e))) {
        throw new TopologyError(`Node "${n.id}" reads broadcast source "${up.id}" as a keyed stream; use stream.connect(broadcast).process(...).`)
      }
    }
    if (n.kind === 'sink' && sourceTopics.has(n.topic)) {
      throw new TopologyError(`Sink "${n.id}" writes to topic "${n.topic}", which this topology also reads: that loops records back; write to another topic.`)
    }
  }
  // Cycle check (Kahn's algorithm); the fluent builder cannot make cycles, a hand-made graph can.
  const indegree = new Map<string, number>()
  const down = new Map<string, string[]>()
  for (const n of nodes) {
    indegree.set(n.id, 0)
    down.set(n.id, [])
  }
  for (const n of nodes) {
    for (const e of [...n.inputs, ...(n.kind === 'process' ? n.broadcastInputs : [])]) {
      indegree.set(n.id, (indegree.get(n.id) ?? 0) + 1)
      down.get(e.node)?.push(n.id)
    }
  }
  const queue = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id)
  let seen = 0
  while (queue.length) {
    const id = queue.shift() as string
    seen++
    for (const d of down.get(id) ?? []) {
      const left = (indegree.get(d) ?? 0) - 1
      indegree.set(d, left)
      if (left === 0) queue.push(d)
    }
  }
  if (seen !== nodes.length) {
    const stuck = nodes.filter((n) => (indegree.get(n.id) ?? 0) > 0).map((n) => n.id)
    throw new TopologyError(`Topology "${name}" has a cycle through ${stuck.join(' → ')}; dataflow graphs must be acyclic.`)
  }
}
