import { z } from 'zod'

const positiveInt = z.number().int().positive()
const nonNegativeInt = z.number().int().nonnegative()

/** What the error handler of a phase decides by default. */
const decision = z.enum(['continue', 'fail'])

export const runtimeSchema = z
  .object({
    /** `embedded`: in-process topic log, no broker. `kafka`: a real cluster (see `kafka`). */
    mode: z.enum(['embedded', 'kafka']).default('embedded'),
    /** Embedded log, RocksDB state and checkpoints live here. */
    stateDir: z.string().min(1).default('.hermes'),
    stateBackend: z.enum(['rocksdb', 'memory']).default('rocksdb'),
    /**
     * `exactly_once`: Kafka transactions, one transactional producer per task (EOS v1).
     * `exactly_once_v2`: one per process and topology, its offset commits fenced by the group's
     * generation (KIP-447, as Kafka Streams' `exactly_once_v2`; see pipeline/kafka/README.md).
     */
    guarantee: z.enum(['at_least_once', 'exactly_once', 'exactly_once_v2']).default('at_least_once'),
    /**
     * Commit at least this often (wall clock)... Unset: 5000, or 100 on Kafka with exactly-once (v1 or v2),
     * where outputs become readable only when committed (see `pipeline/config/commit-interval.ts`).
     */
    commitIntervalMs: positiveInt.optional(),
    /** ...and after at most this many records. */
    commitEveryRecords: positiveInt.default(500_000),
    /** How many upcoming records' keys are loaded per state multi-get. */
    prefetchRecords: positiveInt.default(1000),
    /** Write-back cache size per task, in keyed entries. */
    cacheMaxEntries: positiveInt.default(200_000),
    /** How often expired (TTL) state is swept from disk. */
    sweepIntervalMs: positiveInt.default(60_000),
    /**
     * A record of a keyed source (one with a `keyField`, e.g. `userId`) whose Kafka key is not
     * that field's value: `rekey` (default) processes it under the field's value; `dead-letter`
     * sends it to the dead-letter topic. Either way it is counted (docs/producers.md).
     */
    keyMismatch: z.enum(['rekey', 'dead-letter']).default('rekey'),
  })
  .strict()

export const timeSchema = z
  .object({
    /** Bounded out-of-orderness: the watermark trails the highest event time by this much. */
    maxOutOfOrdernessMs: nonNegativeInt.default(2000),
    /**
     * A record whose time field is further ahead of the wall clock than this is dead-lettered and
     * never moves event time: one event dated in the year 3000 would otherwise release every held
     * push at once. 0 or null: no limit. Replays of past data are never in the future.
     */
    maxFutureMs: nonNegativeInt.nullable().default(3_600_000),
    /**
     * A record whose time field is earlier than this (epoch ms), zero included, is dead-lettered:
     * the default, 2001-09-09T01:46:40Z (1e12 ms), catches times in seconds (1.7e9 s read as ms
     * is January 1970). 0 or null: no floor. Negative, fractional, non-numeric times and times
     * beyond the Date range are refused regardless.
     */
    minTimestampMs: nonNegativeInt.nullable().default(1_000_000_000_000),
    /**
     * On Kafka, once every input partition of an app has had nothing left to process for this
     * long, the app's idle partitions follow the wall clock (minus this): a held push goes out
     * about this long after its time with no further traffic. 0 or null: never (replays of old
     * data on Kafka, which would otherwise fire every held timer past the end of the data).
     * Embedded runs never read the wall clock for time.
     */
    idleTimeoutMs: nonNegativeInt.nullable().default(500),
  })
  .strict()

export const errorsSchema = z
  .object({
    /** Undecodable records: dead-letter and continue by default. */
    deserialize: decision.default('continue'),
    /** Exceptions in operators: stop by default (a bug should be loud). */
    process: decision.default('fail'),
    /** Unserializable outputs: stop by default. */
    produce: decision.default('fail'),
    /**
     * Outputs larger than their topic accepts (`max.message.bytes`, Kafka only): the input that
     * produced one goes to the dead-letter topic with the size and the limit, and the run
     * continues by default. Such a record is bad data (e.g. a 900 KB itemId), not a bug, and no
     * retry can ever write it. Applies unless an `errorPolicy.produce` handler is given in code.
     */
    oversized: decision.default('continue'),
    /** Dead-letter topic; default `<app>.dlq`. */
    deadLetterTopic: z.string().min(1).optional(),
  })
  .strict()

/** Value encoding of a topic: UTF-8 JSON, or Avro in the Confluent wire format (schema registry). */
export const topicFormat = z.enum(['json', 'avro'])

