/**
 * What a V8 heap snapshot holds, by kind and constructor: count and self size, largest first
 * (self sizes only: what each object itself takes, not what it keeps alive).
 *
 *   npx tsx bench/peer/heap-summary.ts FILE.heapsnapshot [--top 25]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } })
const file = positionals[0]
if (!file) throw new Error('usage: npx tsx bench/peer/heap-summary.ts FILE.heapsnapshot [--top 25]')
const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot
const fields = snap.snapshot.meta.node_fields
const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number]
const types = snap.snapshot.meta.node_types[0]
const groups = new Map<string, { count: number; bytes: number }>()
let total = 0
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + TYPE] as number] as string
  // Strings and numbers are named by their content: group them by kind only.
  const name = type === 'object' || type === 'closure' || type === 'native' ? (snap.strings[snap.nodes[i + NAME] as number] as string) : ''
  const key = `${type}${name ? ` ${name}` : ''}`
  const g = groups.get(key) ?? { count: 0, bytes: 0 }
  g.count++
  g.bytes += snap.nodes[i + SIZE] as number
  total += snap.nodes[i + SIZE] as number
  groups.set(key, g)
}
const MiB = 1048576
const lines = [`heap ${(total / MiB).toFixed(1)} MiB in ${(snap.nodes.length / fields.length).toLocaleString('en-US')} objects`, '', '| kind and constructor | objects | self MiB | share |', '|---|---:|---:|---:|']
for (const [key, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
  lines.push(`| ${key} | ${g.count.toLocaleString('en-US')} | ${(g.bytes / MiB).toFixed(1)} | ${((g.bytes / total) * 100).toFixed(1)}% |`)
}
process.stdout.write(`${lines.join('\n')}\n`)
