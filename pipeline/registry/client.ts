import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import avro from 'avsc'
import { HermesError, describeError } from '../api/errors.ts'
import type { Logger } from '../api/processor.ts'
import type { HermesConfig } from '../config/schema.ts'

type RegistryConfig = HermesConfig['schemaRegistry']

/** What a registry call failed with. */
export type RegistryFailure =
  /** The registry answered that the schema, subject or version does not exist (404). */
  | 'not-found'
  /** The change breaks the subject's compatibility rule (409). */
  | 'incompatible'
  /** The schema itself was refused (422). */
  | 'invalid'
  /** Nobody answered, or the registry failed (network error, timeout, 5xx): worth retrying. */
  | 'unavailable'
  /** Anything else (401/403: credentials, 400: a bad request). */
  | 'refused'

/** A failed registry call: what kind of failure, and the registry's own words. */
export class RegistryError extends HermesError {
  readonly failure: RegistryFailure
  readonly status: number | undefined

  constructor(failure: RegistryFailure, message: string, status: number | undefined, cause?: unknown) {
    const code = failure === 'unavailable' ? 'REGISTRY_UNAVAILABLE' : failure === 'incompatible' ? 'SCHEMA_INCOMPATIBLE' : failure === 'invalid' ? 'SCHEMA_INVALID' : 'IO_ERROR'
    super(code, message, { cause, retriable: failure === 'unavailable' })
    this.name = 'RegistryError'
    this.failure = failure
    this.status = status
  }
}

/** The registry URL without credentials, for messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return '(invalid url)'
  }
}

const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|socket hang up|timeout/i

/**
 * A socket failure as mappersmith (under the client library) reports it: as an answer with
 * status 400 whose text is Node's error message ("connect ECONNREFUSED 127.0.0.1:18081",
 * "getaddrinfo ENOTFOUND registry", "Timeout (5000ms)"). The registry's own 400 answers are JSON
 * with a message of their own, so they never match.
 */
const SOCKET_FAILURE = /^(?:Error, status 400: )?(?:(?:connect|getaddrinfo|read|write) )?(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)\b ?(\S*)|^(?:Error, status 400: )?(socket hang up|Timeout \(\d+ms\))/

/**
 * What a network failure means, in words ("connection refused at 127.0.0.1:18081
 * (ECONNREFUSED)"), or null when `text` is not one. The address comes from the socket error
 * (host and port only), so no credentials can be in it.
 */
