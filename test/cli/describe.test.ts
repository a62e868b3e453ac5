import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TopologyBuilder, broadcastStore, jsonSerde, mapStore, valueStore, windowStore } from '../../pipeline/api/index.ts'
import type { Aggregator, Processor, ProcessorContext, Topology, TopologyNode } from '../../pipeline/api/index.ts'
import { describeMermaid, describeText } from '../../pipeline/runtime/describe.ts'
import type { Run } from '../hermes-cli.ts'
import { runHermes } from '../hermes-cli.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface Click {
  userId: string
  itemId: string
  ts: number
}

const count: Aggregator<Click, number> = { init: () => 0, add: (n) => n + 1 }

const enrich = (): Processor<Click, Click> => {
  let ctx!: ProcessorContext<Click>
  return {
    init(c) {
      ctx = c
    },
    process(r) {
      ctx.forward(r)
    },
    processBroadcast() {},
  }
}

/**
 * clicks --keyBy(by-item)--> [repartition] --> enrich (connected to the `rules` broadcast, with
 * stores) --> per-item window --+--> count-tag --+--> all (merge) --> item-activity
 *                               +--late--> late-tag --+
 *                               +--late--> late-out --> clicks-late
 */
function shopTopology(): Topology {
  const b = new TopologyBuilder('shop')
  const clicks = b.source<Click>('clicks', { topic: 'clicks', serde: jsonSerde(), keyField: 'userId', timestampField: 'ts' })
  const rules = b.broadcast<{ id: string }>('rules', { topic: 'rules', serde: jsonSerde() })
  const perItem = clicks
    .keyBy('by-item', (v) => v.itemId)
    .connect(rules)
    .process('enrich', enrich, {
      stores: { seen: valueStore({ ttlMs: 60_000 }), recent: windowStore({ retentionMs: 3_600_000 }), tags: mapStore() },
      broadcastStores: { ruleset: broadcastStore() },
    })
    .window('per-item', { window: { type: 'tumbling', sizeMs: 60_000 }, graceMs: 1000, aggregate: count })
  const counted = perItem.map('count-tag', (w) => ({ kind: 'count', w }) as { kind: string; w: unknown })
  const late = perItem.sideOutput<Click>('late').map('late-tag', (c) => ({ kind: 'late', w: c }) as { kind: string; w: unknown })
  counted.merge('all', late).to('all-out', { topic: 'item-activity', serde: jsonSerde() })
  perItem.sideOutput('late').to('late-out', { topic: 'clicks-late', serde: jsonSerde() })
  return b.build()
}

/** The text of each sub-topology block, by id. */
function subTopologyBlocks(text: string): Map<number, string> {
  const blocks = new Map<number, string>()
  const parts = text.split(/^(?=  Sub-topology |  Internal topics:)/m)
  for (const part of parts) {
    const m = /^ {2}Sub-topology (\d+) /.exec(part)
    if (m) blocks.set(Number(m[1]), part)
  }
  return blocks
}

/** The `-->` lines printed under the line that starts with `header` (after indentation). */
function arrowsUnder(text: string, header: string): string[] {
  const lines = text.split('\n')
  const i = lines.findIndex((l) => l.trimStart().startsWith(header))
  expect(i, `no line starting with "${header}" in:\n${text}`).toBeGreaterThanOrEqual(0)
  const out: string[] = []
  for (const l of lines.slice(i + 1)) {
    if (!l.trimStart().startsWith('-->')) break
    out.push(l.trim())
  }
  return out
}

interface MermaidGraph {
  /** Mermaid node id -> label (HTML line breaks and what follows removed). */
  labels: Map<string, string>
  /** Every label, raw, including subgraph titles. */
  rawLabels: string[]
  /** Topic cylinder nodes: label -> id. */
  cylinders: Map<string, string>
  /** Edges as `fromLabel -->|output| toLabel`, with labels instead of ids. */
  edges: string[]
}

const NODE_DECL = /^\s*(?:subgraph\s+)?([A-Za-z0-9_]+)(\[\("|\{\{"|\[")(.*?)("\)\]|"\}\}|"\])\s*$/
const EDGE = /^\s*([A-Za-z0-9_]+)\s+(-->|-\.->)(?:\|([^|]*)\|)?\s+([A-Za-z0-9_]+)\s*$/

