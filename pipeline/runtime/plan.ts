import { TopologyError } from '../api/errors.ts'
import type { Serde } from '../api/serde.ts'
import { jsonSerde } from '../api/serde.ts'
import type { SourceNode, Topology, TopologyNode } from '../api/topology.ts'

/** An input of a sub-topology: a user topic or an internal repartition topic. */
export interface PlanSource {
  /** Node id that downstream edges refer to (the source node, or the keyBy node it replaces). */
  nodeId: string
  topic: string
  serde: Serde<unknown>
  keyField?: string
  timestampField?: string
  broadcast: boolean
  /**
   * Whether a record read here moves event time: false for broadcast sources and for sources
   * declared with `eventTime: false` (configuration), true for every other input, repartition
   * topics included (a keyBy's records carry the event time of the records they came from).
   */
  timed: boolean
  internal: boolean
  /**
   * Keyed user topics (non-broadcast, with a `keyField`): the internal topic where a record read
   * from a partition its key does not hash to is sent, to be processed where it belongs.
   */
  misplacedTopic?: string
  /** The internal source reading a {@link PlanSource.misplacedTopic}: records already placed by their key field. */
  rerouted?: boolean
  /**
   * A broadcast topic that an earlier sub-topology reads too: that one dead-letters the topic's
   * undecodable records, so that one bad record gives one dead letter (branch `relations`: the
   * decision flow's relations sub-topology reads config.tasks beside the Task Center's).
   */
  reportedElsewhere?: boolean
}

/**
 * A connected piece of a topology between repartition topics: it runs as one task per input
 * partition, and its keyed sources must be co-partitioned.
 */
export interface SubTopology {
  id: number
  sources: PlanSource[]
  /** Non-source nodes, in topological order. keyBy nodes here write to their repartition topic. */
  nodes: TopologyNode[]
}

/** How a topology executes: sub-topologies, and the internal topics between them. */
export interface Plan {
  topology: Topology
  subtopologies: SubTopology[]
  /** Repartition topic of each keyBy node. */
  repartitionTopics: Map<string, string>
  /**
   * Repartition topic of each keyed source node (see {@link PlanSource.misplacedTopic}) with the
   * user topic it serves: it has that topic's partition count.
   */
  sourceRepartitionTopics: Map<string, { topic: string; sourceTopic: string }>
  /** All topics written by sinks. */
  sinkTopics: string[]
}

/** Name of the internal topic behind a keyBy node. */
export function repartitionTopic(app: string, nodeId: string): string {
  return `${app}-${nodeId}-repartition`
}

/**
 * Splits a topology at its keyBy nodes into sub-topologies (as Kafka Streams does): each keyBy
 * writes to an internal repartition topic, which a downstream sub-topology reads.
 */
export function compilePlan(topology: Topology): Plan {
  const nodes = topology.nodes
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    let r = x
    while (parent.get(r) !== r) r = parent.get(r) as string
    parent.set(x, r)
    return r
  }
  const union = (a: string, b: string): void => {
    parent.set(find(a), find(b))
  }
  for (const n of nodes) if (!(n.kind === 'source' && n.broadcast)) parent.set(n.id, n.id)
  const byId = new Map(nodes.map((n) => [n.id, n]))
  for (const n of nodes) {
    if (n.kind === 'source') continue
    for (const e of n.inputs) {
      const up = byId.get(e.node) as TopologyNode
      // A keyBy ends its group; the downstream nodes form (or join) a group that reads its topic.
      if (up.kind === 'keyBy') continue
      union(n.id, e.node)
    }
  }
  const repartitionTopics = new Map<string, string>()
  for (const n of nodes) if (n.kind === 'keyBy') repartitionTopics.set(n.id, repartitionTopic(topology.name, n.id))

  const groups = new Map<string, SubTopology>()
  const groupOf = (id: string): SubTopology => {
    const root = find(id)
    let g = groups.get(root)
    if (!g) {
      g = { id: groups.size, sources: [], nodes: [] }
      groups.set(root, g)
    }
    return g
  }
  const sourceRepartitionTopics = new Map<string, { topic: string; sourceTopic: string }>()
  for (const n of nodes) {
    if (n.kind === 'source') {
      if (n.broadcast) continue
      const g = groupOf(n.id)
      const s = sourceOf(n)
      g.sources.push(s)
      if (s.keyField !== undefined) {
        // Producers may place records by another key or partitioner than Kafka's default on the
        // key field; such records are routed through this topic (Kafka Streams' answer to a
        // changed key), which the same sub-topology reads as a second input of the same node.
        const topic = repartitionTopic(topology.name, n.id)
        s.misplacedTopic = topic
        sourceRepartitionTopics.set(n.id, { topic, sourceTopic: n.topic })
        g.sources.push({ ...sourceOf(n), topic, internal: true, rerouted: true })
      }
      continue
    }
    const g = groupOf(n.id)
    g.nodes.push(n)
    for (const e of n.inputs) {
      const up = byId.get(e.node) as TopologyNode
      if (up.kind === 'keyBy' && !g.sources.some((s) => s.nodeId === up.id)) {
        g.sources.push({
          nodeId: up.id,
          topic: repartitionTopics.get(up.id) as string,
          serde: up.serde ?? (jsonSerde() as Serde<unknown>),
          broadcast: false,
          timed: true,
          internal: true,
        })
      }
    }
    if (n.kind === 'process') {
      for (const e of n.broadcastInputs) {
        const b = byId.get(e.node) as SourceNode
        if (!g.sources.some((s) => s.nodeId === b.id)) g.sources.push(sourceOf(b))
      }
    }
  }
  const subtopologies = [...groups.values()]
  const broadcastReaders = new Set<string>()
  for (const g of subtopologies) {
    for (const s of g.sources) {
      if (!s.broadcast) continue
      if (broadcastReaders.has(s.topic)) s.reportedElsewhere = true
      broadcastReaders.add(s.topic)
    }
  }
  for (const g of subtopologies) {
    if (!g.sources.some((s) => !s.broadcast)) {
      throw new TopologyError(`Nodes ${g.nodes.map((n) => `"${n.id}"`).join(', ')} read no keyed source; connect them to builder.source(...).`)
    }
  }
  const sinkTopics = nodes.filter((n) => n.kind === 'sink').map((n) => (n as { topic: string }).topic)
  return { topology, subtopologies, repartitionTopics, sourceRepartitionTopics, sinkTopics }
}

function sourceOf(n: SourceNode): PlanSource {
  const s: PlanSource = { nodeId: n.id, topic: n.topic, serde: n.serde, broadcast: n.broadcast, timed: !n.broadcast && n.eventTime !== false, internal: false }
  if (n.keyField !== undefined) s.keyField = n.keyField
  if (n.timestampField !== undefined) s.timestampField = n.timestampField
  return s
}
