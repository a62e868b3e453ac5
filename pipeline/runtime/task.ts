import type { ErrorDecision, ErrorHandler, Phase } from '../api/errors.ts'
import { HermesError, SerdeError, describeError } from '../api/errors.ts'
import type { Logger, Processor, ProcessorContext, Timer, TimerService } from '../api/processor.ts'
import type { Headers } from '../api/record.ts'
import { Record } from '../api/record.ts'
import type { ProcessNode, TopologyNode } from '../api/topology.ts'
import type { StoreScope } from '../state/stores.ts'
import { createBroadcastStore, createMapStore, createValueStore, createWindowStore } from '../state/stores.ts'
import type { TaskState } from '../state/task-state.ts'
import { deadLetterHeaders, originOf, withOrigin } from './dead-letter.ts'
import type { EventTimeRules } from './event-time.ts'
import { EventTimeCheck, NO_EVENT_TIME_RULES } from './event-time.ts'
import { partitionFor } from './partitioner.ts'
import type { PlanSource, SubTopology } from './plan.ts'
import type { DueTimer, TimerQueue } from './timers.ts'
import { TimerTimeError } from './timers.ts'
import { TaskTime } from './task-time.ts'

/** Where a task's output records go (the embedded log or a Kafka producer). */
export interface Collector {
  send(topic: string, key: string | null, value: Buffer | null, timestamp: number, headers?: Headers): void
}

/** A record as read from a topic, before decoding. */
export interface RawRecord {
  topic: string
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
  timestamp: number
  headers?: Headers
}

/** Per-phase error policy: a fixed decision or a handler function. */
export type ErrorPolicy = { [P in Phase]: ErrorDecision | ErrorHandler }

/** Counters of one node, read by the metrics layer. */
export interface NodeStats {
  in: number
  out: number
  errors: number
}

export { DLQ_HEADERS } from './dead-letter.ts'

/**
 * Records of keyed sources whose Kafka key or partition is not the one their key field gives,
 * per source node (see docs/producers.md).
 */
export interface KeyRoutingStats {
  /** Processed under their key field's value: the Kafka key differed (`key_mismatch`) or was null (`no_key`). */
  rekeyed: number
  /** Read from a partition their key field does not hash to, and sent to the source's repartition topic. */
  repartitioned: number
  /** Dead-lettered: key field missing, not a string or empty, or (`runtime.keyMismatch: dead-letter`) a disagreeing Kafka key. */
  rejected: number
}

export interface TaskOptions {
  app: string
  sub: SubTopology
  partition: number
  state: TaskState
  timers: TimerQueue
  collector: Collector
  repartitionTopics: ReadonlyMap<string, string>
  /** Partition count of the sub-topology's keyed inputs: where a key belongs is `partitionFor(key, partitions)`. */
  partitions: number
  /** What to do with a keyed record whose Kafka key is not its key field (`runtime.keyMismatch`). */
  keyMismatch: 'rekey' | 'dead-letter'
  errorPolicy: ErrorPolicy
  dlqTopic: string
  /** `time.maxOutOfOrdernessMs`: only needed to read a task time saved by the previous layout (default 0). */
  maxOutOfOrdernessMs?: number
  /** The wall clock, against which `time.maxFutureMs` is checked. */
  clock: () => number
  /** The app clock of this process, saved with the task's time at each commit (see TaskTime.save). */
  appClock?: () => number
  /** Plausibility of event times (`time.maxFutureMs`, `time.minTimestampMs`); absent: only the checks no setting turns off. */
  time?: EventTimeRules
  logger: Logger
  /** Called for every operator `ctx.count(...)`. */
  onCount?: (node: string, event: string, labels: { [k: string]: string } | undefined, amount: number) => void
}

type Handler = (record: Record<unknown>) => void

const EMPTY_HEADERS: Headers = Object.freeze({})
/** Dead-letter warnings logged per task before they are only counted (one summary line per 1000). */
const DLQ_LOG_FIRST = 10

/** Thrown inside the node chain so the task knows which node failed. */
class NodeFailure extends Error {
  constructor(
    readonly nodeId: string,
    readonly phase: Phase,
    readonly original: unknown,
  ) {
    super(describeError(original))
  }
}

interface ProcessRuntime {
  node: ProcessNode
  processor: Processor<unknown, unknown>
  scope: StoreScope & { key: string; time: number; broadcast: boolean }
}

