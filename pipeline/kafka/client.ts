import type { Consumer, IHeaders, KafkaConfig, KafkaMessage, LogEntry, RetryOptions, SASLOptions } from 'kafkajs'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type * as tls from 'node:tls'
import { Kafka, logLevel } from 'kafkajs'
import type { Headers } from '../api/record.ts'
import { HermesError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'

/**
 * Retry settings of idempotent and transactional producers. Unlimited retries (a limit makes
 * kafkajs warn that EoS may break) with a short backoff: after each transaction the broker
 * answers CONCURRENT_TRANSACTIONS until its markers are written, and kafkajs' default 300 ms
 * first backoff would make every commit cost ~300 ms (see scripts/kafka/README.md).
 */
export const PRODUCER_RETRY: RetryOptions = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 20, factor: 0.2, multiplier: 1.5, maxRetryTime: 1000 }

/** Consumer timings: short fetch waits keep `disconnect()` and shutdown fast. */
export interface ConsumerTimings {
  sessionTimeout: number
  heartbeatInterval: number
  rebalanceTimeout: number
  maxWaitTimeInMs: number
}

/** The consumer timings of the `kafka.consumer` config section, named as kafkajs names them. */
export function consumerTimings(consumer: HermesConfig['kafka']['consumer']): ConsumerTimings {
  return { sessionTimeout: consumer.sessionTimeoutMs, heartbeatInterval: consumer.heartbeatIntervalMs, rebalanceTimeout: consumer.rebalanceTimeoutMs, maxWaitTimeInMs: consumer.maxWaitTimeMs }
}

/** kafkajs messages that are part of normal operation, logged at debug instead of their level. */
const ROUTINE = [/another concurrent operation on the same transaction/i, /CONCURRENT_TRANSACTIONS/i, /coordinator is loading/i, /group coordinator is not available/i, /is not the correct coordinator/i, /rebalancing/i, /not aware of this member/i]

/**
 * The broker's words for "your metadata is stale" (kafkajs' own `staleMetadata` list): a topic
 * just created whose partitions the broker does not host yet, a leader that moved. kafkajs'
 * connection logs every such answer at ERROR before its caller refreshes metadata and retries,
 * so every normal start on new topics logged a few "This server does not host this
 * topic-partition" errors. They are routine; one that outlasts the retries is reported by the
 * caller (a failed request) anyway. Read from kafkajs' error table, which a test pins.
 */
export const STALE_METADATA_ERRORS: ReadonlySet<string> = staleMetadataMessages()

function staleMetadataMessages(): Set<string> {
  const types = ['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']
  const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ type: string; message: string }> }
  const messages = new Set<string>()
  for (const type of types) {
    const entry = errorCodes.find((e) => e.type === type)
    if (!entry) throw new Error(`kafkajs has no error type ${type} any more: update STALE_METADATA_ERRORS in pipeline/kafka/client.ts`)
    messages.add(entry.message)
  }
  return messages
}

/** Whether a kafkajs log line is routine (logged at debug): retried conditions of normal operation. */
export function isRoutineKafkaLog(namespace: string, message: string, error: unknown): boolean {
  if (namespace === 'Connection' && message.startsWith('Response ') && typeof error === 'string' && STALE_METADATA_ERRORS.has(error)) return true
  return ROUTINE.some((re) => re.test(`${message} ${String(error ?? '')}`))
}

/** Keys of kafkajs log extras that may carry credentials. */
const SECRET_KEYS = new Set(['sasl', 'password', 'username', 'authorization', 'token', 'ssl'])

function scrub(extra: { [k: string]: unknown }): { [k: string]: unknown } {
  const out: { [k: string]: unknown } = {}
  for (const [k, v] of Object.entries(extra)) {
    if (SECRET_KEYS.has(k)) continue
    out[k] = v instanceof Error ? v.message : v
  }
  return out
}

/**
 * A kafkajs client for the `kafka` config section. kafkajs log lines go to `logger` (child
 * `component: kafkajs`), credentials never reach a log line, and routine retry noise is logged at
 * debug.
 */
export function createKafkaClient(config: HermesConfig['kafka'], logger: HermesLogger, clientId = config.clientId): Kafka {
  return new Kafka(kafkaClientOptions(config, logger, clientId))
}

