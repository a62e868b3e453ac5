/**
 * Where a Hermes process spends its main thread, from a V8 CPU profile (`node --cpu-prof`): self
 * time by area (kafkajs produce and fetch paths, garbage collection, RocksDB, checkpoint
 * writes, Hermes' own code, ...) and the top functions by self time. docs/performance.md quotes it.
 *
 *   node --cpu-prof --cpu-prof-dir=DIR --import tsx scripts/kafka/bench.ts --measure throughput ...
 *   npx tsx bench/peer/cpu-profile.ts DIR/<file>.cpuprofile [--top 25] [--json]
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

/** The parts of a `.cpuprofile` this reads (V8's `Profiler.Profile`). */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** The areas self time is grouped into, in report order. */
export const AREAS = [
  'idle',
  'kafkajs produce (encode, send)',
  'kafkajs fetch (decode)',
  'kafkajs network (socket writes, request queue)',
  'kafkajs other',
  'garbage collection',
  'RocksDB',
  'checkpoint writes',
  'logging (pino)',
  'Hermes operators and runtime',
  'benchmark script',
  'other JavaScript and Node internals',
  'program (native, unattributed)',
] as const

/** One of {@link AREAS}. */
export type Area = (typeof AREAS)[number]

const PRODUCE = /\/producer\/|\/requests\/produce\/|\/protocol\/encoder\.js|\/recordBatch\/v0\/index\.js|\/record\/v0\/index\.js/
const FETCH = /\/consumer\/|\/requests\/fetch\/|\/protocol\/decoder\.js|\/recordBatch\/v0\/decoder\.js|\/record\/v0\/decoder\.js/

interface Frame {
  functionName: string
  url: string
}

/**
 * The area of a sample, from its stack (leaf first). The leaf's own module decides, except for
 * Node's internals (a `writeFileSync`, a `Buffer` copy) and anonymous frames, which count for the
 * nearest caller that is not one: a checkpoint's `writeFileSync` is a checkpoint write.
 */
export function areaOf(stack: readonly Frame[]): Area {
  const leaf = stack[0]
  if (!leaf) return 'program (native, unattributed)'
  if (leaf.functionName === '(idle)') return 'idle'
  if (leaf.functionName === '(garbage collector)') return 'garbage collection'
  if (leaf.functionName === '(program)') return 'program (native, unattributed)'
  for (const f of stack) {
    const url = f.url
    if (url === '' || url.startsWith('node:')) continue
    if (url.includes('/kafkajs/')) {
      // The nearest kafkajs frame that says which way the bytes go: encoding is produce requests
      // (fetch requests are a few bytes), decoding is fetch responses.
      for (const g of stack) {
        if (!g.url.includes('/kafkajs/')) continue
        if (PRODUCE.test(g.url)) return 'kafkajs produce (encode, send)'
        if (FETCH.test(g.url)) return 'kafkajs fetch (decode)'
      }
      // Requests go out from a later microtask, so the stack of a socket write no longer shows
      // who sent it (by bytes, mostly produce requests).
      if (stack.some((g) => g.url.includes('/kafkajs/src/network/'))) return 'kafkajs network (socket writes, request queue)'
      return 'kafkajs other'
    }
    if (url.includes('/@nxtedition/rocksdb/') || url.includes('/abstract-level/') || url.includes('/pipeline/state/rocksdb')) return 'RocksDB'
    if (url.includes('/pipeline/kafka/checkpoint')) return 'checkpoint writes'
    if (url.includes('/pino/') || url.includes('/sonic-boom/')) return 'logging (pino)'
    if (url.includes('/pipeline/') || url.includes('/operators/') || url.includes('/topologies/')) return 'Hermes operators and runtime'
    if (url.includes('/scripts/') || url.includes('/bench/')) return 'benchmark script'
    return 'other JavaScript and Node internals'
  }
  return 'other JavaScript and Node internals'
}

/** Self time of one function (all its nodes in the tree). */
export interface FunctionTime {
  functionName: string
  location: string
  area: Area
  ms: number
}

/** A profile's summary: wall time, time by area and the top functions by self time. */
export interface ProfileSummary {
  wallMs: number
  busyMs: number
  areas: Array<{ area: Area; ms: number; ofWall: number; ofBusy: number }>
  top: FunctionTime[]
}

/**
 * Sums self time per area and per function. A sample's time is the delta to the next sample
 * (as Chrome's DevTools count it); idle time is apart from busy time.
 */
export function summarizeProfile(profile: CpuProfile, options: { top: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0
    const id = profile.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, us))
  }
  const areaUs = new Map<Area, number>()
  const functions = new Map<string, FunctionTime>()
  for (const [id, us] of selfUs) {
    const stack: Frame[] = []
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)
      if (n) stack.push(n.callFrame)
    }
    const area = areaOf(stack)
    areaUs.set(area, (areaUs.get(area) ?? 0) + us)
    const leaf = byId.get(id)?.callFrame
    if (!leaf) continue
    const location = leaf.url ? `${leaf.url.replace(/^file:\/\/.*?\/(node_modules|pipeline|operators|scripts|bench)\//, '$1/')}:${leaf.lineNumber + 1}` : ''
    const key = `${leaf.functionName}@${location}@${area}`
    const f = functions.get(key) ?? { functionName: leaf.functionName || '(anonymous)', location, area, ms: 0 }
    f.ms += us / 1000
    functions.set(key, f)
  }
  const wallMs = (profile.endTime - profile.startTime) / 1000
  const busyMs = wallMs - (areaUs.get('idle') ?? 0) / 1000
  const areas = AREAS.filter((a) => areaUs.has(a)).map((area) => {
    const ms = (areaUs.get(area) as number) / 1000
    return { area, ms, ofWall: ms / wallMs, ofBusy: area === 'idle' ? 0 : ms / busyMs }
  })
  const top = [...functions.values()].filter((f) => f.area !== 'idle').sort((a, b) => b.ms - a.ms).slice(0, options.top)
  return { wallMs, busyMs, areas, top }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`

/** The summary as Markdown tables. */
export function renderProfile(s: ProfileSummary): string {
  const lines = [`wall ${(s.wallMs / 1000).toFixed(1)} s, main thread busy ${(s.busyMs / 1000).toFixed(1)} s (${pct(s.busyMs / s.wallMs)})`, '', '| area | self ms | of wall | of busy |', '|---|---:|---:|---:|']
  for (const a of s.areas) lines.push(`| ${a.area} | ${Math.round(a.ms)} | ${pct(a.ofWall)} | ${a.area === 'idle' ? '' : pct(a.ofBusy)} |`)
  lines.push('', '| function | where | area | self ms | of busy |', '|---|---|---|---:|---:|')
  for (const f of s.top) lines.push(`| ${f.functionName} | ${f.location} | ${f.area} | ${Math.round(f.ms)} | ${pct(f.ms / s.busyMs)} |`)
  return `${lines.join('\n')}\n`
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, json: { type: 'boolean', default: false } } })
  const file = positionals[0]
  if (!file) throw new Error('usage: npx tsx bench/peer/cpu-profile.ts FILE.cpuprofile [--top 25] [--json]')
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, { top: Number(values.top) })
  process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : renderProfile(summary))
}
