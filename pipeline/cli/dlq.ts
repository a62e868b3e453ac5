/**
 * `hermes dlq replay`: sends dead letters back to the topic they came from, once fixed.
 *
 * A dead letter is the input record as it was read (key, value bytes, headers) plus
 * `hermes.dlq.*` headers saying why, where and by which application it failed. Replay sends the
 * original key and value (or a fixed value from a JSONL file of the envelopes `hermes consume`
 * prints, edited) with the original headers minus the `hermes.dlq.*` ones, to the topic in
 * `hermes.dlq.topic` (or `--to`). This file plans a replay from the dead letters read; the
 * embedded log and Kafka (pipeline/kafka/topic-io.ts) only read and send.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { HermesError, describeError } from '../api/errors.ts'
import type { Headers } from '../api/record.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { partitionFor } from '../runtime/partitioner.ts'
import type { OutgoingRecord } from '../kafka/topic-io.ts'
import { DLQ_HEADERS } from '../runtime/task.ts'

/** A record of a dead-letter topic as read. */
export interface DeadLetterEntry {
  /** Where it sits in the dead-letter topic. */
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
  headers: Headers
}

/** Options of {@link planReplay} (the command's flags). */
export interface ReplayOptions {
  /** Topic to send to instead of each dead letter's `hermes.dlq.topic`. */
  to?: string
  /** Only dead letters whose reason matches. */
  filterReason?: RegExp
  /** Only dead letters at or after this offset of the dead-letter topic (each partition). */
  fromOffset?: number
  /** Only dead letters at or before this offset of the dead-letter topic (each partition). */
  toOffset?: number
  /** Fixed records by origin (`topic/partition/offset`); with fixes, only fixed records are sent. */
  fixes?: Map<string, Fix>
}

/** A fixed record from a `--fix` file. */
export interface Fix {
  key: string | null
  /** The value to send, as text or as bytes; `null` sends a tombstone. */
  value: Buffer | null
  /** True when the line gave the value as JSON (an object or a list): an Avro topic encodes it. */
  json: unknown
  line: number
}

/** One record to send. */
export interface ReplaySend extends OutgoingRecord {
  from: DeadLetterEntry
  reason: string
  fixed: boolean
}

/** One dead letter not sent, with why. */
export interface ReplaySkip {
  from: DeadLetterEntry
  why: string
}

/** What a replay sends and skips, in dead-letter order. */
export interface ReplayPlan {
  send: ReplaySend[]
  skip: ReplaySkip[]
  /** Lines of the fix file that matched no dead letter. */
  unusedFixes: Fix[]
}

const DLQ_NAMES: ReadonlySet<string> = new Set(Object.values(DLQ_HEADERS))

/** The origin id of a dead letter (or of a fix line): `topic/partition/offset` of the input record. */
export function originId(topic: string, partition: number, offset: number): string {
  return `${topic}/${partition}/${offset}`
}

/**
 * Reads a `--fix` file: one envelope per line as `hermes consume <app>.dlq` prints it, with the
 * `value` (and perhaps the `key`) edited. `value` may be the text of the record (a string), the
 * record itself as JSON (an object or a list), base64 with `"valueEncoding":"base64"`, or null.
 * @throws HermesError (USAGE) naming the file and line of a line that is not such an envelope.
 */
export function readFixes(file: string): Map<string, Fix> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new HermesError('USAGE', `--fix ${file}: ${describeError(err)}`)
  }
  const fixes = new Map<string, Fix>()
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue
    const where = `--fix ${file}:${i + 1}`
    let e: { [k: string]: unknown }
    try {
      e = JSON.parse(line) as { [k: string]: unknown }
    } catch (err) {
      throw new HermesError('USAGE', `${where}: not JSON (${describeError(err)}); give the envelopes \`hermes consume <app>.dlq\` prints, with the value edited`)
    }
    if (e === null || typeof e !== 'object' || typeof e.topic !== 'string' || typeof e.partition !== 'number' || typeof e.offset !== 'number' || !('value' in e)) {
      throw new HermesError('USAGE', `${where}: expected an envelope with topic, partition, offset and value, as \`hermes consume <app>.dlq\` prints it`)
    }
    if (e.key !== undefined && e.key !== null && typeof e.key !== 'string') throw new HermesError('USAGE', `${where}: key must be a string or null`)
    const v = e.value
    let value: Buffer | null
    let json: unknown
    if (v === null) value = null
    else if (typeof v === 'string') value = e.valueEncoding === 'base64' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8')
    else {
      json = v
      value = Buffer.from(JSON.stringify(v), 'utf8')
    }
    const id = originId(e.topic, e.partition, e.offset)
    if (fixes.has(id)) throw new HermesError('USAGE', `${where}: a second fix for ${id} (line ${fixes.get(id)?.line})`)
    fixes.set(id, { key: (e.key as string | null | undefined) ?? null, value, json, line: i + 1 })
  }
  return fixes
}