/** TLS options of the `kafka.ssl` setting; certificate files are read here, a missing one named by its field. */
export function tlsOptions(ssl: HermesConfig['kafka']['ssl']): boolean | tls.ConnectionOptions {
  if (typeof ssl === 'boolean') return ssl
  const read = (field: string, file: string | undefined): Buffer | undefined => {
    if (file === undefined) return undefined
    try {
      return readFileSync(file)
    } catch (err) {
      throw new HermesError('CONFIG_INVALID', `kafka.ssl.${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? describeKafkaError(err)}); give the path of a PEM file`)
    }
  }
  const out: tls.ConnectionOptions = { rejectUnauthorized: ssl.rejectUnauthorized }
  const ca = read('caFile', ssl.caFile)
  const cert = read('certFile', ssl.certFile)
  const key = read('keyFile', ssl.keyFile)
  if (ca) out.ca = [ca]
  if (cert) out.cert = cert
  if (key) out.key = key
  if (ssl.keyPassword) out.passphrase = ssl.keyPassword
  if (ssl.servername) out.servername = ssl.servername
  return out
}

/** The kafkajs client options of the `kafka` config section (see {@link createKafkaClient}). */
export function kafkaClientOptions(config: HermesConfig['kafka'], logger: HermesLogger, clientId = config.clientId): KafkaConfig {
  const log = logger.child({ component: 'kafkajs' })
  const verbose = log.isLevelEnabled('debug')
  const options: KafkaConfig = {
    clientId,
    brokers: config.brokers,
    ssl: tlsOptions(config.ssl),
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    logLevel: verbose ? logLevel.INFO : logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _ts, logger: _l, ...extra } = entry
        const fields = { ns: namespace, ...scrub(extra) }
        if (isRoutineKafkaLog(namespace, message, extra.error)) log.debug(fields, message)
        else if (level === logLevel.ERROR) log.error(fields, message)
        else if (level === logLevel.WARN) log.warn(fields, message)
        else if (level === logLevel.INFO) log.debug(fields, message)
        else log.trace(fields, message)
      },
  }
  if (config.sasl) options.sasl = { mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions
  return options
}

/** Engine headers (strings) as kafkajs headers. */
export function toKafkaHeaders(headers: Headers | undefined): IHeaders | undefined {
  if (!headers) return undefined
  const keys = Object.keys(headers)
  if (keys.length === 0) return undefined
  const out: IHeaders = {}
  for (const k of keys) out[k] = headers[k] as string
  return out
}

/** kafkajs headers (Buffers) as engine headers (UTF-8 strings); undefined when there are none. */
export function fromKafkaHeaders(headers: KafkaMessage['headers']): Headers | undefined {
  if (!headers) return undefined
  let out: { [k: string]: string } | undefined
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out ??= {}
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString()
  }
  return out
}

/** Offsets grouped by topic, as kafkajs takes them (`sendOffsets`, `deleteTopicRecords`). */
export function offsetsByTopic(offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>()
  for (const o of offsets) {
    let list = byTopic.get(o.topic)
    if (!list) byTopic.set(o.topic, (list = []))
    list.push({ partition: o.partition, offset: String(o.offset) })
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}

/** Whether a kafkajs error means another producer with our transactional id took over. */
export function isFenced(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e = err as { type?: string; name?: string; message?: string; cause?: unknown; originalError?: unknown } | undefined
  while (e && !seen.has(e)) {
    seen.add(e)
    if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED') return true
    if (/fenced|INVALID_PRODUCER_EPOCH/i.test(e.message ?? '')) return true
    e = (e.originalError ?? e.cause) as typeof e
  }
  return false
}

/** A short description of a kafkajs error (type and message), for logs and error messages. */
export function describeKafkaError(err: unknown): string {
  const e = err as { type?: string; message?: string } | undefined
  if (!e) return String(err)
  return e.type ? `${e.type}: ${e.message}` : (e.message ?? String(err))
}

/** Whether a failure is Kafka's (a broker, a coordinator, a commit) rather than a bug or bad data. */
export function isRecoverable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; retriable?: boolean; cause?: unknown } | undefined
  if (!e) return false
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) return true
  if (e instanceof HermesError) return e.code === 'IO_ERROR' || (e.code === 'PRODUCE_ERROR' && isRecoverable(e.cause))
  return false
}

/**
 * `consumer.subscribe`, retried while a broker does not know a topic yet. A topic just created is
 * in the metadata of the broker that answered the creation before it is in every other broker's
 * (a race kafkajs#815 describes): kafkajs retries a producer's send, but not a subscribe, whose
 * metadata request may reach a broker that has not caught up. Gives up after `timeoutMs`.
 */
export async function subscribeWhenKnown(consumer: Pick<Consumer, 'subscribe'>, topics: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    try {
      await consumer.subscribe({ topics: [...topics], fromBeginning: true })
      return
    } catch (err) {
      if ((err as { type?: string } | null)?.type !== 'UNKNOWN_TOPIC_OR_PARTITION' || Date.now() + delay > deadline) throw err
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}
