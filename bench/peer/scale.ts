/**
 * Two processes against one (issue 9: "two processes on this 2-core machine: at least 1.8x the
 * throughput of one"): the bench topology of scripts/kafka/bench.ts, one backlog on a 4-partition
 * topic, worked through by N processes of one application (one application id, so one consumer
 * group: they split the partitions), N = 1 and N = 2 alternating, several runs each, per guarantee.
 *
 *   npx tsx bench/peer/scale.ts [--runs 3] [--events 200000] [--processes 1,2]
 *     [--guarantees at_least_once,exactly_once_v2] [--max-ahead-ms N] [--commit-interval-ms N]
 *     [--stall-seconds 120] [--setsid] [--brokers 127.0.0.1:9092] [--out FILE] [--keep-topics]
 *   npx tsx bench/peer/scale.ts --table FILE   (the table of a saved run, finished or not)
 *
 * How a run is timed. Before the processes start, this command joins a read_committed reader to
 * the running-count output (one record per input event, keyed by type), then spawns the N
 * processes at once (`scripts/kafka/bench.ts --until-signal`, each with its own state directory)
 * and reads until every event's output has been read (distinct event ids: at-least-once may
 * repeat some). Throughput is events / (spawn to last output): start-up and the group's joins are
 * in the time, the second process' join rebalancing the first one's partitions included. Also
 * reported: events / (first output to last), which leaves start-up and the first join out, and
 * when the group first had N members. Then every process is sent SIGTERM, commits and writes its
 * JSON (CPU % of one core over its life, commits). The machine's CPU use over the run comes from
 * /proc/stat: with ~200% busy the processes did not have the two cores to themselves; and each
 * main thread's time on a CPU, on the run queue (runnable, no core free) and asleep (waiting for
 * the broker or a timer) from /proc/<pid>/schedstat, which says which of the two held it back.
 *
 * Linux with `kernel.sched_autogroup_enabled` (this machine) shares the CPU between sessions
 * first, then between the threads of a session: children of this command share one session's
 * share however many they are, so on a loaded machine two get no more CPU than one. `--setsid`
 * starts each process in a session of its own (as two services started apart would be), which
 * gives each its own share; the table says which way a run was made (`options.setsid`).
 *
 * The reader runs in this process, so it takes CPU from the processes measured, the same in every
 * run. The broker is shared: it is never stopped; every run's topics are deleted after it.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import type { ChildProcess } from 'node:child_process'
import { KafkaAdmin } from '../../pipeline/kafka/admin.ts'
import { CommittedFilter, rawMessages } from '../../pipeline/kafka/transactions.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { positiveOption, spawnLabelled } from './child.ts'
import { benchCleanup } from './cleanup.ts'
import { parseBenchResult } from './result.ts'
import type { Guarantee } from './result.ts'
import { busyPercent, parseProcStat, parseSchedstat, renderScaleTable, schedShares, summarizeScale } from './scale-summary.ts'
import type { CpuTimes, ScaleProcess, ScaleRun } from './scale-summary.ts'
import { backlogEvents, produceEvents } from './workload.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const PARTITIONS = 4

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    events: { type: 'string', default: '200000' },
    processes: { type: 'string', default: '1,2' },
    guarantees: { type: 'string', default: 'at_least_once,exactly_once_v2' },
    'max-ahead-ms': { type: 'string' },
    'commit-interval-ms': { type: 'string' },
    'stall-seconds': { type: 'string', default: '120' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    out: { type: 'string' },
    'keep-topics': { type: 'boolean', default: false },
    setsid: { type: 'boolean', default: false },
    table: { type: 'string' },
  },
})
if (args.table) {
  const saved = JSON.parse(readFileSync(args.table, 'utf8')) as { runs: ScaleRun[] }
  process.stdout.write(renderScaleTable(summarizeScale(saved.runs)))
  process.exit(0)
}
const positive = positiveOption
const RUNS = positive('runs', args.runs)
const EVENTS = positive('events', args.events)
const STALL_MS = positive('stall-seconds', args['stall-seconds']) * 1000
const COUNTS = (args.processes as string).split(',').map((p) => positive('processes', p))
const GUARANTEES = (args.guarantees as string).split(',').map((g) => {
  if (!['at_least_once', 'exactly_once', 'exactly_once_v2'].includes(g)) throw new Error(`--guarantees: unknown "${g}"; use at_least_once, exactly_once, exactly_once_v2`)
  return g as Guarantee
})
const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
const outFile = args.out ?? join(here, 'results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
const brokers = (args.brokers as string).split(',')
const kafka = new Kafka({ clientId: 'hermes-bench-scale', brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const readCpu = (): CpuTimes | null => {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'))
  } catch {
    return null // not Linux: the machine's CPU use is not reported
  }
}

/** Spawns one bench process, its lines prefixed; `exited` resolves with its exit code. */
function spawnBench(label: string, argv: string[]): { child: ChildProcess; exited: Promise<number> } {
  return spawnLabelled(label, process.execPath, ['--import', 'tsx', 'scripts/kafka/bench.ts', ...argv], repo, args.setsid === true)
}