/**
 * One task: the nodes of a sub-topology for one input partition, with their processors, state
 * and timers. Everything here is synchronous; the runner feeds records and timers in order and
 * drives commits.
 */
export class Task {
  readonly id: string
  readonly partition: number
  readonly sub: SubTopology
  readonly state: TaskState
  readonly timers: TimerQueue
  /** The task's event time (per-partition watermarks), restored from its state. */
  readonly time: TaskTime
  readonly stats = new Map<string, NodeStats>()
  /** Key routing of each keyed source node (see {@link KeyRoutingStats}). */
  readonly keyRouting = new Map<string, KeyRoutingStats>()
  /** Next offset to read, per `topic:partition`. */
  readonly positions = new Map<string, number>()
  private readonly opts: TaskOptions
  private readonly handlers = new Map<string, Handler[]>()
  private readonly broadcastHandlers = new Map<string, Handler[]>()
  private readonly processes = new Map<string, ProcessRuntime>()
  /** Per source: its counters and the handlers its records go to (looked up once, not per record). */
  private readonly sourceRoutes = new Map<PlanSource, { stat: NodeStats; next: Handler[] | undefined }>()
  private committed = new Map<string, number>()
  /** Raw record being processed (for dead-letter records and error context). */
  private current: RawRecord | null = null
  private dlqCount = 0
  private readonly timeCheck: EventTimeCheck

  constructor(opts: TaskOptions) {
    this.opts = opts
    this.timeCheck = new EventTimeCheck(opts.time ?? NO_EVENT_TIME_RULES, opts.clock)
    this.sub = opts.sub
    this.partition = opts.partition
    this.state = opts.state
    this.timers = opts.timers
    this.id = `${opts.sub.id}_${opts.partition}`
    for (const s of opts.sub.sources) {
      this.stats.set(s.nodeId, { in: 0, out: 0, errors: 0 })
      if (s.keyField !== undefined && !s.broadcast) this.keyRouting.set(s.nodeId, { rekeyed: 0, repartitioned: 0, rejected: 0 })
    }
    for (const n of opts.sub.nodes) this.stats.set(n.id, { in: 0, out: 0, errors: 0 })
    // Build back to front so each handler can capture its downstream handlers.
    for (let i = opts.sub.nodes.length - 1; i >= 0; i--) this.wire(opts.sub.nodes[i] as TopologyNode)
    for (const s of opts.sub.sources) {
      this.sourceRoutes.set(s, { stat: this.stats.get(s.nodeId) as NodeStats, next: (s.broadcast ? this.broadcastHandlers : this.handlers).get(`${s.nodeId}\u0000main`) })
    }
    this.time = new TaskTime([...new Set(opts.sub.sources.filter((s) => s.timed).map((s) => `${s.topic}:${opts.partition}`))])
    this.time.load(this.state, opts.maxOutOfOrdernessMs ?? 0)
    const saved = this.state.getMeta<{ [tp: string]: number }>('positions') ?? {}
    for (const [tp, off] of Object.entries(saved)) {
      this.positions.set(tp, off)
      this.committed.set(tp, off)
    }
  }

  /** Calls `init` on every processor. */
  init(): void {
    for (const p of this.processes.values()) {
      try {
        p.processor.init?.(this.contextFor(p))
      } catch (err) {
        throw new HermesError('PROCESS_ERROR', `node ${p.node.id}: init() failed in task ${this.id}: ${describeError(err)}`, { cause: err })
      }
    }
  }

  /** Number of records sent to the dead-letter topic by this task. */
  deadLettered(): number {
    return this.dlqCount
  }

