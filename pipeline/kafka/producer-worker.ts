/**
 * The producer thread (`kafka.producer.thread: true`): runs the sink's kafkajs producers, so that
 * building kafkajs' messages, encoding record batches and writing to the sockets leave the
 * sink's thread. Started and spoken to by producer-thread.ts; the messages are {@link ToWorker}
 * and {@link FromWorker}.
 */
// First: it puts the patched produce path in place before kafkajs loads its own (settledSends).
import { settledSends } from './kafkajs-sends.ts'
import type { Producer, Transaction } from 'kafkajs'
import { CompressionTypes, Kafka } from 'kafkajs'
import { parentPort, workerData } from 'node:worker_threads'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { kafkaClientOptions } from './client.ts'
// Hermes' patches of kafkajs, as on the sink's thread: they patch this thread's copy of kafkajs.
// kip447.ts is the one producers use (TxnOffsetCommit v3); the others patch the consumer side
// and the offset fetch, loaded too so that this thread's kafkajs is the one Hermes tests.
import './kip447.ts'
import './stable-offsets.ts'
import './transactions.ts'
import type { ProducerSettings, TxnOffsets } from './producer-port.ts'
import { kafkajsProducerConfig, sendTxnOffsets, toAcks } from './producer-port.ts'
import type { PackedRecords, WireError } from './producer-wire.ts'
import { toWire, unpackRecords } from './producer-wire.ts'
import { clearOffsetsGroupMetadata } from './kip447.ts'

/** What the producer thread is started with. */
export interface ProducerWorkerData {
  config: HermesConfig['kafka']
  clientId: string
  /** Which of kafkajs' levels the sink's logger writes (the others are not posted at all). */
  levels: { debug: boolean; trace: boolean }
}

/** A request to the producer thread; `id` pairs it with its {@link FromWorker} reply. */
export type ToWorker =
  | { id: number; op: 'create'; producer: number; settings: ProducerSettings }
  | { id: number; op: 'connect' | 'disconnect' | 'begin'; producer: number }
  | { id: number; op: 'send'; producer: number; records: PackedRecords }
  | { id: number; op: 'txnSend'; txn: number; records: PackedRecords }
  | { id: number; op: 'txnOffsets'; txn: number; offsets: TxnOffsets }
  | { id: number; op: 'commit' | 'abort'; txn: number }
  | { id: number; op: 'shutdown' }

/** A reply, or a kafkajs log line for the sink's logger. */
export type FromWorker =
  | { id: number; ok: true; result?: unknown }
  | { id: number; ok: false; error: WireError }
  | { op: 'log'; level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; fields: { [k: string]: unknown }; message: string }

const port = parentPort
if (!port) throw new Error('producer-worker.ts runs in a worker thread (producer-thread.ts starts it)')
const data = workerData as ProducerWorkerData

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error'

function postLog(level: Level, fields: { [k: string]: unknown }, message: string): void {
  try {
    port?.postMessage({ op: 'log', level, fields, message } satisfies FromWorker)
  } catch {
    // A field the structured clone refuses (a function, a socket): its JSON form, which drops them.
    port?.postMessage({ op: 'log', level, fields: JSON.parse(JSON.stringify(fields)) as { [k: string]: unknown }, message } satisfies FromWorker)
  }
}

/**
 * The part of a pino logger that client.ts' kafkajs log creator uses, posting each line to the
 * sink's thread, whose logger writes it (with its redaction). client.ts has already scrubbed
 * credentials out of the fields here.
 */
function portLogger(bindings: { [k: string]: unknown }): HermesLogger {
  const at =
    (level: Level) =>
    (fields: { [k: string]: unknown }, message: string): void => {
      if ((level === 'debug' && !data.levels.debug) || (level === 'trace' && !data.levels.trace)) return
      postLog(level, { ...bindings, ...fields }, message)
    }
  const logger = {
    child: (more: { [k: string]: unknown }) => portLogger({ ...bindings, ...more }),
    isLevelEnabled: (level: string) => (level === 'trace' ? data.levels.trace : level === 'debug' ? data.levels.debug : true),
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  }
  return logger as unknown as HermesLogger
}