function parseMermaid(src: string): MermaidGraph {
  const g: MermaidGraph = { labels: new Map(), rawLabels: [], cylinders: new Map(), edges: [] }
  const edgeLines: Array<[string, string, string | undefined, string]> = []
  for (const line of src.split('\n').slice(1)) {
    if (!line.trim() || line.trim() === 'end') continue
    const decl = NODE_DECL.exec(line)
    if (decl) {
      const [, id, open, label] = decl as unknown as [string, string, string, string]
      g.rawLabels.push(label)
      if (line.trimStart().startsWith('subgraph')) continue
      g.labels.set(id, label.split('<br/>')[0] as string)
      if (open === '[("') g.cylinders.set(label, id)
      continue
    }
    const edge = EDGE.exec(line)
    expect(edge, `unexpected Mermaid line: ${line}`).not.toBeNull()
    const [, from, arrow, output, to] = edge as unknown as [string, string, string, string | undefined, string]
    edgeLines.push([from, arrow, output, to])
  }
  for (const [from, arrow, output, to] of edgeLines) {
    expect(g.labels.has(from), `edge from undeclared node ${from}`).toBe(true)
    expect(g.labels.has(to), `edge to undeclared node ${to}`).toBe(true)
    g.edges.push(`${g.labels.get(from)} ${arrow}${output ? `|${output}|` : ''} ${g.labels.get(to)}`)
  }
  return g
}

describe('describeText', () => {
  const text = describeText(shopTopology())

  it('prints one block per sub-topology, split at the keyBy', () => {
    expect(text.startsWith('Topology: shop\n')).toBe(true)
    const blocks = subTopologyBlocks(text)
    expect([...blocks.keys()]).toEqual([0, 1])
    expect(blocks.get(0)).toContain('Sub-topology 0 (one task per partition of: clicks)')
    expect(blocks.get(1)).toContain('Sub-topology 1 (one task per partition of: shop-by-item-repartition)')
    expect(blocks.get(0)).toContain('KeyBy: by-item')
    expect(blocks.get(0)).not.toContain('Processor:')
    for (const line of ['Processor: enrich', 'Processor: per-item', 'Map: count-tag', 'Map: late-tag', 'Merge: all', 'Sink: all-out', 'Sink: late-out']) {
      expect(blocks.get(1)).toContain(line)
    }
  })

  it('shows sources with their topics, serdes, key and time fields', () => {
    expect(text).toContain('Source: clicks (topic: clicks, serde: json, key: userId, time: ts)')
    expect(text).toContain('Broadcast source: rules (topic: rules, serde: json)')
    expect(arrowsUnder(text, 'Source: clicks')).toEqual(['--> by-item'])
    expect(arrowsUnder(text, 'Broadcast source: rules')).toEqual(['--> enrich (broadcast)'])
  })

  it('shows the repartition topic on both sides of a keyBy and lists it as internal', () => {
    expect(text).toContain('KeyBy: by-item (writes to repartition topic: shop-by-item-repartition)')
    expect(subTopologyBlocks(text).get(1)).toContain('Source: by-item (repartition topic: shop-by-item-repartition)')
    expect(arrowsUnder(text, 'Source: by-item (repartition')).toEqual(['--> enrich'])
    expect(text).toMatch(/ {2}Internal topics:\n {4}shop-by-item-repartition\n$/)
  })

  it('shows each store with its kind, TTL and retention, broadcast stores included', () => {
    expect(text).toContain('Processor: enrich (stores: seen[value, ttl 60000ms], recent[window, retention 3600000ms], tags[map], ruleset[broadcast])')
    expect(text).toContain('Processor: per-item (stores: windows[map]) (side outputs: late)')
  })

  it('marks side-output arrows with the output name and merges with an arrow from each input', () => {
    expect(arrowsUnder(text, 'Processor: per-item').sort()).toEqual(['--> count-tag', '--> late-out [late]', '--> late-tag [late]'])
    expect(arrowsUnder(text, 'Map: count-tag')).toEqual(['--> all'])
    expect(arrowsUnder(text, 'Map: late-tag')).toEqual(['--> all'])
    expect(arrowsUnder(text, 'Merge: all')).toEqual(['--> all-out'])
    expect(text).toContain('Sink: all-out (topic: item-activity, serde: json)')
    expect(text).toContain('Sink: late-out (topic: clicks-late, serde: json)')
  })
})

