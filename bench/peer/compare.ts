/**
 * Hermes and Kafka Streams side by side on one broker (issue 9): the topology, workload and
 * measurements of scripts/kafka/bench.ts, run by Hermes and by its Kafka Streams 3.9 peer
 * (bench/peer/, Java), alternating, several runs each; prints the medians and the Hermes / Kafka
 * Streams ratio per guarantee and figure, and writes every run to a JSON file.
 *
 *   npx tsx bench/peer/compare.ts [--runs 3] [--events 200000] [--rate 2000] [--seconds 20]
 *     [--warmup-seconds 5] (latency: counted from readiness after this warm-up; 0: the earlier bench)
 *     [--only exactly_once,hermes,throughput,...] [--brokers 127.0.0.1:9092] [--out FILE]
 *     [--peer-linger-ms N] [--java-opts "-Xmx1g"] [--keep-topics]
 *   npx tsx bench/peer/compare.ts --table FILE   (the table of a saved comparison, finished or not)
 *
 * The backlog is produced once, to one topic both sides read (each run with its own application
 * id, so each reads it from the start). Every run's topics and groups carry the run's id and are
 * deleted after it, unless --keep-topics. The broker is shared: it is never stopped.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { parseOnly } from './only.ts'
import { positiveOption, spawnLabelled } from './child.ts'
import { benchCleanup } from './cleanup.ts'
import { parseBenchResult } from './result.ts'
import type { Engine, Guarantee } from './result.ts'
import { renderTable, summarize } from './table.ts'
import type { RunRecord } from './table.ts'
import { backlogEvents, produceEvents } from './workload.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const jar = join(here, 'target', 'hermes-peer.jar')
const PARTITIONS = 4

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    events: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '20' },
    'warmup-seconds': { type: 'string', default: '5' },
    only: { type: 'string', default: '' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    out: { type: 'string' },
    'peer-linger-ms': { type: 'string' },
    'java-opts': { type: 'string', default: '-Xmx1g' },
    'keep-topics': { type: 'boolean', default: false },
    table: { type: 'string' },
  },
})
if (args.table) {
  const saved = JSON.parse(readFileSync(args.table, 'utf8')) as { runs: Array<Omit<RunRecord, 'result'> & { result: unknown }> }
  const runs = saved.runs.map((r, i) => ({ ...r, result: parseBenchResult(JSON.stringify(r.result), `${args.table} runs[${i}]`) }))
  process.stdout.write(renderTable(summarize(runs)))
  process.exit(0)
}
const positive = positiveOption
const RUNS = positive('runs', args.runs)
const EVENTS = positive('events', args.events)
positive('rate', args.rate)
positive('seconds', args.seconds)
const warmup = Number(args['warmup-seconds'])
if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup-seconds must be a whole number of seconds, got ${JSON.stringify(args['warmup-seconds'])}`)
const only = parseOnly(args.only ?? '')
const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
const outFile = args.out ?? join(here, 'results', `compare-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)

/** Builds the peer once (Maven Central on the first build, ~/.m2 afterwards). */
function ensureJar(): void {
  if (!only.engines.includes('kafka-streams') || existsSync(jar)) return
  process.stderr.write(`building the Kafka Streams peer: mvn -q -f ${relative(repo, join(here, 'pom.xml'))} package\n`)
  const r = spawnSync('mvn', ['-q', '-f', join(here, 'pom.xml'), 'package'], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`the peer did not build (mvn exit ${r.status ?? r.error?.message}); it needs Java 17+ and Maven, and Maven Central or a filled ~/.m2`)
}

/** Runs one engine's bench in a child process, its lines prefixed; resolves with its exit code. */
function runChild(label: string, command: string, argv: string[]): Promise<number> {
  return spawnLabelled(label, command, argv, repo).exited
}