  /**
   * Decodes and processes one record of `source`, then advances its position and, for a source
   * whose records carry event time, the partition's highest time ({@link Task.time}). Returns the
   * record's event time, or NaN when it could not be decoded or was processed before.
   * @throws HermesError USAGE if `source` is not one of this task's `sub.sources` (nothing is processed).
   */
  processRecord(source: PlanSource, raw: RawRecord, tp = `${raw.topic}:${raw.partition}`): number {
    // Every runner passes one of this task's own sources (`task.sub.sources`: embedded cursors,
    // Kafka partition owners, broadcast feeds), the objects the routes were built from; any other
    // object is a runner bug, and looking its handlers up again by node id would hide it.
    const route = this.sourceRoutes.get(source)
    if (route === undefined) throw new HermesError('USAGE', `task ${this.id} was handed a record of source ${source.nodeId} (${source.topic}) that is not one of its sub-topology's sources; pass an element of task.sub.sources`)
    const expected = this.positions.get(tp)
    if (expected !== undefined && raw.offset < expected) return Number.NaN // already processed before a restart
    // A record read back from a source's repartition topic is the original record moved to its
    // partition: operators, error handlers and dead letters see the original.
    const input = source.rerouted ? originOf(raw) : raw
    this.current = input
    try {
      let value: unknown
      try {
        // A null value on a broadcast (compacted configuration) topic is a tombstone: it deletes
        // its key, and the operator's processBroadcast sees it as a null value.
        if (raw.value === null && !source.broadcast) throw new Error('record has no value (null)')
        value = raw.value === null ? null : source.serde.deserialize(raw.value)
      } catch (err) {
        // Every task reads a broadcast record: the task of partition 0 dead-letters it, once (in
        // the first sub-topology that reads the topic).
        this.fail('deserialize', source.nodeId, err, input, source.broadcast && (this.partition !== 0 || source.reportedElsewhere === true))
        return Number.NaN
      }
      // A record of a source without event time (configuration) and without a time field has no
      // time: 0, as embedded file loading gives it, not the broker's wall clock at publication
      // (operators plan from their task's time then, never from when someone published a profile).
      let ts = source.timed || source.broadcast ? raw.timestamp : 0
      if (source.timestampField !== undefined && value !== null && typeof value === 'object') {
        const t = (value as { [k: string]: unknown })[source.timestampField]
        // A value without the field (or null there) has no time of its own, e.g. a configuration
        // record: it takes the log timestamp. One that carries it is held to it, once, here: a
        // refused time never reaches an operator, a timer, an output timestamp or the watermark.
        if (t !== undefined && t !== null) {
          const problem = this.timeCheck.problem(source.timestampField, t)
          if (problem !== undefined) {
            this.count(source.nodeId, 'time_rejected', 'implausible_time')
            this.fail('deserialize', source.nodeId, new SerdeError(problem), input, source.broadcast && (this.partition !== 0 || source.reportedElsewhere === true))
            return Number.NaN
          }
          ts = t as number
        }
      }
      let key = input.key
      // Read back from a source's repartition topic, a record's key is its key field's value.
      if (source.keyField !== undefined && !source.broadcast) {
        const routed = source.rerouted ? raw.key : this.routeByKeyField(source, source.keyField, input, value, ts)
        if (routed === null) return Number.NaN
        key = routed
      }
      const record = new Record<unknown>({ key, value, timestamp: ts, headers: input.headers ?? EMPTY_HEADERS, topic: input.topic, partition: input.partition, offset: input.offset })
      const stat = route.stat
      stat.in++
      const next = route.next
      if (next) {
        try {
          for (const h of next) h(record)
          stat.out += next.length
        } catch (err) {
          if (err instanceof NodeFailure) this.fail(err.phase, err.nodeId, err.original, input, source.broadcast && this.partition !== 0)
          else throw err
        }
      }
      if (source.timed) this.time.observe(tp, ts)
      return ts
    } finally {
      this.positions.set(tp, raw.offset + 1)
      this.current = null
    }
  }