/** Plans a replay: what to send where, what to skip and why. Pure: reads nothing, sends nothing. */
export function planReplay(entries: readonly DeadLetterEntry[], options: ReplayOptions): ReplayPlan {
  const plan: ReplayPlan = { send: [], skip: [], unusedFixes: [] }
  const seen = new Set<string>()
  const used = new Set<string>()
  for (const e of entries) {
    const h = e.headers
    const reason = h[DLQ_HEADERS.reason]
    if (reason === undefined) {
      plan.skip.push({ from: e, why: 'not a dead letter (no hermes.dlq.reason header)' })
      continue
    }
    if (options.fromOffset !== undefined && e.offset < options.fromOffset) continue
    if (options.toOffset !== undefined && e.offset > options.toOffset) continue
    if (options.filterReason && !options.filterReason.test(reason)) continue
    const topic = h[DLQ_HEADERS.topic] ?? ''
    const partition = Number(h[DLQ_HEADERS.partition])
    const offset = Number(h[DLQ_HEADERS.offset])
    if (topic === '' || offset < 0) {
      plan.skip.push({ from: e, why: `came from a timer, not an input record (reason: ${reason})` })
      continue
    }
    const id = originId(topic, partition, offset)
    if (seen.has(id)) {
      // At-least-once processing may dead-letter one input twice; it is replayed once.
      plan.skip.push({ from: e, why: `a second dead letter of ${id}` })
      continue
    }
    seen.add(id)
    const fix = options.fixes?.get(id)
    if (options.fixes && !fix) {
      plan.skip.push({ from: e, why: `no fix for ${id} in the --fix file` })
      continue
    }
    if (fix) used.add(id)
    const headers: { [k: string]: string } = {}
    for (const [k, v] of Object.entries(h)) if (!DLQ_NAMES.has(k) && !k.startsWith('hermes.dlq.')) headers[k] = v
    const ts = Number(h[DLQ_HEADERS.timestamp])
    plan.send.push({
      from: e,
      topic: options.to ?? topic,
      key: fix ? fix.key : e.key,
      value: fix ? fix.value : e.value,
      ...(fix?.json !== undefined ? { json: fix.json } : {}),
      headers,
      timestamp: Number.isFinite(ts) && ts > 0 ? ts : 0,
      reason,
      fixed: !!fix,
    })
  }
  for (const [id, fix] of options.fixes ?? []) if (!used.has(id)) plan.unusedFixes.push(fix)
  return plan
}

/** The dead letters of an embedded topic, in append order. */
export function embeddedDeadLetters(log: EmbeddedLog, topic: string): DeadLetterEntry[] {
  if (!log.hasTopic(topic)) throw new HermesError('USAGE', `no topic "${topic}" in the embedded log (topics: ${log.topicNames().join(', ') || 'none'})`)
  const out: Array<DeadLetterEntry & { seq: number }> = []
  for (let p = 0; p < log.partitions(topic); p++) {
    const end = log.endOffset(topic, p)
    for (let o = 0; o < end; o++) {
      const e = log.read(topic, p, o)
      if (e) out.push({ partition: p, offset: o, key: e.key, value: e.value, headers: e.headers ?? {}, seq: e.seq })
    }
  }
  return out.sort((a, b) => a.seq - b.seq).map(({ seq: _, ...e }) => e)
}

/** Appends the planned records to the embedded log (topics created with `partitionsFor` when new). */
export function sendEmbedded(log: EmbeddedLog, sends: readonly ReplaySend[], partitionsFor: (topic: string) => number): void {
  for (const s of sends) {
    if (!log.hasTopic(s.topic)) log.createTopic(s.topic, partitionsFor(s.topic))
    const partition = s.key === null ? 0 : partitionFor(s.key, log.partitions(s.topic))
    log.append(s.topic, partition, s.key, s.value, s.timestamp, Object.keys(s.headers).length ? s.headers : undefined)
  }
  log.flush({ fsync: true })
}

