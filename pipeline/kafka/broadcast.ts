import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from '../api/processor.ts'
import type { PlanSource } from '../runtime/plan.ts'
import type { RawRecord, Task } from '../runtime/task.ts'
import type { KafkaAdmin } from './admin.ts'
import { CompactedLog } from './compacted-log.ts'
import { CrashRestarts } from './consumer-crash.ts'
import type { ConsumerTimings } from './client.ts'
import { subscribeWhenKnown } from './client.ts'
import type { Preparer } from './source.ts'
import { CONSUMER_RETRY } from './source.ts'
import { prepareValues, toRaw, valuesOf } from './source.ts'
import { CommittedFilter, rawMessages } from './transactions.ts'

/** How often a broadcast read that has not reached its end says where it stands. */
const STILL_READING_MS = 10_000

/**
 * Broadcast topics (small, compacted: tasks, materials, stats), read in full by every instance
 * with a consumer of its own throwaway group that never commits. What a compacted topic keeps is
 * kept in memory (the latest record per key, see {@link CompactedLog}), so a task that arrives
 * later (rebalance) gets the current configuration, and memory does not grow with the topic's
 * history.
 */
export class BroadcastReader {
  /** Per `topic:partition`: its latest record per key, in offset order. */
  readonly logs = new Map<string, CompactedLog>()
  private readonly consumer: Consumer
  private readonly fetched = new Map<string, number>()
  private readonly filters = new Map<string, CommittedFilter>()
  private readonly groupId: string
  private ends = new Map<string, number>()
  private caughtUp: () => void = () => {}
  private failStart: (err: unknown) => void = () => {}

  constructor(
    kafka: Kafka,
    private readonly topics: readonly string[],
    private readonly admin: KafkaAdmin,
    private readonly logger: Logger,
    timings: ConsumerTimings,
    app: string,
    private readonly onData: () => void,
    private readonly prepare?: Preparer,
  ) {
    this.groupId = `${app}-broadcast-${randomUUID()}`
    this.consumer = kafka.consumer({ groupId: this.groupId, ...timings, retry: CONSUMER_RETRY })
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (e) => this.advance(`${e.payload.topic}:${e.payload.partition}`, Number(e.payload.lastOffset) + 1))
    // The input consumer's crash policy (pipeline/kafka/consumer-crash.ts): a crash kafkajs gives
    // up on for an unreachable cluster (no group coordinator yet on a broker just started) starts
    // the reader's consumer again, at start-up and later (configuration published after a broker
    // restart must still arrive); any other such crash fails the start-up instead of waiting forever.
    this.crashes = new CrashRestarts({ logger, group: this.groupId, start: () => this.run(), disconnect: () => this.consumer.disconnect(), delayMs: CONSUMER_RETRY.maxRetryTime })
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (this.crashes.onCrash(e.payload, 'broadcast consumer crashed') === 'fail') this.failStart(e.payload.error)
    })
  }

  private readonly crashes: CrashRestarts

  /** Starts reading and resolves once every partition is read up to its end at start-up. */
  async start(): Promise<void> {
    for (const topic of this.topics) {
      for (const [p, o] of await this.admin.offsets(topic)) {
        const tp = `${topic}:${p}`
        this.logs.set(tp, new CompactedLog())
        if (o.high > o.low) this.ends.set(tp, o.high)
      }
    }
    const ready = new Promise<void>((resolve, reject) => {
      this.caughtUp = resolve
      this.failStart = reject
    })
    // Handled where awaited below; a crash before that must not count as an unhandled rejection.
    ready.catch(() => {})
    if (this.ends.size === 0) this.caughtUp()
    await this.run()
    const started = Date.now()
    // A read that does not reach its end says where it stands, so that a start-up that hangs
    // names the partition and its position against the end (read_committed: the last stable offset).
    const watch = setInterval(() => {
      const behind = [...this.ends].map(([tp, end]) => ({ tp, position: this.fetched.get(tp) ?? 0, end, held: this.filters.get(tp)?.held() ?? 0 }))
      this.logger.warn({ topics: this.topics, waitedMs: Date.now() - started, behind }, 'still reading broadcast topics')
    }, STILL_READING_MS)
    try {
      await ready
    } finally {
      clearInterval(watch)
    }
    this.logger.info({ topics: this.topics, records: [...this.logs.values()].reduce((n, l) => n + l.size, 0), ms: Date.now() - started }, 'broadcast topics read')
  }

  /**
   * Connects, subscribes and runs the consumer (again after a crash: its group never commits, so
   * it reads from the start, and what was read before is skipped by position).
   */
  private async run(): Promise<void> {
    await this.consumer.connect()
    await subscribeWhenKnown(this.consumer, this.topics)
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        const tp = `${batch.topic}:${batch.partition}`
        let log = this.logs.get(tp)
        if (!log) this.logs.set(tp, (log = new CompactedLog()))
        const from = this.fetched.get(tp) ?? 0
        let filter = this.filters.get(tp)
        if (!filter) this.filters.set(tp, (filter = new CommittedFilter()))
        const fresh = rawMessages(batch).filter((x) => Number(x.offset) >= from)
        // Stopping while the registry is away: nothing more to read.
        if (this.prepare && !(await prepareValues(this.prepare, this.logger, batch.topic, valuesOf(fresh), isRunning, heartbeat))) return
        for (const m of filter.push(fresh)) log.append(toRaw(batch.topic, batch.partition, Number(m.offset), m))
        this.advance(tp, Number(batch.lastOffset()) + 1)
        this.onData()
      },
    })
  }

  private advance(tp: string, next: number): void {
    if (next > (this.fetched.get(tp) ?? 0)) this.fetched.set(tp, next)
    const end = this.ends.get(tp)
    if (end !== undefined && next >= end) {
      this.ends.delete(tp)
      if (this.ends.size === 0) this.caughtUp()
    }
  }

  async stop(): Promise<void> {
    this.crashes.stop()
    await this.consumer.disconnect().catch(() => {})
    await this.admin.deleteGroups([this.groupId])
  }
}

