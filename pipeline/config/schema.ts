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
    guarantee: z.enum(['at_least_once', 'exactly_once']).default('at_least_once'),
    /** Commit at least this often (wall clock)... */
    commitIntervalMs: positiveInt.default(5000),
    /** ...and after at most this many records. */
    commitEveryRecords: positiveInt.default(500_000),
    /** How many upcoming records' keys are loaded per state multi-get. */
    prefetchRecords: positiveInt.default(1000),
    /** Write-back cache size per task, in keyed entries. */
    cacheMaxEntries: positiveInt.default(200_000),
    /** How often expired (TTL) state is swept from disk. */
    sweepIntervalMs: positiveInt.default(60_000),
  })
  .strict()

export const timeSchema = z
  .object({
    /** Bounded out-of-orderness: the watermark trails the highest event time by this much. */
    maxOutOfOrdernessMs: nonNegativeInt.default(2000),
    /** An input partition without records for this long stops holding the watermark back. */
    idleTimeoutMs: positiveInt.default(60_000),
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
    /** Dead-letter topic; default `<app>.dlq`. */
    deadLetterTopic: z.string().min(1).optional(),
  })
  .strict()

export const topicsSchema = z
  .object({
    defaultPartitions: positiveInt.default(4),
    /** Per-topic settings, e.g. `behavior-events: { partitions: 8 }`. */
    overrides: z.record(z.string(), z.object({ partitions: positiveInt }).strict()).default({}),
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
    ssl: z.boolean().default(false),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
    replicationFactor: positiveInt.default(1),
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
    /** Settings of the Hermes decision flow; validated by the topologies that read them. */
    hermes: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()

/** The validated configuration. */
export type HermesConfig = z.infer<typeof configSchema>