/**
 * A read_committed reader of the running-count output that counts distinct event ids; resolves
 * `ready` once it has joined its group, `done` when `events` ids have been read.
 */
async function outputReader(topic: string, groupId: string, events: number): Promise<{ ready: Promise<void>; done: Promise<void>; first: () => number; last: () => number; count: () => number; stop: () => Promise<void> }> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 500 })
  const seen = new Set<string>()
  let [first, last] = [-1, -1]
  let joined!: () => void
  let finished!: () => void
  const ready = new Promise<void>((r) => (joined = r))
  const done = new Promise<void>((r) => (finished = r))
  consumer.on(consumer.events.GROUP_JOIN, () => joined())
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const filters = new Map<number, CommittedFilter>()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      let filter = filters.get(batch.partition)
      if (!filter) filters.set(batch.partition, (filter = new CommittedFilter()))
      const committed = filter.push(rawMessages(batch))
      if (committed.length === 0) return
      const now = performance.now()
      if (first < 0) first = now
      for (const m of committed) seen.add((JSON.parse(m.value?.toString() ?? '{}') as { eventId: string }).eventId)
      last = now
      if (seen.size >= events) finished()
    },
  })
  return { ready, done, first: () => first, last: () => last, count: () => seen.size, stop: () => consumer.disconnect() }
}