export const topicSchema = z
  .object({
    /** Partitions when Hermes creates the topic (default `topics.defaultPartitions`). */
    partitions: positiveInt.optional(),
    /** Value format; default `topics.defaultFormat` when the topic has a `schema`, else json. */
    format: topicFormat.optional(),
    /** Avro schema of the values: a file name in `schemaRegistry.schemasDir` without `.avsc`. */
    schema: z.string().min(1).optional(),
    /**
     * How Kafka must keep the topic's records (Hermes creates it so, and refuses to start when an
     * existing topic differs): `compact` keeps the latest record per key forever
     * (`cleanup.policy=compact`: configuration and broadcast topics), `forever` keeps every record
     * (`retention.ms=-1`, `retention.bytes=-1`, no compaction: topics with several records per key
     * that all matter, e.g. config.audiences). Unset: the broker's defaults, not checked.
     */
    cleanup: z.enum(['compact', 'forever']).optional(),
  })
  .strict()

export const topicsSchema = z
  .object({
    defaultPartitions: positiveInt.default(4),
    /** Format of the topics that have a `schema` and no `format` of their own. */
    defaultFormat: topicFormat.default('json'),
    /** Per-topic settings, e.g. `behavior-events: { partitions: 8, format: avro, schema: behavior-event }`. */
    overrides: z.record(z.string(), topicSchema).default({}),
  })
  .strict()
  .superRefine((topics, ctx) => {
    for (const [topic, o] of Object.entries(topics.overrides)) {
      if (o.format === 'avro' && !o.schema) ctx.addIssue({ code: 'custom', path: ['overrides', topic, 'schema'], message: `topic ${topic} has format avro but no schema: name a file of schemaRegistry.schemasDir (without .avsc), e.g. schema: behavior-event` })
    }
  })

export const schemaRegistrySchema = z
  .object({
    /** Confluent-compatible API (Apicurio: `<base>/apis/ccompat/v7`). */
    url: z
      .string()
      .url()
      .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(u), { message: 'credentials do not belong in the url (they would be kept in error details): set schemaRegistry.username and schemaRegistry.password' })
      .default('http://127.0.0.1:18081/apis/ccompat/v7'),
    /** Basic auth; the password is redacted from logs. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Where `hermes schemas register` and the Avro serdes find the `.avsc` files. */
    schemasDir: z.string().min(1).default('schemas'),
    /** Compatibility level set on the subjects Hermes registers. */
    compatibility: z.enum(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE']).default('BACKWARD'),
    /** Register the current schemas at start-up (otherwise they must already be registered). */
    autoRegister: z.boolean().default(true),
    /** Per-request timeout. */
    requestTimeoutMs: positiveInt.default(5000),
    /** Retries of an unreachable registry back off from this delay... */
    retryInitialMs: positiveInt.default(500),
    /** ...doubling up to this one... */
    retryMaxMs: positiveInt.default(30_000),
    /** ...and give up (start-up fails with a clear error) after this long. */
    startupTimeoutMs: positiveInt.default(300_000),
  })
  .strict()