const kafka = new Kafka({ clientId: 'hermes-bench-compare', brokers: (args.brokers as string).split(','), logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const { deleteTopics, deleteGroups } = benchCleanup(admin, id, args['keep-topics'] === true)

ensureJar()
try {
  await admin.connect()
} catch (e) {
  throw new Error(`no broker at ${args.brokers} (${(e as Error).message}); start one with scripts/kafka/start.sh`)
}
const work = mkdtempSync(join(tmpdir(), 'hermes-compare-'))
const records: RunRecord[] = []
const failures: Array<{ run: number; engine: Engine; guarantee: Guarantee; exitCode: number }> = []
const timeline: Array<{ run: number; engine: Engine; guarantee: Guarantee; seconds: number; loadBefore: number; loadAfter: number }> = []
const input = `bench-peer-in-${id}`
const common = ['--events', String(EVENTS), '--rate', args.rate as string, '--seconds', args.seconds as string, '--warmup-seconds', String(warmup), '--brokers', args.brokers as string, '--measure', only.measurements.join(',')]
const startedAt = new Date().toISOString()

/** Writes every run so far, with the summary and the noise indicators, to the JSON file; returns the table. */
function save(): string {
  const rows = summarize(records)
  const options = { runs: RUNS, events: EVENTS, rate: Number(args.rate), seconds: Number(args.seconds), warmupSeconds: warmup, only, peerLingerMs: args['peer-linger-ms'] ?? null, javaOpts: args['java-opts'] }
  const host = { cpus: cpus().length, node: process.version }
  const summary = rows.map((r) => ({ guarantee: r.guarantee, figure: r.figure.label, unit: r.figure.unit, hermes: r.hermes, kafkaStreams: r.kafkaStreams, hermesMedian: r.hermesMedian, kafkaStreamsMedian: r.kafkaStreamsMedian, ratio: r.ratio }))
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify({ startedAt, savedAt: new Date().toISOString(), options, host, summary, failures, timeline, runs: records }, null, 2)}\n`)
  return renderTable(rows)
}
try {
  if (only.measurements.includes('throughput')) {
    const topics = new KafkaAdmin(kafka, createLogger({ level: 'warn' }), 1)
    await topics.connect()
    await topics.ensureTopics([{ topic: input, partitions: PARTITIONS }]).finally(() => topics.disconnect())
    await produceEvents({ kafka, topic: input, partitions: PARTITIONS, events: backlogEvents(EVENTS, Date.now()), encode: (e) => Buffer.from(JSON.stringify(e)) })
    common.push('--input-topic', input)
  }
  for (let run = 1; run <= RUNS; run++) {
    for (const [g, guarantee] of only.guarantees.entries()) {
      // Alternate who goes first, by run and by guarantee, so neither side always gets the quieter slot.
      const order: Engine[] = (run + g) % 2 === 1 ? ['hermes', 'kafka-streams'] : ['kafka-streams', 'hermes']
      for (const engine of order.filter((e) => only.engines.includes(e))) {
        const runId = `${id}r${run}${{ at_least_once: 'a', exactly_once: 'e', exactly_once_v2: 'v' }[guarantee]}${engine === 'hermes' ? 'h' : 'k'}`
        const json = join(work, `${runId}.json`)
        // Kafka Streams' exactly_once is its v2 already (PeerBench): both exactly-once rows run it.
        const argv = [...common, '--guarantee', engine === 'kafka-streams' && guarantee === 'exactly_once_v2' ? 'exactly_once' : guarantee, '--id', runId, '--json-out', json]
        const label = `${engine} ${guarantee} run ${run}/${RUNS}`
        const loadBefore = loadavg()[0] as number
        const t0 = Date.now()
        const code =
          engine === 'hermes'
            ? await runChild(label, process.execPath, ['--import', 'tsx', 'scripts/kafka/bench.ts', ...argv])
            : await runChild(label, 'java', [...(args['java-opts'] as string).split(' ').filter(Boolean), '-jar', jar, ...argv, ...(args['peer-linger-ms'] ? ['--linger-ms', args['peer-linger-ms']] : [])])
        timeline.push({ run, engine, guarantee, seconds: Math.round((Date.now() - t0) / 100) / 10, loadBefore, loadAfter: loadavg()[0] as number })
        // A bench writes its JSON after each step: a failed run still counts for the steps it finished.
        if (existsSync(json)) records.push({ run, engine, guarantee, result: parseBenchResult(readFileSync(json, 'utf8'), json) })
        if (code !== 0) failures.push({ run, engine, guarantee, exitCode: code })
        await deleteTopics(runId)
        save() // after every run, so that an interrupted comparison keeps what it measured
      }
    }
  }
} finally {
  await deleteTopics(input)
  await deleteGroups()
  await admin.disconnect()
  rmSync(work, { recursive: true, force: true })
}

const table = save()
process.stdout.write(`\n${table}\n${failures.length} failed run(s); every run in ${relative(process.cwd(), outFile)}\n`)
if (failures.length) process.exitCode = 1