  /**
   * The key of a record of a keyed source is its key field (e.g. `userId`), never the Kafka key:
   * a record without a usable field is dead-lettered (nothing can be decided for a made-up
   * user); a disagreeing Kafka key is counted and replaced, or dead-lettered by setting; a record
   * on a partition its key does not hash to is sent to the source's repartition topic and
   * processed when read back there (on the partition that holds its key's state). Returns the
   * key, or null when the record is not to be processed here.
   */
  private routeByKeyField(source: PlanSource, keyField: string, raw: RawRecord, value: unknown, ts: number): string | null {
    const routing = this.keyRouting.get(source.nodeId) as KeyRoutingStats
    const field = value !== null && typeof value === 'object' ? (value as { [k: string]: unknown })[keyField] : undefined
    if (typeof field !== 'string' || field === '') {
      const what = field === undefined ? 'is missing' : field === '' ? 'is empty' : `is ${field === null ? 'null' : `a ${typeof field}`}, not a string`
      routing.rejected++
      this.count(source.nodeId, 'key_rejected', 'no_key_field')
      this.fail('deserialize', source.nodeId, new SerdeError(`key field "${keyField}" ${what}: records of ${raw.topic} are keyed by their "${keyField}", so this one cannot be processed; produce it with a non-empty string "${keyField}"`), raw)
      return null
    }
    if (raw.key !== field) {
      if (raw.key !== null && this.opts.keyMismatch === 'dead-letter') {
        routing.rejected++
        this.count(source.nodeId, 'key_rejected', 'key_mismatch')
        const stat = this.stats.get(source.nodeId) as NodeStats
        stat.errors++
        this.sendToDlq(raw, 'deserialize', source.nodeId, `Kafka key ${JSON.stringify(raw.key)} is not the record's "${keyField}" ${JSON.stringify(field)} (runtime.keyMismatch: dead-letter); produce it with key ${JSON.stringify(field)}`)
        return null
      }
      routing.rekeyed++
      this.count(source.nodeId, 'rekeyed', raw.key === null ? 'no_key' : 'key_mismatch')
    }
    if (source.misplacedTopic !== undefined && this.opts.partitions > 1 && partitionFor(field, this.opts.partitions) !== raw.partition) {
      routing.repartitioned++
      this.count(source.nodeId, 'repartitioned', 'wrong_partition')
      try {
        // Event time as the record's timestamp, as keyBy writes it: the Kafka runner holds the
        // watermark at the times of records on their way back to its own inputs.
        this.opts.collector.send(source.misplacedTopic, field, raw.value, ts, withOrigin(raw))
      } catch (err) {
        this.fail('produce', source.nodeId, err, raw)
      }
      return null
    }
    return field
  }

  private count(node: string, event: string, reason: string): void {
    this.opts.onCount?.(node, event, { reason }, 1)
  }

  /** Fires the earliest timer of a domain if it is due at `upTo`; returns whether one fired. */
  fireNextTimer(domain: 'event' | 'processing', upTo: number): boolean {
    const due = this.timers.popDue(domain, upTo)
    if (!due) return false
    this.fireTimer(due)
    return true
  }

  /**
   * Saves positions, time and timers into the state and flushes it in one batch.
   * @throws HermesError OFFSET_REGRESSION if a position moved backwards since the last commit.
   */
  async commit(): Promise<void> {
    for (const [tp, off] of this.positions) {
      const prev = this.committed.get(tp)
      if (prev !== undefined && off < prev) {
        throw new HermesError('OFFSET_REGRESSION', `task ${this.id}: offset of ${tp} would move back from ${prev} to ${off}; refusing to commit`)
      }
    }
    // Taken before the first await: on Kafka with exactly_once_v2 the loop goes on processing
    // while the commit is written (KafkaRunner.startCommit), moving the positions further.
    const positions = new Map(this.positions)
    this.state.setMeta('positions', Object.fromEntries(positions))
    this.time.save(this.state, this.opts.appClock?.())
    this.state.addRawOps(this.timers.drainChanges())
    await this.state.flush()
    this.committed = positions
  }

  /** Calls `close` on every processor. */
  close(): void {
    for (const p of this.processes.values()) {
      try {
        p.processor.close?.()
      } catch (err) {
        this.opts.logger.warn({ node: p.node.id, task: this.id, err: describeError(err) }, 'processor close() failed')
      }
    }
  }

  private fireTimer(due: DueTimer): void {
    const p = this.processes.get(due.node)
    if (!p || !p.processor.onTimer) return
    p.scope.key = due.timer.key ?? ''
    p.scope.time = due.timer.time
    try {
      p.processor.onTimer(due.timer)
    } catch (err) {
      const original = err instanceof NodeFailure ? err.original : err
      const node = err instanceof NodeFailure ? err.nodeId : due.node
      const phase = err instanceof NodeFailure ? err.phase : 'process'
      this.fail(phase, node, original, this.timerAsRaw(due.timer))
    }
  }

  private timerAsRaw(t: Timer): RawRecord {
    return {
      topic: '',
      partition: this.partition,
      offset: -1,
      key: t.key,
      value: Buffer.from(JSON.stringify({ timer: { time: t.time, domain: t.domain, name: t.name, payload: t.payload } }), 'utf8'),
      timestamp: t.time,
    }
  }