/** Human-readable lines for a plan: one per dead letter sent or skipped, then a summary. */
export function describePlan(dlqTopic: string, plan: ReplayPlan, dryRun: boolean): string[] {
  const lines: string[] = []
  const at = (e: DeadLetterEntry): string => `${dlqTopic}[${e.partition}]@${e.offset}`
  for (const s of plan.send) {
    lines.push(`${dryRun ? 'would send' : 'sent'} ${at(s.from)} -> ${s.topic} key=${s.key === null ? 'null' : JSON.stringify(s.key)}${s.fixed ? ' (fixed)' : ''}: was ${s.reason}`)
  }
  for (const s of plan.skip) lines.push(`skipped ${at(s.from)}: ${s.why}`)
  for (const f of plan.unusedFixes) lines.push(`warning: --fix line ${f.line} matches no dead letter replayed`)
  lines.push(`${dryRun ? 'dry run: would replay' : 'replayed'} ${plan.send.length} of ${plan.send.length + plan.skip.length} dead letters from ${dlqTopic}${plan.skip.length ? `, ${plan.skip.length} skipped` : ''}`)
  return lines
}

/** Parses a non-negative integer flag. */
function offsetFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new HermesError('USAGE', `${name} must be a non-negative integer offset, got "${v}"`)
  return n
}

/** `hermes dlq replay`: dead letters back to their topics, on the embedded log or on Kafka. */
export function addDlqCommands(program: Command, setup: (cmd: Command) => Command, context: (flags: object) => { config: HermesConfig; logger: HermesLogger }): void {
  const dlq = program.command('dlq').description('dead-letter topics (<app>.dlq): replay fixed records')
  setup(
    dlq
      .command('replay')
      .description('send dead letters back to the topic they came from (hermes.dlq.topic): original key, value and headers without hermes.dlq.*, or a fixed value from --fix')
      .argument('<dlq-topic>', 'dead-letter topic, e.g. push-decisions.dlq')
      .option('--to <topic>', 'send to this topic instead of each record\'s original topic')
      .option('--filter-reason <regex>', 'only dead letters whose reason matches (JavaScript regular expression)')
      .option('--from-offset <n>', 'only dead letters at or after this offset of the dead-letter topic')
      .option('--to-offset <n>', 'only dead letters at or before this offset of the dead-letter topic')
      .option('--fix <file>', 'JSONL of envelopes as `hermes consume <dlq-topic>` prints them, values edited: only these are sent, with their values')
      .option('--dry-run', 'print what would be sent and skipped, send nothing'),
  ).action(async (dlqTopic: string, flags: { to?: string; filterReason?: string; fromOffset?: string; toOffset?: string; fix?: string; dryRun?: boolean }) => {
    const { config, logger } = context(flags)
    let filterReason: RegExp | undefined
    if (flags.filterReason !== undefined) {
      try {
        filterReason = new RegExp(flags.filterReason)
      } catch (err) {
        throw new HermesError('USAGE', `--filter-reason: not a regular expression: ${describeError(err)}`)
      }
    }
    const options: ReplayOptions = {
      ...(flags.to !== undefined ? { to: flags.to } : {}),
      ...(filterReason ? { filterReason } : {}),
      ...(flags.fromOffset !== undefined ? { fromOffset: offsetFlag('--from-offset', flags.fromOffset) as number } : {}),
      ...(flags.toOffset !== undefined ? { toOffset: offsetFlag('--to-offset', flags.toOffset) as number } : {}),
      ...(flags.fix !== undefined ? { fixes: readFixes(flags.fix) } : {}),
    }
    const dryRun = flags.dryRun === true
    let plan: ReplayPlan
    if (config.runtime.mode === 'kafka') {
      const { readTopicFromKafka, sendToKafka } = await import('../kafka/topic-io.ts')
      plan = planReplay(await readTopicFromKafka({ config, logger, topic: dlqTopic }), options)
      if (!dryRun) await sendToKafka({ config, logger, records: plan.send })
    } else {
      const log = EmbeddedLog.open(join(resolve(config.runtime.stateDir), 'log'))
      plan = planReplay(embeddedDeadLetters(log, dlqTopic), options)
      if (!dryRun) sendEmbedded(log, plan.send, (t) => topicPartitions(config, t))
    }
    for (const line of describePlan(dlqTopic, plan, dryRun)) process.stdout.write(`${line}\n`)
  })
}