/**
 * Hands a reader's new broadcast records to every task that reads them (`cursors`: per task, the
 * next offset per partition; a task without one is new). `enter` is called before a task's records,
 * so the caller knows whose outputs follow. Returns the number of records handed over.
 */
export function feedBroadcast(reader: Pick<BroadcastReader, 'logs'>, tasks: ReadonlyMap<Task, Map<string, number>>, enter: (task: Task) => void): number {
  let n = 0
  // The loop calls this at every turn, and on the decision flow a turn is about one event (it
  // waits for a repartitioned record's round trip): matching every task's sources against every
  // partition at each turn took 0.6 s of the 4.5 s the loop spent outside processing records in
  // a profile of bench/decisions-kafka.bench.ts (issue 9, fifth round). A task fed up to the
  // logs' current state is skipped until a log grows.
  const state = logsState(reader.logs)
  for (const [task, cursors] of tasks) {
    if (fedAt.get(cursors) === state) continue
    // The task's unseen broadcast records, merged by timestamp as the embedded log orders them
    // (ties: source order, then partition), so that e.g. materials at t0 come before tasks at t1.
    // A cursor is the next offset the task reads; a task without one starts from what the
    // compacted view keeps now (the current configuration).
    const heads: Array<{ source: PlanSource; tp: string; records: Generator<RawRecord>; head: RawRecord }> = []
    for (const source of task.sub.sources) {
      if (!source.broadcast) continue
      for (const [tp, log] of reader.logs) {
        if (!tp.startsWith(`${source.topic}:`) || tp.lastIndexOf(':') !== source.topic.length) continue
        const from = cursors.get(tp)
        if (from !== undefined && from >= log.nextOffset) continue
        const records = log.read(from)
        const first = records.next()
        if (first.done) cursors.set(tp, log.nextOffset)
        else heads.push({ source, tp, records, head: first.value })
      }
    }
    if (heads.length === 0) {
      fedAt.set(cursors, state)
      continue
    }
    enter(task)
    while (heads.length) {
      let bi = 0
      for (let i = 1; i < heads.length; i++) if ((heads[i] as (typeof heads)[number]).head.timestamp < (heads[bi] as (typeof heads)[number]).head.timestamp) bi = i
      const best = heads[bi] as (typeof heads)[number]
      task.processRecord(best.source, best.head, best.tp)
      cursors.set(best.tp, best.head.offset + 1)
      n++
      const next = best.records.next()
      if (next.done) heads.splice(bi, 1)
      else best.head = next.value
    }
    fedAt.set(cursors, state)
  }
  if (n > 0) forgetPassedTombstones(reader.logs, tasks.values())
  return n
}

/** Per task (its cursors), the {@link logsState} it was last fed up to in full. */
const fedAt = new WeakMap<ReadonlyMap<string, number>, string>()

/**
 * What the broadcast logs hold, as far as feeding goes: their number and the sum of their next
 * offsets. Partitions are only ever added and a log's next offset only grows (compaction and
 * forgotten tombstones leave it), so the same state means no record was appended since.
 */
function logsState(logs: ReadonlyMap<string, CompactedLog>): string {
  let sum = 0
  for (const log of logs.values()) sum += log.nextOffset
  return `${logs.size}/${sum}`
}

/**
 * Lets each broadcast partition forget the tombstones every task has read past (a task that
 * starts later skips them anyway; see {@link CompactedLog}).
 */
function forgetPassedTombstones(logs: ReadonlyMap<string, CompactedLog>, cursors: Iterable<ReadonlyMap<string, number>>): void {
  const all = [...cursors]
  for (const [tp, log] of logs) {
    let min = log.nextOffset
    for (const c of all) min = Math.min(min, c.get(tp) ?? log.nextOffset)
    log.forgetTombstonesBelow(min)
  }
}
