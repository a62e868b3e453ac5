import type { Topology, TopologyNode } from '../api/topology.ts'
import type { Plan } from './plan.ts'
import { compilePlan } from './plan.ts'

function nodeLabel(n: TopologyNode): string {
  switch (n.kind) {
    case 'source':
      return `${n.broadcast ? 'Broadcast source' : 'Source'}: ${n.id} (topic: ${n.topic}, serde: ${n.serde.name}${n.keyField ? `, key: ${n.keyField}` : ''}${n.timestampField ? `, time: ${n.timestampField}` : ''})`
    case 'sink':
      return `Sink: ${n.id} (topic: ${n.topic}, serde: ${n.serde.name})`
    case 'process': {
      const stores = Object.entries(n.stores).map(([name, s]) => `${name}[${s.kind}${s.ttlMs ? `, ttl ${s.ttlMs}ms` : ''}${s.retentionMs ? `, retention ${s.retentionMs}ms` : ''}]`)
      const bstores = Object.keys(n.broadcastStores).map((name) => `${name}[broadcast]`)
      const all = [...stores, ...bstores]
      return `Processor: ${n.id}${all.length ? ` (stores: ${all.join(', ')})` : ''}${n.sideOutputs.length ? ` (side outputs: ${n.sideOutputs.join(', ')})` : ''}`
    }
    case 'keyBy':
      return `KeyBy: ${n.id}`
    default:
      return `${n.kind[0]?.toUpperCase()}${n.kind.slice(1)}: ${n.id}`
  }
}

function downstreamOf(topology: Topology): Map<string, Array<{ to: string; output: string; broadcast: boolean }>> {
  const down = new Map<string, Array<{ to: string; output: string; broadcast: boolean }>>()
  const add = (from: string, to: string, output: string, broadcast: boolean): void => {
    const list = down.get(from) ?? []
    list.push({ to, output, broadcast })
    down.set(from, list)
  }
  for (const n of topology.nodes) {
    for (const e of n.inputs) add(e.node, n.id, e.output, false)
    if (n.kind === 'process') for (const e of n.broadcastInputs) add(e.node, n.id, e.output, true)
  }
  return down
}

/** The graph as indented text, one block per sub-topology (like Kafka Streams' describe()). */
export function describeText(topology: Topology, plan: Plan = compilePlan(topology)): string {
  const down = downstreamOf(topology)
  const lines: string[] = [`Topology: ${topology.name}`]
  const arrows = (id: string): void => {
    for (const d of down.get(id) ?? []) lines.push(`      --> ${d.to}${d.output !== 'main' ? ` [${d.output}]` : ''}${d.broadcast ? ' (broadcast)' : ''}`)
  }
  for (const sub of plan.subtopologies) {
    const keyed = sub.sources.filter((s) => !s.broadcast && !s.rerouted).map((s) => s.topic)
    lines.push(`  Sub-topology ${sub.id} (one task per partition of: ${keyed.join(', ')})`)
    for (const s of sub.sources) {
      // A source's topic of misplaced records is shown on the source itself.
      if (s.rerouted) continue
      if (s.internal) lines.push(`    Source: ${s.nodeId} (repartition topic: ${s.topic})`)
      else lines.push(`    ${nodeLabel(topology.node(s.nodeId))}${s.misplacedTopic ? ` (records on a partition their key does not hash to go through ${s.misplacedTopic})` : ''}`)
      // Arrows from a keyBy belong to the sub-topology that reads its repartition topic.
      for (const d of down.get(s.nodeId) ?? []) {
        if (!sub.nodes.some((n) => n.id === d.to)) continue
        lines.push(`      --> ${d.to}${d.broadcast ? ' (broadcast)' : ''}`)
      }
    }
    for (const n of sub.nodes) {
      if (n.kind === 'keyBy') {
        lines.push(`    ${nodeLabel(n)} (writes to repartition topic: ${plan.repartitionTopics.get(n.id)})`)
        continue
      }
      lines.push(`    ${nodeLabel(n)}`)
      arrows(n.id)
    }
  }
  if (plan.repartitionTopics.size) {
    lines.push('  Internal topics:')
    for (const t of plan.repartitionTopics.values()) lines.push(`    ${t}`)
  }
  return `${lines.join('\n')}\n`
}

/** Mermaid ids: one-to-one with names ('_' doubled, other characters as _xx hex), never colliding. */
const mid = (s: string): string => s.replace(/[^A-Za-z0-9]/g, (ch) => (ch === '_' ? '__' : `_${ch.charCodeAt(0).toString(16).padStart(2, '0')}`))
const esc = (s: string): string => s.replace(/"/g, '#quot;')

/** The graph as a Mermaid flowchart: topics as cylinders, operators as boxes, sub-topologies as groups. */
export function describeMermaid(topology: Topology, plan: Plan = compilePlan(topology)): string {
  const lines: string[] = ['flowchart LR']
  const topics = new Set<string>()
  for (const sub of plan.subtopologies) {
    lines.push(`  subgraph sub${sub.id}["sub-topology ${sub.id}"]`)
    for (const s of sub.sources) {
      if (!s.internal) lines.push(`    n_${mid(s.nodeId)}_${sub.id}["${esc(`${s.broadcast ? 'broadcast ' : ''}source ${s.nodeId}`)}"]`)
    }
    for (const n of sub.nodes) {
      if (n.kind === 'keyBy') lines.push(`    n_${mid(n.id)}{{"${esc(`keyBy ${n.id}`)}"}}`)
      else if (n.kind === 'process') {
        const stores = [...Object.keys(n.stores), ...Object.keys(n.broadcastStores)]
        lines.push(`    n_${mid(n.id)}["${esc(`process ${n.id}`)}${stores.length ? `<br/>${esc(`stores: ${stores.join(', ')}`)}` : ''}"]`)
      } else lines.push(`    n_${mid(n.id)}["${esc(`${n.kind} ${n.id}`)}"]`)
    }
    lines.push('  end')
  }
  for (const sub of plan.subtopologies) {
    const inSub = new Set(sub.nodes.map((n) => n.id))
    for (const s of sub.sources) {
      if (s.rerouted) continue
      topics.add(s.topic)
      const target = s.internal ? null : `n_${mid(s.nodeId)}_${sub.id}`
      if (target) lines.push(`  t_${mid(s.topic)} --> ${target}`)
      for (const n of sub.nodes) {
        const edges = [...n.inputs.map((e) => ({ e, b: false })), ...(n.kind === 'process' ? n.broadcastInputs.map((e) => ({ e, b: true })) : [])]
        for (const { e, b } of edges) {
          if (e.node !== s.nodeId) continue
          const from = s.internal ? `t_${mid(s.topic)}` : (target as string)
          lines.push(`  ${from} ${b ? '-.->' : '-->'} n_${mid(n.id)}`)
        }
      }
    }
    for (const n of sub.nodes) {
      for (const e of n.inputs) {
        if (!inSub.has(e.node)) continue
        lines.push(`  n_${mid(e.node)} -->${e.output !== 'main' ? `|${esc(e.output)}|` : ''} n_${mid(n.id)}`)
      }
      if (n.kind === 'sink') {
        topics.add(n.topic)
        lines.push(`  n_${mid(n.id)} --> t_${mid(n.topic)}`)
      }
      if (n.kind === 'keyBy') {
        const t = plan.repartitionTopics.get(n.id) as string
        topics.add(t)
        lines.push(`  n_${mid(n.id)} --> t_${mid(t)}`)
      }
    }
  }
  for (const t of topics) lines.push(`  t_${mid(t)}[("${esc(t)}")]`)
  return `${lines.join('\n')}\n`
}