  /** Applies the error policy: dead-letter and continue, or stop with an error naming everything. */
  private fail(phase: Phase, nodeId: string, error: unknown, raw: RawRecord, quiet = false): void {
    const stat = this.stats.get(nodeId)
    if (stat) stat.errors++
    const policy = this.opts.errorPolicy[phase]
    // A timer at no point in time is the input's data, not a fault a restart could get past (see TimerTimeError).
    const decision = error instanceof TimerTimeError ? 'continue' : typeof policy === 'function' ? policy({ phase, error, topic: raw.topic, partition: raw.partition, offset: raw.offset, nodeId }) : policy
    const where = `${raw.topic || '(timer)'}[${raw.partition}]@${raw.offset}`
    if (decision !== 'continue') {
      throw new HermesError(phase === 'process' ? 'PROCESS_ERROR' : phase === 'produce' ? 'PRODUCE_ERROR' : 'SERDE_ERROR', `${phase} failed at node ${nodeId} on ${where}: ${describeError(error)}`, {
        cause: error,
      })
    }
    if (!quiet) this.sendToDlq(raw, phase, nodeId, describeError(error))
  }

  private sendToDlq(raw: RawRecord, phase: Phase, nodeId: string, reason: string): void {
    this.dlqCount++
    if (this.dlqCount <= DLQ_LOG_FIRST || this.dlqCount % 1000 === 0) {
      this.opts.logger.warn(
        { phase, node: nodeId, task: this.id, topic: raw.topic, partition: raw.partition, offset: raw.offset, reason, deadLettered: this.dlqCount },
        this.dlqCount === DLQ_LOG_FIRST ? 'record sent to dead-letter topic (further ones are logged every 1000th; all are on the topic)' : 'record sent to dead-letter topic',
      )
    }
    this.opts.collector.send(this.opts.dlqTopic, raw.key, raw.value, raw.timestamp, deadLetterHeaders(raw, this.opts.app, phase, nodeId, reason))
  }

  private downstream(nodeId: string, output: string): Handler[] {
    return this.handlers.get(`${nodeId}\u0000${output}`) ?? []
  }

  /** Registers the handler of `node` under each of its input edges. */
  private wire(node: TopologyNode): void {
    const stat = this.stats.get(node.id) as NodeStats
    const id = node.id
    const main = this.downstream(id, 'main')
    const emit = (r: Record<unknown>): void => {
      for (const h of main) h(r)
      stat.out += main.length
    }
    // Errors thrown by user code are tagged with this node; ones from further down keep their tag.
    const tag = (phase: Phase, err: unknown): NodeFailure => (err instanceof NodeFailure ? err : new NodeFailure(id, phase, err))
    let handler: Handler
    switch (node.kind) {
      case 'map':
        handler = (r) => {
          stat.in++
          let out: Record<unknown>
          try {
            out = r.withValue(node.fn(r.value, r))
          } catch (err) {
            throw tag('process', err)
          }
          emit(out)
        }
        break
      case 'filter':
        handler = (r) => {
          stat.in++
          let keep: boolean
          try {
            keep = node.fn(r.value, r)
          } catch (err) {
            throw tag('process', err)
          }
          if (keep) emit(r)
        }
        break
      case 'flatMap':
        handler = (r) => {
          stat.in++
          let outs: unknown[]
          try {
            outs = [...node.fn(r.value, r)]
          } catch (err) {
            throw tag('process', err)
          }
          for (const v of outs) emit(r.withValue(v))
        }
        break
      case 'merge':
        handler = (r) => {
          stat.in++
          emit(r)
        }
        break
      case 'keyBy': {
        const topic = this.opts.repartitionTopics.get(id) as string
        // The serde the repartition topic's reader decodes with (plan.ts): the keyBy's, else JSON.
        const serde = node.serde
        handler = (r) => {
          stat.in++
          let key: string
          let bytes: Buffer
          try {
            key = node.fn(r.value, r)
            if (typeof key !== 'string') throw new TypeError(`keyBy must return a string key, got ${typeof key}`)
            bytes = serde ? serde.serialize(r.value) : jsonBytes(r.value)
          } catch (err) {
            throw tag('process', err)
          }
          try {
            this.opts.collector.send(topic, key, bytes, r.timestamp, r.headers)
          } catch (err) {
            // Refused by the collector (e.g. larger than the repartition topic accepts).
            throw tag('produce', err)
          }
          stat.out++
        }
        break
      }
      case 'sink':
        handler = (r) => {
          stat.in++
          try {
            // The collector may refuse the record too (e.g. larger than the topic accepts): a
            // produce-phase error of this input, handled by the produce error policy.
            this.opts.collector.send(node.topic, r.key, node.serde.serialize(r.value), r.timestamp, r.headers)
          } catch (err) {
            throw tag('produce', err)
          }
          stat.out++
        }
        break
      case 'process': {
        const rt = this.createProcess(node)
        handler = (r) => {
          stat.in++
          rt.scope.key = r.key ?? ''
          rt.scope.time = r.timestamp
          try {
            rt.processor.process(r)
          } catch (err) {
            throw tag('process', err)
          }
        }
        if (node.broadcastInputs.length) {
          const bh: Handler = (r) => {
            stat.in++
            rt.scope.broadcast = true
            rt.scope.time = r.timestamp
            try {
              if (!rt.processor.processBroadcast) {
                throw new HermesError('PROCESS_ERROR', `node ${id} is connected to broadcast streams but its processor has no processBroadcast()`)
              }
              rt.processor.processBroadcast(r)
            } catch (err) {
              throw tag('process', err)
            } finally {
              rt.scope.broadcast = false
            }
          }
          for (const e of node.broadcastInputs) this.addHandler(this.broadcastHandlers, e.node, e.output, bh)
        }
        break
      }
      default:
        return
    }
    for (const e of node.inputs) this.addHandler(this.handlers, e.node, e.output, handler)
  }