const kafka = new Kafka(kafkaClientOptions(data.config, portLogger({ thread: 'producer' }), data.clientId))
const producers = new Map<number, { producer: Producer; transactionalId: string | undefined }>()
/**
 * `sends`: the transaction's sends, chained: each starts when the one before it has settled, in
 * the order they arrived, so that the sink may post the next before the last is acknowledged
 * (SinkTransaction.ordered). Kafka sees each partition's records in the order they were sent.
 */
const transactions = new Map<number, { txn: Transaction; transactionalId: string | undefined; producer: number; sends: Promise<unknown> }>()
let nextTxn = 0

function producerOf(id: number): { producer: Producer; transactionalId: string | undefined } {
  const p = producers.get(id)
  if (!p) throw new Error(`producer thread: no producer ${id} (disconnected?)`)
  return p
}

function txnOf(id: number): { txn: Transaction; transactionalId: string | undefined; producer: number; sends: Promise<unknown> } {
  const t = transactions.get(id)
  if (!t) throw new Error(`producer thread: no transaction ${id} (committed or aborted already?)`)
  return t
}

async function handle(m: ToWorker): Promise<unknown> {
  switch (m.op) {
    case 'create':
      producers.set(m.producer, { producer: kafka.producer(kafkajsProducerConfig(m.settings)), transactionalId: m.settings.transactionalId })
      return undefined
    case 'connect':
      return producerOf(m.producer).producer.connect()
    case 'disconnect': {
      const p = producers.get(m.producer)
      producers.delete(m.producer)
      for (const [id, t] of transactions) if (t.producer === m.producer) transactions.delete(id)
      if (!p) return undefined
      try {
        return await p.producer.disconnect()
      } finally {
        if (p.transactionalId !== undefined) clearOffsetsGroupMetadata(p.transactionalId)
      }
    }
    case 'send': {
      const meta = await producerOf(m.producer).producer.sendBatch({ topicMessages: unpackRecords(m.records), compression: CompressionTypes.None })
      return toAcks(meta)
    }
    case 'begin': {
      const p = producerOf(m.producer)
      const txn = await p.producer.transaction()
      const id = nextTxn++
      transactions.set(id, { txn, transactionalId: p.transactionalId, producer: m.producer, sends: Promise.resolve() })
      return { id, ordered: settledSends }
    }
    case 'txnSend': {
      const t = txnOf(m.txn)
      const topicMessages = unpackRecords(m.records)
      const sent = t.sends.then(() => t.txn.sendBatch({ topicMessages, compression: CompressionTypes.None }))
      t.sends = sent.catch(() => {})
      return toAcks(await sent)
    }
    case 'txnOffsets': {
      const t = txnOf(m.txn)
      return sendTxnOffsets(t.txn, t.transactionalId, m.offsets)
    }
    case 'commit': {
      await txnOf(m.txn).txn.commit()
      // Kept after a failed commit: the sink aborts it next.
      transactions.delete(m.txn)
      return undefined
    }
    case 'abort': {
      try {
        return await txnOf(m.txn).txn.abort()
      } finally {
        transactions.delete(m.txn)
      }
    }
    case 'shutdown':
      await Promise.all([...producers.values()].map((p) => p.producer.disconnect().catch(() => {})))
      producers.clear()
      transactions.clear()
      return undefined
  }
}

port.on('message', (m: ToWorker) => {
  handle(m).then(
    (result) => port.postMessage({ id: m.id, ok: true, result } satisfies FromWorker),
    (err: unknown) => port.postMessage({ id: m.id, ok: false, error: toWire(err) } satisfies FromWorker),
  )
})
