import { isUtf8 } from 'node:buffer'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { HermesError } from '../api/errors.ts'
import type { Topology } from '../api/topology.ts'
import { partitionFor } from '../runtime/partitioner.ts'
import { DLQ_HEADERS } from '../runtime/task.ts'
import type { EmbeddedLog, LogEntry } from './log.ts'

/** `topic=file` pairs from the command line. */
export interface TopicFile {
  topic: string
  file: string
}

/** Parses `topic=path`; throws a usage error naming the flag otherwise. */
export function parseTopicFile(flag: string, text: string): TopicFile {
  const i = text.indexOf('=')
  if (i <= 0 || i === text.length - 1) throw new HermesError('USAGE', `${flag} expects <topic>=<file.jsonl>, got "${text}"`)
  return { topic: text.slice(0, i), file: text.slice(i + 1) }
}

/** Key and time fields of a topic, taken from the sources of the topologies that read it. */
export function sourceFields(topologies: readonly Topology[], topic: string): { keyField?: string; timestampField: string } {
  let found: { keyField?: string; timestampField: string } | undefined
  for (const t of topologies) {
    for (const n of t.nodes) {
      if (n.kind !== 'source' || n.topic !== topic) continue
      const fields = { ...(n.keyField !== undefined ? { keyField: n.keyField } : {}), timestampField: n.timestampField ?? 'ts' }
      if (found && found.keyField !== fields.keyField) {
        throw new HermesError('USAGE', `topic ${topic} is read with key field "${found.keyField}" by one topology and "${fields.keyField}" by another; they must agree`)
      }
      found = fields
    }
  }
  if (!found) throw new HermesError('USAGE', `--input ${topic}=...: no topology given reads topic "${topic}"`)
  return found
}

interface Pending {
  ts: number
  key: string | null
  line: string
  topic: string
  file: string
  /** 1-based line number in its file. */
  lineNo: number
}

/** Where {@link loadInputs} put one line of a file. */
export interface LoadedLine {
  topic: string
  partition: number
  offset: number
  file: string
  line: number
}

/**
 * Loads JSONL files into their topics. The files are merged by event time (the `ts` field, or 0
 * when absent, so configuration without time loads first): the next record loaded is always the
 * one with the lowest time among the files' next lines, ties going to the file named first. The
 * order inside one file is kept, as a topic keeps it, so a late record stays late. A line that is
 * not JSON is still loaded (key null, time 0): the source's deserializer then sends it to the
 * dead-letter topic, so nothing is lost silently. Returns the number of records per topic;
 * `onLoaded` learns where each line went (`hermes validate` reports problems by file and line).
 */
export function loadInputs(log: EmbeddedLog, topologies: readonly Topology[], inputs: readonly TopicFile[], partitionsFor: (topic: string) => number, onLoaded?: (loaded: LoadedLine) => void): Map<string, number> {
  const files: Pending[][] = []
  for (const input of inputs) {
    if (!existsSync(input.file)) throw new HermesError('USAGE', `--input ${input.topic}=${input.file}: file not found`)
    const fields = sourceFields(topologies, input.topic)
    const text = readFileSync(input.file, 'utf8')
    const records: Pending[] = []
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue
      let key: string | null = null
      let ts = 0
      try {
        const v = JSON.parse(line) as { [k: string]: unknown } | null
        if (v && typeof v === 'object') {
          const t = v[fields.timestampField]
          if (typeof t === 'number' && Number.isFinite(t)) ts = t
          if (fields.keyField !== undefined) {
            const k = v[fields.keyField]
            if (typeof k === 'string') key = k
            else if (typeof k === 'number') key = String(k)
          }
        }
      } catch {
        // Left for the deserializer to report.
      }
      records.push({ ts, key, line, topic: input.topic, file: input.file, lineNo: i + 1 })
    }
    files.push(records)
  }
  for (const input of inputs) if (!log.hasTopic(input.topic)) log.createTopic(input.topic, partitionsFor(input.topic))
  const counts = new Map<string, number>()
  const heads = files.map(() => 0)
  // A k-way merge; the number of files is small, so a linear scan of the heads is enough.
  for (;;) {
    let best = -1
    let bestTs = Infinity
    for (let f = 0; f < files.length; f++) {
      const r = (files[f] as Pending[])[heads[f] as number]
      if (r && r.ts < bestTs) {
        best = f
        bestTs = r.ts
      }
    }
    if (best < 0) break
    const r = (files[best] as Pending[])[heads[best] as number] as Pending
    heads[best] = (heads[best] as number) + 1
    const partitions = log.partitions(r.topic)
    const partition = r.key === null ? 0 : partitionFor(r.key, partitions)
    const offset = log.append(r.topic, partition, r.key, Buffer.from(r.line, 'utf8'), r.ts)
    onLoaded?.({ topic: r.topic, partition, offset, file: r.file, line: r.lineNo })
    counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1)
  }
  return counts
}

/** End offsets of every partition of a topic (to mark where this run's output starts). */
export function endOffsets(log: EmbeddedLog, topic: string): number[] {
  if (!log.hasTopic(topic)) return []
  return [...Array(log.partitions(topic)).keys()].map((p) => log.endOffset(topic, p))
}

/**
 * The records appended to `topic` since `from` (per-partition offsets), in append order.
 * Dead-letter records come as a JSON envelope with their reason and origin.
 */
export function readTopicSince(log: EmbeddedLog, topic: string, from: readonly number[]): string[] {
  if (!log.hasTopic(topic)) return []
  const entries: LogEntry[] = []
  for (let p = 0; p < log.partitions(topic); p++) {
    const end = log.endOffset(topic, p)
    for (let o = from[p] ?? 0; o < end; o++) entries.push(log.read(topic, p, o) as LogEntry)
  }
  entries.sort((a, b) => a.seq - b.seq)
  return entries.map(formatEntry)
}

/** One output line for a log entry. */
export function formatEntry(e: Pick<LogEntry, 'key' | 'value' | 'headers'>): string {
  const value = e.value === null ? 'null' : e.value.toString('utf8')
  const h = e.headers
  if (h && h[DLQ_HEADERS.reason] !== undefined) {
    return JSON.stringify({
      reason: h[DLQ_HEADERS.reason],
      phase: h[DLQ_HEADERS.phase],
      node: h[DLQ_HEADERS.node],
      // Which application refused it: several may read one topic and each judges for itself.
      ...(h[DLQ_HEADERS.app] !== undefined ? { app: h[DLQ_HEADERS.app] } : {}),
      topic: h[DLQ_HEADERS.topic],
      partition: Number(h[DLQ_HEADERS.partition]),
      offset: Number(h[DLQ_HEADERS.offset]),
      timestamp: Number(h[DLQ_HEADERS.timestamp]),
      key: e.key,
      // Binary values (Avro) as base64: UTF-8 would mangle them.
      ...(e.value !== null && !isUtf8(e.value) ? { value: e.value.toString('base64'), valueEncoding: 'base64' } : { value }),
    })
  }
  return value
}

/** Writes lines to a file, one per line. */
export async function writeLines(file: string, lines: readonly string[]): Promise<void> {
  const out = createWriteStream(file)
  for (const line of lines) {
    if (!out.write(`${line}\n`)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}