describe('describeMermaid', () => {
  const topology = shopTopology()
  const src = describeMermaid(topology)
  const graph = parseMermaid(src)

  it('starts with flowchart LR and groups nodes by sub-topology', () => {
    expect(src.split('\n')[0]).toBe('flowchart LR')
    expect(src).toContain('subgraph sub0["sub-topology 0"]')
    expect(src).toContain('subgraph sub1["sub-topology 1"]')
    expect(src.match(/^\s*end$/gm)).toHaveLength(2)
  })

  it('declares each topic once as a cylinder node', () => {
    for (const topic of ['clicks', 'rules', 'shop-by-item-repartition', 'item-activity', 'clicks-late']) {
      expect(src.split(`[("${topic}")]`)).toHaveLength(2)
    }
    expect([...graph.cylinders.keys()].sort()).toEqual(['clicks', 'clicks-late', 'item-activity', 'rules', 'shop-by-item-repartition'])
  })

  it('draws an edge for every edge of the graph, through topics at the keyBy, and no other', () => {
    expect(graph.edges.sort()).toEqual(
      [
        'clicks --> source clicks',
        'source clicks --> keyBy by-item',
        'keyBy by-item --> shop-by-item-repartition',
        'shop-by-item-repartition --> process enrich',
        'rules --> broadcast source rules',
        'broadcast source rules -.-> process enrich',
        'process enrich --> process per-item',
        'process per-item --> map count-tag',
        'process per-item -->|late| map late-tag',
        'process per-item -->|late| sink late-out',
        'map count-tag --> merge all',
        'map late-tag --> merge all',
        'merge all --> sink all-out',
        'sink all-out --> item-activity',
        'sink late-out --> clicks-late',
      ].sort(),
    )
    // Every node of the topology appears with at least one edge.
    const words = new Set(graph.edges.flatMap((e) => e.split(' ')))
    for (const n of topology.nodes) expect(words.has(n.id), `node ${n.id} has no edge`).toBe(true)
  })

  it('lists the stores of a process node in its label', () => {
    expect(src).toContain('"process enrich<br/>stores: seen, recent, tags, ruleset"')
  })

  it('escapes double quotes inside labels', () => {
    // The builder refuses quotes in names, so a store and a topic are renamed by hand.
    const quoted: TopologyNode[] = topology.nodes.map((n) => {
      if (n.kind === 'process' && n.id === 'enrich') return { ...n, stores: { 'say "cheese"': valueStore() } }
      if (n.kind === 'sink' && n.id === 'all-out') return { ...n, topic: 'item "activity"' }
      return n
    })
    const t: Topology = { name: 'shop', nodes: quoted, node: (id) => quoted.find((n) => n.id === id) as TopologyNode }
    const out = parseMermaid(describeMermaid(t))
    for (const label of [...graph.rawLabels, ...out.rawLabels]) expect(label).not.toContain('"')
    expect(out.rawLabels).toContain('item #quot;activity#quot;')
    expect(out.rawLabels.some((l) => l.includes('stores: say #quot;cheese#quot;'))).toBe(true)
  })
})

/** Runs `hermes ...args` in the package root, without HERMES_* variables of this process. */
const hermes = (...args: string[]): Promise<Run> => runHermes(args, {}, 30_000)