  private addHandler(map: Map<string, Handler[]>, node: string, output: string, h: Handler): void {
    const k = `${node}\u0000${output}`
    const list = map.get(k)
    if (list) list.push(h)
    else map.set(k, [h])
  }

  private createProcess(node: ProcessNode): ProcessRuntime {
    let processor: Processor<unknown, unknown>
    try {
      processor = node.factory()
    } catch (err) {
      throw new HermesError('PROCESS_ERROR', `node ${node.id}: processor factory failed: ${describeError(err)}`, { cause: err })
    }
    if (!processor || typeof processor.process !== 'function') {
      throw new HermesError('PROCESS_ERROR', `node ${node.id}: the factory must return an object with process(record)`)
    }
    const rt: ProcessRuntime = {
      node,
      processor,
      scope: {
        nodeId: node.id,
        key: '',
        time: -Infinity,
        broadcast: false,
        currentKey() {
          if (this.broadcast) throw new HermesError('STATE_ERROR', `node ${node.id}: keyed stores and timers are not available in processBroadcast (there is no current key)`)
          return this.key
        },
        eventTime() {
          return this.time
        },
        broadcastWritable() {
          return this.broadcast
        },
      },
    }
    this.processes.set(node.id, rt)
    return rt
  }

  private contextFor(rt: ProcessRuntime): ProcessorContext<unknown> {
    const { node, scope } = rt
    const task = this
    const main = this.downstream(node.id, 'main')
    const stat = this.stats.get(node.id) as NodeStats
    const storeNames = Object.keys(node.stores)
    const cache = new Map<string, unknown>()
    const byKind = { value: new Map<string, unknown>(), map: new Map<string, unknown>(), window: new Map<string, unknown>() }
    const keyed = <T>(name: string, kind: 'value' | 'map' | 'window', make: (full: string) => T): T => {
      const hit = byKind[kind].get(name)
      if (hit) return hit as T
      const spec = node.stores[name]
      if (!spec || spec.kind !== kind) {
        throw new HermesError(
          'STATE_ERROR',
          `node ${node.id} asked for ${kind} store "${name}" but declares ${storeNames.length ? storeNames.map((n) => `${n} (${node.stores[n]?.kind})`).join(', ') : 'no keyed stores'}; declare it in process("${node.id}", factory, { stores: { ${name}: ${kind}Store() } })`,
        )
      }
      const store = make(`${node.id}.${name}`)
      byKind[kind].set(name, store)
      return store
    }
    const timers: TimerService = {
      registerEventTime: (time, name = '', payload = null) => task.timers.register('event', node.id, scope.currentKey(), time, name, payload),
      deleteEventTime: (time, name = '') => task.timers.delete('event', node.id, scope.currentKey(), time, name),
      registerProcessingTime: (time, name = '', payload = null) => task.timers.register('processing', node.id, scope.currentKey(), time, name, payload),
      deleteProcessingTime: (time, name = '') => task.timers.delete('processing', node.id, scope.currentKey(), time, name),
    }
    const log = boundLogger(this.opts.logger, { node: node.id, task: this.id })
    return {
      nodeId: node.id,
      taskId: this.id,
      partition: this.partition,
      forward(record) {
        for (const h of main) h(record)
        stat.out += main.length
      },
      forwardTo(output, record) {
        if (!node.sideOutputs.includes(output)) {
          throw new HermesError('PROCESS_ERROR', `node ${node.id} forwarded to undeclared side output "${output}"; declare it with { sideOutputs: ["${output}"] }`)
        }
        const hs = task.downstream(node.id, output)
        for (const h of hs) h(record)
        stat.out += hs.length
      },
      deadLetter(record, reason) {
        stat.errors++
        // A record read from a topic (or derived from one) is dead-lettered as it was read: the
        // input's bytes, key, headers and timestamp, so it can be replayed unchanged.
        const input = task.current
        if (input && record.topic === input.topic && record.partition === input.partition && record.offset === input.offset) {
          task.sendToDlq(input, 'process', node.id, reason)
          return
        }
        // A record an operator made itself has no bytes as read: its JSON rendering stands in,
        // unless the operator kept the bytes of the input it stands for (ctx.inputBytes()).
        let value: Buffer | null
        try {
          value = Buffer.isBuffer(record.value) ? record.value : record.value === undefined ? null : Buffer.from(JSON.stringify(record.value), 'utf8')
        } catch {
          value = null
        }
        task.sendToDlq(
          { topic: record.topic, partition: record.partition, offset: record.offset, key: record.key, value, timestamp: record.timestamp, headers: record.headers },
          'process',
          node.id,
          reason,
        )
      },
      // Operators ask for their stores on every record and timer: a store made before is
      // returned without building the factory closure that only a first call needs.
      valueStore: (name) => (byKind.value.get(name) as never) ?? keyed(name, 'value', (full) => createValueStore(task.state, full, node.stores[name] as never, scope)),
      mapStore: (name) => (byKind.map.get(name) as never) ?? keyed(name, 'map', (full) => createMapStore(task.state, full, node.stores[name] as never, scope)),
      windowStore: (name) => (byKind.window.get(name) as never) ?? keyed(name, 'window', (full) => createWindowStore(task.state, full, node.stores[name] as never, scope)),
      broadcastStore: (name) => {
        // By the name asked for: a store made before is found without composing its full name.
        let store = cache.get(name)
        if (store) return store as never
        if (!node.broadcastStores[name]) {
          const declared = Object.keys(node.broadcastStores)
          throw new HermesError('STATE_ERROR', `node ${node.id} asked for broadcast store "${name}" but declares ${declared.length ? declared.join(', ') : 'none'}; add it to { broadcastStores }`)
        }
        store = createBroadcastStore(task.state, `${node.id}.${name}`, scope)
        cache.set(name, store)
        return store as never
      },
      timers,
      watermark: () => task.time.current,
      currentKey: () => scope.currentKey(),
      withKey<T>(key: string, fn: () => T): T {
        const saved = { key: scope.key, broadcast: scope.broadcast }
        scope.key = key
        scope.broadcast = false
        try {
          return fn()
        } finally {
          scope.key = saved.key
          scope.broadcast = saved.broadcast
        }
      },
      forEachKey(store, fn) {
        if (!node.stores[store]) {
          throw new HermesError('STATE_ERROR', `node ${node.id}: forEachKey("${store}") needs a declared keyed store (declared: ${storeNames.join(', ') || 'none'})`)
        }
        const keys = task.state.keysWithValue(`${node.id}.${store}`)
        const CHUNK = 1000
        for (let i = 0; i < keys.length; i += CHUNK) {
          const chunk = keys.slice(i, i + CHUNK)
          task.state.prefetch(chunk)
          for (const key of chunk) this.withKey(key, () => fn(key))
        }
      },
      inputBytes: () => task.current?.value ?? null,
      wallClock: () => task.opts.clock(),
      count: (event, labels, amount = 1) => task.opts.onCount?.(node.id, event, labels, amount),
      log,
    }
  }
}

/** A logger whose every entry carries `fields` (an operator's lines say which node and task wrote them). */
function boundLogger(log: Logger, fields: object): Logger {
  const at = (level: keyof Logger) => (obj: object | string, msg?: string): void => {
    if (typeof obj === 'string') log[level](fields, obj)
    else log[level]({ ...fields, ...obj }, msg)
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8')
}