/** Seconds since the group whose name carries `runId` (not the reader's) first had `n` members, polled; stops with `stop`. */
function watchGroup(runId: string, n: number, t0: number): { joined: () => number | null; stop: () => void } {
  let joined: number | null = null
  let stopped = false
  const poll = async (): Promise<void> => {
    while (!stopped && joined === null) {
      try {
        const names = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(runId) && !g.startsWith('scale-reader'))
        if (names.length) {
          const { groups } = await admin.describeGroups(names)
          if (groups.some((g) => g.state === 'Stable' && g.members.length === n)) joined = (performance.now() - t0) / 1000
        }
      } catch {
        // The coordinator may be busy with the join itself: ask again.
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  void poll()
  return { joined: () => joined, stop: () => void (stopped = true) }
}

const { deleteTopics, deleteGroups } = benchCleanup(admin, id, args['keep-topics'] === true)

try {
  await admin.connect()
} catch (e) {
  throw new Error(`no broker at ${args.brokers} (${(e as Error).message}); start one with scripts/kafka/start.sh`)
}
const work = mkdtempSync(join(tmpdir(), 'hermes-scale-'))
const runs: ScaleRun[] = []
const failures: Array<{ run: number; guarantee: Guarantee; processes: number; reason: string }> = []
const input = `bench-scale-in-${id}`
const startedAt = new Date().toISOString()

function save(): string {
  const options = { runs: RUNS, events: EVENTS, processes: COUNTS, guarantees: GUARANTEES, setsid: args.setsid === true, maxAheadMs: args['max-ahead-ms'] ?? null, commitIntervalMs: args['commit-interval-ms'] ?? null }
  const rows = summarizeScale(runs)
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify({ startedAt, savedAt: new Date().toISOString(), options, host: { cpus: cpus().length, node: process.version }, summary: rows, failures, runs }, null, 2)}\n`)
  return renderScaleTable(rows)
}

/** One run: `n` processes of a fresh application through the backlog. */
async function runOnce(run: number, guarantee: Guarantee, n: number): Promise<void> {
  const runId = `${id}r${run}${guarantee === 'at_least_once' ? 'a' : guarantee === 'exactly_once' ? 'e' : 'v'}n${n}`
  const output = `bench-out-${runId}-running`
  const topics = new KafkaAdmin(kafka, createLogger({ level: 'warn' }), 1)
  await topics.connect()
  await topics.ensureTopics([{ topic: output, partitions: PARTITIONS }]).finally(() => topics.disconnect())
  const reader = await outputReader(output, `scale-reader-${runId}`, EVENTS)
  await reader.ready
  const tuning = [...(args['max-ahead-ms'] ? ['--max-ahead-ms', args['max-ahead-ms']] : []), ...(args['commit-interval-ms'] ? ['--commit-interval-ms', args['commit-interval-ms']] : [])]
  const loadBefore = loadavg()[0] as number
  const cpu0 = readCpu()
  const t0 = performance.now()
  const jsons = Array.from({ length: n }, (_, i) => join(work, `${runId}-${i}.json`))
  const children = jsons.map((json, i) =>
    spawnBench(`${guarantee} n=${n} run ${run}/${RUNS} p${i + 1}`, ['--events', String(EVENTS), '--input-topic', input, '--measure', 'throughput', '--guarantee', guarantee, '--id', runId, '--brokers', args.brokers as string, '--json-out', json, '--until-signal', ...tuning]),
  )
  const group = watchGroup(runId, n, t0)
  let reason: string | null = null
  let settled = false
  // Done, or a process gone before the end, or no new output for STALL_MS.
  await new Promise<void>((resolve) => {
    void reader.done.then(resolve)
    for (const [i, c] of children.entries()) void c.exited.then((code) => {
      if (!settled) reason ??= `process ${i + 1} exited (code ${code}) with ${reader.count()}/${EVENTS} outputs read`
      resolve()
    })
    let [count, at] = [0, performance.now()]
    const watch = setInterval(() => {
      if (reader.count() > count) [count, at] = [reader.count(), performance.now()]
      else if (performance.now() - at > STALL_MS) {
        reason ??= `no new output for ${STALL_MS / 1000} s at ${count}/${EVENTS}`
        resolve()
      }
    }, 1000)
    void reader.done.then(() => clearInterval(watch))
    void Promise.race(children.map((c) => c.exited)).then(() => clearInterval(watch))
  })
  settled = true
  const end = reader.last()
  const cpu1 = readCpu()
  // Each main thread's time since it was spawned: on a CPU, on the run queue, asleep.
  const wallMs = performance.now() - t0
  const sched = children.map((c) => {
    try {
      return schedShares({ cpuNs: 0, waitNs: 0 }, parseSchedstat(readFileSync(`/proc/${c.child.pid}/schedstat`, 'utf8')), wallMs)
    } catch {
      return null
    }
  })
  group.stop()
  for (const c of children) c.child.kill('SIGTERM')
  const codes = await Promise.all(children.map((c) => c.exited))
  await reader.stop()
  const loadAfter = loadavg()[0] as number
  const perProcess: ScaleProcess[] = []
  for (const [i, json] of jsons.entries()) {
    if (!existsSync(json)) continue
    const t = parseBenchResult(readFileSync(json, 'utf8'), json).throughput
    if (t) perProcess.push({ cpuPercent: t.cpuPercent, commits: t.commits, seconds: t.seconds, mainThread: sched[i] ?? null })
  }
  if (reason === null && codes.some((c) => c !== 0)) reason = `a process exited with ${codes.join(', ')} after the run`
  if (reason !== null) {
    failures.push({ run, guarantee, processes: n, reason })
    process.stderr.write(`${guarantee} n=${n} run ${run}: FAILED: ${reason}\n`)
  } else {
    const seconds = (end - t0) / 1000
    const r: ScaleRun = {
      run,
      guarantee,
      processes: n,
      events: EVENTS,
      seconds: +seconds.toFixed(3),
      eventsPerSecond: Math.round(EVENTS / seconds),
      processingSeconds: +((end - reader.first()) / 1000).toFixed(3),
      joinedSeconds: group.joined() === null ? null : +(group.joined() as number).toFixed(2),
      perProcess,
      machineBusyPercent: cpu0 && cpu1 ? busyPercent(cpu0, cpu1, cpus().length) : null,
      loadBefore,
      loadAfter,
    }
    runs.push(r)
    process.stdout.write(
      `${guarantee} n=${n} run ${run}: ${r.eventsPerSecond} events/s from start (${r.seconds} s; group of ${n} at ${r.joinedSeconds ?? '–'} s), ${Math.round(EVENTS / r.processingSeconds)} while processing (${r.processingSeconds} s); CPU ${perProcess.map((p) => `${p.cpuPercent}%`).join(' + ')} (main threads on CPU / run queue / asleep: ${perProcess.map((p) => (p.mainThread ? `${p.mainThread.cpuPercent}/${p.mainThread.runQueuePercent}/${p.mainThread.asleepPercent}%` : '–')).join(', ')}); commits ${perProcess.map((p) => p.commits).join(' + ')}; machine ${r.machineBusyPercent ?? '–'}%; load ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}\n`,
    )
  }
  await deleteTopics(runId)
  save()
}

try {
  const topics = new KafkaAdmin(kafka, createLogger({ level: 'warn' }), 1)
  await topics.connect()
  await topics.ensureTopics([{ topic: input, partitions: PARTITIONS }]).finally(() => topics.disconnect())
  await produceEvents({ kafka, topic: input, partitions: PARTITIONS, events: backlogEvents(EVENTS, Date.now()), encode: (e) => Buffer.from(JSON.stringify(e)) })
  for (let run = 1; run <= RUNS; run++) {
    // Who goes first alternates by run, for the guarantees and the process counts both.
    const guarantees = run % 2 ? GUARANTEES : [...GUARANTEES].reverse()
    const counts = run % 2 ? COUNTS : [...COUNTS].reverse()
    for (const g of guarantees) for (const n of counts) await runOnce(run, g, n)
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