export const observabilitySchema = z
  .object({
    http: z
      .object({
        enabled: z.boolean().default(true),
        /** Bind address; keep 127.0.0.1 unless a scraper on another host must reach it. */
        host: z.string().min(1).default('127.0.0.1'),
        /** 0 picks a free port. */
        port: nonNegativeInt.max(65535).default(9464),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 9464 }),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()

export const kafkaSchema = z
  .object({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).default('hermes'),
    /**
     * TLS to the brokers: `true` (the system's CAs), or files for a private CA and client
     * certificates (mutual TLS). The key's passphrase is redacted from logs.
     */
    ssl: z
      .union([
        z.boolean(),
        z
          .object({
            caFile: z.string().min(1).optional(),
            certFile: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
            keyPassword: z.string().min(1).optional(),
            /** Checking the brokers' certificates is on unless turned off here (never in production). */
            rejectUnauthorized: z.boolean().default(true),
            /** Host name to check the certificates against, when it differs from the broker address. */
            servername: z.string().min(1).optional(),
          })
          .strict()
          .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile go together (client certificate and its key)', path: ['keyFile'] }),
      ], { error: 'expected boolean (true: TLS with the system CAs) or an object { caFile, certFile, keyFile, keyPassword, rejectUnauthorized, servername }' })
      .default(false),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
    replicationFactor: positiveInt.default(1),
    /**
     * How long processing waits for an empty input partition that is known to hold more records,
     * so that records are taken in timestamp order across partitions (Kafka Streams'
     * `max.task.idle.ms`). Partitions that are behind since their assignment are always waited for.
     */
    maxTaskIdleMs: nonNegativeInt.default(500),
    /**
     * How far (event time) processing may run ahead of a record this process wrote to a topic
     * it also reads (a repartition topic, or one topology's output that another reads) and has
     * not read back yet; the order of records matches embedded mode to within this bound (0:
     * exactly, slower backlog replays). Unset: `time.maxOutOfOrdernessMs`. The tasks' time waits
     * for such records in any case (docs/engine.md, Time).
     */
    maxAheadMs: nonNegativeInt.optional(),
    /** How long Kafka may keep failing (broker down, no coordinator) before the run gives up. */
    maxOutageMs: positiveInt.default(300_000),
    /**
     * Records buffered per input partition before it is paused (resumed at half); with
     * `consumer.maxBytesPerPartition` this bounds the memory of the input side.
     */
    maxBufferedPerPartition: positiveInt.default(5000),
    /** Exactly-once: output records waiting for their transaction before a commit is forced. */
    maxPendingOutputs: positiveInt.default(50_000),
    /**
     * At-least-once: outputs not yet acknowledged, in batches of 4,000 (`OUTPUTS_PER_BATCH`, the
     * most one send carries), before processing waits.
     */
    maxInFlightBatches: positiveInt.default(8),
    /** Settings of the producers (outputs, repartition and changelog records, transactions). */
    producer: z
      .object({
        /**
         * Run the producers' Kafka client on a worker thread, so that encoding records and
         * writing them to the brokers leave the processing thread (docs/performance.md, "The
         * producer on a worker thread"). On by default: on a quiet 2-core machine it made the
         * bench topology 1.06x–1.26x faster at-least-once; `false` where a process has no
         * second core to give it (it adds about a fifth to the process' total CPU).
         */
        thread: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /** Settings of every consumer (the group's, broadcast readers, changelog restores). */
    consumer: z
      .object({
        /** The group drops a member that sent no heartbeat for this long (broker limits apply). */
        sessionTimeoutMs: positiveInt.default(10_000),
        /** Heartbeat period; lower than `sessionTimeoutMs` (a third of it or less is usual). */
        heartbeatIntervalMs: positiveInt.default(1000),
        /** How long a rebalance waits for members to rejoin. */
        rebalanceTimeoutMs: positiveInt.default(20_000),
        /** How long the broker holds a fetch that has no data; also bounds how long shutdown waits. */
        maxWaitTimeMs: nonNegativeInt.default(100),
        /** Bytes fetched per partition and request. */
        maxBytesPerPartition: positiveInt.default(1 << 20),
      })
      .strict()
      .superRefine((c, ctx) => {
        if (c.heartbeatIntervalMs >= c.sessionTimeoutMs) {
          ctx.addIssue({ code: 'custom', path: ['heartbeatIntervalMs'], message: `must be lower than kafka.consumer.sessionTimeoutMs (${c.sessionTimeoutMs})` })
        }
      })
      .prefault({}),
  })
  .strict()

/**
 * `hermes console` (the Configuration Center's server, console/server/): where it listens and who
 * may use it. Tokens are never written in the file: each entry names the environment variable
 * that holds it.
 */
export const consoleSchema = z
  .object({
    /** Bind address; keep 127.0.0.1 unless the console must be reached from another host. */
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. */
    port: nonNegativeInt.max(65535).default(8480),
    /** Users and roles; none (and no HERMES_CONSOLE_TOKENS): one editor token for `admin` is generated at start. */
    tokens: z
      .array(
        z
          .object({
            user: z.string().min(1),
            role: z.enum(['viewer', 'editor']),
            /** Name of the environment variable holding the token, e.g. HERMES_CONSOLE_TOKEN_ALICE. */
            tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name, e.g. HERMES_CONSOLE_TOKEN_ALICE'),
          })
          .strict(),
      )
      .default([]),
    /**
     * Kafka mode: observability addresses of the running instances (`http://host:9464`), asked
     * for a user's state (`/query/users/:id`) when explaining a user; the owner answers.
     */
    instances: z.array(z.string().url()).default([]),
    /** Kafka mode: the compacted topic that keeps the console's versions and audit log. */
    auditTopic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: 1-249 of A-Z a-z 0-9 . _ -').default('hermes.console.audit'),
  })
  .strict()

export const configSchema = z
  .object({
    runtime: runtimeSchema.default(runtimeSchema.parse({})),
    time: timeSchema.default(timeSchema.parse({})),
    errors: errorsSchema.default(errorsSchema.parse({})),
    topics: topicsSchema.default(topicsSchema.parse({})),
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    kafka: kafkaSchema.default(kafkaSchema.parse({})),
    schemaRegistry: schemaRegistrySchema.default(schemaRegistrySchema.parse({})),
    /** Settings of the Hermes decision flow; validated by the topologies that read them. */
    hermes: z.record(z.string(), z.unknown()).default({}),
    console: consoleSchema.default(consoleSchema.parse({})),
  })
  .strict()

/** The validated configuration. */
export type HermesConfig = z.infer<typeof configSchema>