export function describeNetworkFailure(text: string): string | null {
  const m = SOCKET_FAILURE.exec(text)
  if (!m) return null
  const [, code, where, other] = m
  if (other) return other.startsWith('Timeout') ? `no answer (request ${other.toLowerCase()})` : 'connection closed by the server (socket hang up)'
  const at = where ? ` at ${where}` : ''
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused${at} (ECONNREFUSED: nothing listens there)`
    case 'ENOTFOUND':
      return `host ${where || '(unknown)'} not found (ENOTFOUND: DNS has no such name)`
    case 'EAI_AGAIN':
      return `host ${where || '(unknown)'} could not be resolved (EAI_AGAIN: DNS lookup failed, may be temporary)`
    case 'ETIMEDOUT':
      return `connection timed out${at} (ETIMEDOUT)`
    case 'ECONNRESET':
      return `connection reset${at} (ECONNRESET)`
    default:
      return `${code === 'EHOSTUNREACH' ? 'host' : 'network'} unreachable${at} (${code})`
  }
}

/**
 * Turns what the client library (mappersmith underneath) throws into a {@link RegistryError}.
 * Network failures arrive as status 400 with the socket error in the message: they become
 * 'unavailable' with no status and a message that says what happened (see
 * {@link describeNetworkFailure}). Only the message of a 400 is looked at, not that of other
 * answers, which quote subject names (a topic `session-timeouts` is no network failure).
 */
export function classify(err: unknown, what: string): RegistryError {
  if (err instanceof RegistryError) return err
  const status = typeof (err as { status?: unknown })?.status === 'number' ? ((err as { status: number }).status as number) : undefined
  const text = describeError(err).replace(/^(Confluent_Schema_Registry|hermes) - /, '')
  if (status === 400) {
    const network = describeNetworkFailure(text)
    if (network) return new RegistryError('unavailable', `${what}: ${network}`, undefined, err)
  }
  let failure: RegistryFailure
  if (status === undefined || (status === 400 && NETWORK.test(text)) || status >= 500 || status === 408 || status === 429) failure = 'unavailable'
  else if (status === 404) failure = 'not-found'
  else if (status === 409) failure = 'incompatible'
  else if (status === 422) failure = 'invalid'
  else failure = 'refused'
  return new RegistryError(failure, `${what}: ${text}`, status, err)
}

/** A registered version of a subject. */
export interface SubjectVersion {
  subject: string
  version: number
  id: number
  schema: string
}

/** Waits `ms`, or less when the signal fires. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * The Confluent-compatible schema registry, through `@kafkajs/confluent-schema-registry` (whose
 * own retries are off: {@link SchemaRegistryClient.untilAvailable} backs off instead, with logs
 * that say what is being waited for). Writer schemas are cached by id as avsc types.
 */
export class SchemaRegistryClient {
  readonly url: string
  private readonly registry: SchemaRegistry
  private readonly config: RegistryConfig
  private readonly logger: Logger
  private readonly types = new Map<number, avro.Type>()

  constructor(config: RegistryConfig, logger: Logger) {
    this.config = config
    this.logger = logger
    this.url = safeUrl(config.url)
    const auth = config.username ? { username: config.username, password: config.password ?? '' } : undefined
    this.registry = new SchemaRegistry({ host: config.url.replace(/\/$/, ''), clientId: 'hermes', retry: { retries: 0 }, ...(auth ? { auth } : {}) })
  }

  /** The library's request client, for the endpoints it has no method for. */
  private get api(): ApiClient {
    return (this.registry as unknown as { api: ApiClient }).api
  }

  private call<T>(what: string, run: () => Promise<T>): Promise<T> {
    const timeout = this.config.requestTimeoutMs
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RegistryError('unavailable', `${what}: no answer from the schema registry at ${this.url} within ${timeout} ms`, undefined)), timeout)
      run().then(
        (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        (err: unknown) => {
          clearTimeout(timer)
          reject(classify(err, what))
        },
      )
    })
  }

  /**
   * Runs `op` until it succeeds or fails for a reason other than an unreachable registry,
   * backing off from `retryInitialMs` doubling to `retryMaxMs`, for at most `deadlineMs`
   * (default `startupTimeoutMs`). Each wait is logged with the reason and the next delay.
   */
  async untilAvailable<T>(what: string, op: () => Promise<T>, options: { deadlineMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const deadlineMs = options.deadlineMs ?? this.config.startupTimeoutMs
    const started = Date.now()
    let delay = this.config.retryInitialMs
    for (let attempt = 1; ; attempt++) {
      try {
        return await op()
      } catch (err) {
        const e = classify(err, what)
        if (e.failure !== 'unavailable') throw e
        const waited = Date.now() - started
        if (waited + delay > deadlineMs || options.signal?.aborted) {
          throw new RegistryError(
            'unavailable',
            `the schema registry at ${this.url} did not answer for ${Math.round(waited / 1000)} s (${attempt} attempts; last: ${e.message}). Start it (scripts/registry/start.sh), or fix schemaRegistry.url, or set the topics' format to json.`,
            e.status,
            e,
          )
        }
        this.logger.warn({ registry: this.url, attempt, retryInMs: delay, err: e.message }, `schema registry unreachable (${what}); retrying`)
        await sleep(delay, options.signal)
        delay = Math.min(delay * 2, this.config.retryMaxMs)
      }
    }
  }

  /** Subjects the registry knows. */
  subjects(): Promise<string[]> {
    return this.call('listing subjects', async () => (await this.api.Subject.all({})).data() as string[])
  }

  /** The latest version of a subject, or null when it has none. */
  async latest(subject: string): Promise<SubjectVersion | null> {
    try {
      return await this.call(`reading the latest version of ${subject}`, async () => {
        const d = (await this.api.Subject.latestVersion({ subject })).data() as { subject: string; version: number; id: number; schema: string }
        return { subject: d.subject ?? subject, version: d.version, id: d.id, schema: d.schema }
      })
    } catch (err) {
      if (err instanceof RegistryError && err.failure === 'not-found') return null
      throw err
    }
  }

  /** Registers `schema` under `subject` (an equal schema gets its existing id); 409 means incompatible. */
  async register(subject: string, schema: string): Promise<number> {
    return this.call(`registering ${subject}`, async () => {
      const res = await this.api.Subject.register({ subject, body: { schemaType: SchemaType.AVRO, schema } })
      return (res.data() as { id: number }).id
    })
  }

  /** Whether `schema` may be registered under `subject` by its compatibility rule. */
  async compatible(subject: string, schema: string): Promise<boolean> {
    return this.call(`checking ${subject}`, async () => {
      const res = await this.api.Subject.compatible({ subject, version: 'latest', body: { schemaType: SchemaType.AVRO, schema } })
      return (res.data() as { is_compatible: boolean }).is_compatible === true
    })
  }

  /** Sets a subject's compatibility level. */
  async setCompatibility(subject: string, level: string): Promise<void> {
    const put = (): Promise<unknown> => this.call(`setting the compatibility of ${subject}`, async () => this.api.Subject.updateConfig({ subject, body: { compatibility: level } }))
    try {
      await put()
    } catch (err) {
      // Apicurio answers 409 ("rule already exists") when another client created the subject's
      // rule at the same moment (two instances starting together); the second PUT updates it.
      if (!(err instanceof RegistryError && err.status === 409)) throw err
      await sleep(100)
      await put()
    }
  }

  /** The id of `schema` under `subject`, or null when that exact schema is not registered there. */
  async idOf(subject: string, schema: string): Promise<number | null> {
    try {
      return await this.call(`looking up ${subject}`, async () => {
        const res = await this.api.Subject.registered({ subject, body: { schemaType: SchemaType.AVRO, schema } })
        return (res.data() as { id: number }).id
      })
    } catch (err) {
      if (err instanceof RegistryError && err.failure === 'not-found') return null
      throw err
    }
  }

  /** The writer schema with this id as an avsc type (cached; ids never change meaning). */
  async writerType(id: number): Promise<avro.Type> {
    const known = this.types.get(id)
    if (known) return known
    const text = await this.call(`fetching schema id ${id}`, async () => {
      const d = (await this.api.Schema.find({ id })).data() as { schema: string; schemaType?: string }
      if (d.schemaType && d.schemaType !== 'AVRO') throw new RegistryError('invalid', `schema id ${id} is a ${d.schemaType} schema, not Avro`, 422)
      return d.schema
    })
    let type: avro.Type
    try {
      type = avro.Type.forSchema(JSON.parse(text) as avro.Schema)
    } catch (err) {
      throw new RegistryError('invalid', `schema id ${id} is not a valid Avro schema: ${describeError(err)}`, 422, err)
    }
    this.types.set(id, type)
    return type
  }
}

interface ApiResponse {
  data(): unknown
}
type ApiCall = (args: object) => Promise<ApiResponse>
interface ApiClient {
  Schema: { find: ApiCall }
  Subject: { all: ApiCall; latestVersion: ApiCall; updateConfig: ApiCall; register: ApiCall; registered: ApiCall; compatible: ApiCall }
}