describe('hermes CLI', () => {
  let tmp: string
  let badConfig: string
  const runs: { [name: string]: Promise<Run> } = {}

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'hermes-cli-'))
    badConfig = join(tmp, 'bad.yaml')
    writeFileSync(badConfig, 'runtime:\n  stateBackend: disk\n')
    // The child processes start at once; each test awaits its own.
    runs.mermaid = hermes('describe', 'activity-counts', '--format', 'mermaid')
    runs.text = hermes('describe', 'activity-counts', '--format', 'text')
    runs.both = hermes('describe', 'activity-counts')
    runs.unknown = hermes('describe', 'no-such-topology')
    runs.validate = hermes('validate', 'activity-counts')
    runs.badConfig = hermes('validate', 'activity-counts', '-c', badConfig)
  })

  afterAll(async () => {
    await Promise.all(Object.values(runs))
    rmSync(tmp, { recursive: true, force: true })
  })

  it('describe --format mermaid prints only a mermaid block', async () => {
    const r = await (runs.mermaid as Promise<Run>)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.startsWith('```mermaid\nflowchart LR\n')).toBe(true)
    expect(r.stdout.endsWith('\n```\n')).toBe(true)
    expect(r.stdout).not.toContain('Topology:')
    const graph = parseMermaid(r.stdout.slice('```mermaid\n'.length, -'```\n'.length))
    expect([...graph.cylinders.keys()].sort()).toEqual(['behavior-events', 'behavior-events-late', 'user-activity-hourly', 'user-sessions'])
    expect(graph.edges).toContain('process hourly-activity -->|late| sink hourly-late-out')
  })

  it('describe --format text prints only the text view', async () => {
    const r = await (runs.text as Promise<Run>)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.startsWith('Topology: activity-counts\n')).toBe(true)
    expect(r.stdout).toContain('Source: behavior-events (topic: behavior-events, serde: json, key: userId, time: ts)')
    expect(r.stdout).toContain('--> hourly-late-out [late]')
    expect(r.stdout).not.toContain('```')
    expect(r.stdout).not.toContain('flowchart')
  })

  it('describe prints the text view, then the mermaid block, by default', async () => {
    const r = await (runs.both as Promise<Run>)
    expect(r.code, r.stderr).toBe(0)
    const text = r.stdout.indexOf('Topology: activity-counts')
    const mermaid = r.stdout.indexOf('```mermaid\nflowchart LR')
    expect(text).toBe(0)
    expect(mermaid).toBeGreaterThan(text)
  })

  it('describe of an unknown topology exits with 2 and says where it looked', async () => {
    const r = await (runs.unknown as Promise<Run>)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('topology "no-such-topology" not found')
    expect(r.stderr).toContain(join(ROOT, 'topologies', 'no-such-topology.ts'))
  })

  it('validate exits 0 and prints an ok line for the topology and the configuration', async () => {
    const r = await (runs.validate as Promise<Run>)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('ok: topology activity-counts (6 nodes, 1 sub-topologies)')
    expect(r.stdout).toContain('ok: configuration')
  })

  it('validate with a bad config file exits 2 naming the field, the allowed values and the file', async () => {
    const r = await (runs.badConfig as Promise<Run>)
    expect(r.code).toBe(2)
    expect(r.stdout).not.toContain('ok:')
    expect(r.stderr).toContain('"runtime.stateBackend"')
    expect(r.stderr).toMatch(/rocksdb.*memory/)
    expect(r.stderr).toContain('got "disk"')
    expect(r.stderr).toContain(badConfig)
  })
})

describe('mermaid ids', () => {
  it('stay distinct for node ids that differ only in punctuation', () => {
    const b = new TopologyBuilder('ids')
    const s = b.source('in', { topic: 'in-topic', serde: jsonSerde() })
    s.map('double-it', (v) => v).to('a', { topic: 'out-a', serde: jsonSerde() })
    s.map('double_it', (v) => v).to('b', { topic: 'out-b', serde: jsonSerde() })
    s.map('in_0', (v) => v).to('c', { topic: 'out-c', serde: jsonSerde() })
    const graph = parseMermaid(describeMermaid(b.build()))
    // One label per declared id: a collision would merge two nodes and lose a label.
    expect([...graph.labels.values()].filter((l) => /double|in_0/.test(l)).sort()).toEqual(['map double-it', 'map double_it', 'map in_0'])
    expect(graph.labels.size).toBe(1 + 3 + 3 + 4) // source, maps, sinks, topics
    expect(graph.edges.some((e) => /^(\S+ \S+) --> \1$/.test(e))).toBe(false)
  })
})

describe('hermes produce and consume (embedded)', () => {
  it('appends JSONL to a topic partitioned by key and prints it back, keeping malformed lines for the consumer to judge', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hermes-io-'))
    const file = join(tmp, 'events.jsonl')
    const lines = ['{"userId":"a","ts":1,"type":"view"}', '{"userId":"b","ts":2,"type":"view"}', 'not json', '{"userId":"a","ts":3,"type":"buy"}']
    writeFileSync(file, `${lines.join('\n')}\n`)
    const produced = await hermes('produce', 'ev', '-f', file, '--state-dir', tmp, '--partitions', '2')
    expect(produced.stdout).toBe('produced 4 records to ev\n')
    const consumed = await hermes('consume', 'ev', '--state-dir', tmp)
    expect(consumed.code).toBe(0)
    const out = consumed.stdout.trim().split('\n')
    expect([...out].sort()).toEqual([...lines].sort())
    // One key's records stay in order (same partition).
    expect(out.filter((l) => l.includes('"a"'))).toEqual([lines[0], lines[3]])
    const bad = await hermes('produce', 'ev', '-f', file, '--state-dir', tmp, '--partitions', 'zero')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--partitions must be a positive integer')
  })
})
