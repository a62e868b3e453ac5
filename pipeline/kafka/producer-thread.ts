import { Worker } from 'node:worker_threads'
import { HermesError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { ProduceAck, ProducerFactory, ProducerSettings, SinkProducer, SinkTransaction } from './producer-port.ts'
import type { FromWorker, ProducerWorkerData, ToWorker } from './producer-worker.ts'
import { fromWire, packRecords } from './producer-wire.ts'

/** How long closing waits for the producer thread to disconnect its producers before ending it. */
const SHUTDOWN_MS = 10_000

type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never

/**
 * The sink's producers on a worker thread (`kafka.producer.thread: true`, issue 9): kafkajs runs
 * in producer-worker.ts, one thread for all the sink's producers, and this side posts it packed
 * records (producer-wire.ts) and waits for the acknowledgements. Failures come back as errors
 * with kafkajs' names, types and causes, so the runner treats them as before; the thread's
 * kafkajs log lines reach the sink's logger.
 *
 * If the thread dies (an uncaught exception in it, out of memory), every call waiting on it and
 * every later call of its producers fails with a PRODUCE_ERROR saying so, which the runner does
 * not retry: a crash there is the same as a crash of the process today. The next producer made
 * (after the sink's reset) gets a new thread.
 */
export class ThreadProducers implements ProducerFactory {
  private thread: ProducerThread | null = null

  constructor(
    private readonly config: HermesConfig['kafka'],
    private readonly logger: Logger,
    private readonly clientId = config.clientId,
  ) {
    // Started now: loading kafkajs and Hermes' patches in the new thread takes 0.3-0.5 s of CPU
    // (1-2.5 s on a loaded machine), which overlaps the runner's own start (admin, topics, group).
    this.thread = this.start()
  }

  create(settings: ProducerSettings): SinkProducer {
    if (!this.thread || this.thread.stopped) this.thread = this.start()
    return this.thread.producer(settings)
  }

  private start(): ProducerThread {
    return new ProducerThread({ config: this.config, clientId: this.clientId, levels: levelsOf(this.logger) }, this.logger)
  }

  /** Disconnects the thread's producers and ends it. */
  async close(): Promise<void> {
    const t = this.thread
    this.thread = null
    await t?.close()
  }
}

/** One worker thread running producer-worker.ts, and the calls waiting for its answers. */
export class ProducerThread {
  private readonly worker: Worker
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 0
  private nextProducer = 0
  /** Why the thread is gone, once it is. */
  private failure: Error | null = null
  private closing = false

  constructor(
    data: ProducerWorkerData,
    private readonly logger: Logger,
  ) {
    // tsx (Hermes runs from its TypeScript sources) is registered in the worker too, resolved
    // from here so that it does not depend on the working directory (as console/server/replay-client.ts).
    this.worker = new Worker(new URL('./producer-worker.ts', import.meta.url), { workerData: data, execArgv: ['--import', import.meta.resolve('tsx')] })
    this.worker.on('message', (m: FromWorker) => this.receive(m))
    this.worker.on('error', (err) => this.gone(`it threw ${err.name}: ${err.message}`, err))
    this.worker.on('exit', (code) => this.gone(`exit code ${code}`))
    // Idle, the thread does not keep the process alive; a call waiting for it does (see call).
    this.worker.unref()
  }

  /** Whether the thread has ended (crashed or closed). */
  get stopped(): boolean {
    return this.failure !== null
  }

  producer(settings: ProducerSettings): SinkProducer {
    const producer = this.nextProducer++
    // The thread takes messages in order: the producer exists before its first call arrives.
    this.call({ op: 'create', producer, settings }).catch(() => {})
    const send = (records: OutRecordsArg, txn?: number): Promise<ProduceAck[]> => {
      const { packed, transfer } = packRecords(records)
      const req: Request = txn === undefined ? { op: 'send', producer, records: packed } : { op: 'txnSend', txn, records: packed }
      return this.call(req, transfer) as Promise<ProduceAck[]>
    }
    return {
      connect: async () => void (await this.call({ op: 'connect', producer })),
      // A producer of a thread that is gone has nothing left to disconnect.
      disconnect: async () => void (this.stopped ? undefined : await this.call({ op: 'disconnect', producer })),
      sendBatch: (records) => send(records),
      transaction: async (): Promise<SinkTransaction> => {
        const { id: txn, ordered } = (await this.call({ op: 'begin', producer })) as { id: number; ordered: boolean }
        return {
          ordered,
          sendBatch: (records) => send(records, txn),
          sendOffsets: async (offsets) => void (await this.call({ op: 'txnOffsets', txn, offsets: { groupId: offsets.groupId, offsets: [...offsets.offsets], ...(offsets.group ? { group: offsets.group } : {}) } })),
          commit: async () => void (await this.call({ op: 'commit', txn })),
          abort: async () => void (await this.call({ op: 'abort', txn })),
        }
      },
    }
  }

  /** Asks the thread to disconnect its producers (at most {@link SHUTDOWN_MS}), then ends it. */
  async close(): Promise<void> {
    if (this.stopped) return
    this.closing = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.call({ op: 'shutdown' }).catch(() => {}), new Promise((r) => (timer = setTimeout(r, SHUTDOWN_MS)))])
    clearTimeout(timer)
    await this.worker.terminate()
  }

  private call(req: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      // While an answer is awaited the thread keeps the process alive: a promise alone would not,
      // and the process could end with a send unacknowledged.
      if (this.waiting.size === 0) this.worker.ref()
      this.waiting.set(id, { resolve, reject })
      this.worker.postMessage({ ...req, id } as ToWorker, transfer)
    })
  }

  private settle(id: number): { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined {
    const w = this.waiting.get(id)
    this.waiting.delete(id)
    if (this.waiting.size === 0 && !this.stopped) this.worker.unref()
    return w
  }

  private receive(m: FromWorker): void {
    if ('op' in m) {
      const log = this.logger as Logger & { trace?: (o: object, msg?: string) => void }
      if (m.level === 'trace') log.trace?.(m.fields, m.message)
      else log[m.level](m.fields, m.message)
      return
    }
    const w = this.settle(m.id)
    if (m.ok) w?.resolve(m.result)
    else w?.reject(fromWire(m.error))
  }

  private gone(why: string, cause?: Error): void {
    if (this.failure) return
    this.failure = this.closing
      ? new HermesError('PRODUCE_ERROR', 'the Kafka producer thread was closed', cause === undefined ? {} : { cause })
      : new HermesError('PRODUCE_ERROR', `the Kafka producer thread stopped (${why}); what it had not acknowledged is not known to be written, and the run ends`, cause === undefined ? {} : { cause })
    if (!this.closing) this.logger.error({ err: why }, 'the Kafka producer thread stopped')
    const waiting = [...this.waiting.values()]
    this.waiting.clear()
    for (const w of waiting) w.reject(this.failure)
  }
}

type OutRecordsArg = Parameters<SinkProducer['sendBatch']>[0]

/** Which of kafkajs' debug and trace lines the logger would write (pino's isLevelEnabled; others: none). */
function levelsOf(logger: Logger): ProducerWorkerData['levels'] {
  const l = logger as Logger & { isLevelEnabled?: (level: string) => boolean }
  return { debug: l.isLevelEnabled?.('debug') ?? false, trace: l.isLevelEnabled?.('trace') ?? false }
}
