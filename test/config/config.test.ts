import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HermesError } from '../../pipeline/api/index.ts'
import { ConfigError, loadConfig, validateConfig } from '../../pipeline/config/load.ts'
import { configSchema } from '../../pipeline/config/schema.ts'
import { topicPartitions } from '../../pipeline/config/topic-partitions.ts'
import { resolveRunnerSettings } from '../../pipeline/kafka/options.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

const SHIPPED = fileURLToPath(new URL('../../config', import.meta.url))

/**
 * A default.yaml that names every section, so that values of later layers merge into existing
 * sections (the loader records where each merged field came from).
 */
const BASE_DEFAULTS = `
runtime:
  stateDir: base-state
  commitIntervalMs: 100
  commitEveryRecords: 100
  prefetchRecords: 100
  cacheMaxEntries: 100
  sweepIntervalMs: 100
time:
  maxOutOfOrdernessMs: 1000
errors:
  process: fail
topics:
  defaultPartitions: 2
observability:
  http:
    port: 9000
kafka:
  clientId: base
hermes: {}
`

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hermes-config-'))
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

/** The ConfigError thrown by `fn`, failing the test when none is thrown. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toBeInstanceOf(HermesError)
    expect((err as ConfigError).code).toBe('CONFIG_INVALID')
    return err as ConfigError
  }
  throw new Error('expected a ConfigError, but nothing was thrown')
}

describe('loadConfig layering', () => {
  it('returns the schema defaults when the folder has no files', () => {
    const config = loadConfig({ dir, environment: {} })
    expect(config).toEqual(configSchema.parse({}))
    // Unset: the runner picks it from the guarantee (commit-interval.test.ts).
    expect(config.runtime.commitIntervalMs).toBeUndefined()
    expect(config.runtime.stateBackend).toBe('rocksdb')
    expect(config.observability.http.host).toBe('127.0.0.1')
    expect(config.errors).toEqual({ deserialize: 'continue', process: 'fail', produce: 'fail', oversized: 'continue' })
  })

  it('merges default.yaml < <env>.yaml < extra files < HERMES__ variables < overrides', () => {
    write('default.yaml', BASE_DEFAULTS)
    write('staging.yaml', 'runtime:\n  commitEveryRecords: 200\n  prefetchRecords: 200\n  cacheMaxEntries: 200\n  sweepIntervalMs: 200\n')
    const extra1 = write('extra-1.yaml', 'runtime:\n  prefetchRecords: 300\n  cacheMaxEntries: 300\n  sweepIntervalMs: 300\n')
    const extra2 = write('extra-2.yaml', 'runtime:\n  cacheMaxEntries: 310\n')
    const config = loadConfig({
      dir,
      env: 'staging',
      files: [extra1, extra2],
      environment: { HERMES__runtime__cacheMaxEntries: '400', HERMES__runtime__sweepIntervalMs: '400' },
      overrides: { runtime: { sweepIntervalMs: 500 } },
    })
    expect(config.runtime).toMatchObject({
      commitIntervalMs: 100,
      commitEveryRecords: 200,
      prefetchRecords: 300,
      cacheMaxEntries: 400,
      sweepIntervalMs: 500,
    })
    // Layers merge field by field: what a later layer does not name is kept.
    expect(config.runtime.stateDir).toBe('base-state')
    expect(config.time.maxOutOfOrdernessMs).toBe(1000)
    // ...and what no layer names takes the schema default.
    expect(config.runtime.guarantee).toBe('at_least_once')
    expect(config.errors.deserialize).toBe('continue')
  })

  it('merges extra files in the order they are given', () => {
    const a = write('a.yaml', 'runtime:\n  stateDir: from-a\n')
    const b = write('b.yaml', 'runtime:\n  stateDir: from-b\n')
    expect(loadConfig({ dir, files: [a, b], environment: {} }).runtime.stateDir).toBe('from-b')
    expect(loadConfig({ dir, files: [b, a], environment: {} }).runtime.stateDir).toBe('from-a')
  })

  it('takes the environment name from HERMES_ENV of the given environment when env is not passed', () => {
    write('default.yaml', BASE_DEFAULTS)
    write('qa.yaml', 'runtime:\n  stateBackend: memory\n')
    expect(loadConfig({ dir, environment: { HERMES_ENV: 'qa' } }).runtime.stateBackend).toBe('memory')
    expect(loadConfig({ dir, environment: {} }).runtime.stateBackend).toBe('rocksdb')
  })

  it('parses HERMES__ variables as YAML scalars: numbers, booleans, strings and flow lists', () => {
    write('default.yaml', BASE_DEFAULTS)
    const config = loadConfig({
      dir,
      environment: {
        HERMES__observability__http__port: '0',
        HERMES__observability__http__enabled: 'false',
        HERMES__kafka__ssl: 'true',
        HERMES__kafka__brokers: '[broker-1:9092, broker-2:9092]',
        HERMES__kafka__clientId: '"12345"',
        HERMES__runtime__stateDir: '/var/lib/hermes-x',
        HERMES__observability__http__host: '0.0.0.0',
      },
    })
    expect(config.observability.http).toEqual({ enabled: false, host: '0.0.0.0', port: 0 })
    expect(config.kafka.ssl).toBe(true)
    expect(config.kafka.brokers).toEqual(['broker-1:9092', 'broker-2:9092'])
    expect(config.kafka.clientId).toBe('12345')
    expect(config.runtime.stateDir).toBe('/var/lib/hermes-x')
  })

  it('reads nested sections from HERMES__ variables, creating the section when no file has it', () => {
    const config = loadConfig({
      dir,
      environment: {
        HERMES__kafka__sasl__mechanism: 'scram-sha-512',
        HERMES__kafka__sasl__username: 'svc',
        HERMES__kafka__sasl__password: 'pw',
        'HERMES__topics__overrides__behavior-events__partitions': '8',
      },
    })
    expect(config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'pw' })
    expect(config.topics.overrides['behavior-events']).toEqual({ partitions: 8 })
  })

  it('ignores variables that are not HERMES__section__field', () => {
    const config = loadConfig({ dir, environment: { HERMES_ENV_X: '1', HERMES_runtime__stateDir: 'x', HERMES__: 'x', PATH: '/bin', hermes__runtime__stateDir: 'y' } })
    expect(config).toEqual(configSchema.parse({}))
  })

  it('does not read process.env when an environment is passed', () => {
    vi.stubEnv('HERMES__runtime__stateDir', 'leaked')
    vi.stubEnv('HERMES_ENV', 'does-not-exist')
    try {
      expect(loadConfig({ dir, environment: {} }).runtime.stateDir).toBe('.hermes')
      // Without `environment`, the process environment is the default.
      expect(configError(() => loadConfig({ dir })).message).toContain('does-not-exist')
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it('lets overrides replace a value from every other layer', () => {
    write('default.yaml', BASE_DEFAULTS)
    const config = loadConfig({
      dir,
      environment: { HERMES__observability__log__level: 'debug' },
      overrides: { observability: { log: { level: 'warn' } }, runtime: { stateBackend: 'memory' } },
    })
    expect(config.observability.log.level).toBe('warn')
    expect(config.runtime.stateBackend).toBe('memory')
    expect(config.observability.http.port).toBe(9000)
  })
})

describe('config errors', () => {
  it('names the field, the rule, the bad value and the file of a negative commitIntervalMs', () => {
    write('default.yaml', BASE_DEFAULTS)
    const envFile = write('staging.yaml', 'runtime:\n  commitIntervalMs: -5\n')
    const err = configError(() => loadConfig({ dir, env: 'staging', environment: {} }))
    expect(err.problems).toHaveLength(1)
    const p = err.problems[0] as string
    expect(p).toContain('"runtime.commitIntervalMs"')
    expect(p).toContain('>0')
    expect(p).toContain('got -5')
    expect(p).toContain(`(from ${envFile})`)
    expect(err.message).toContain(p)
  })

  it('lists the allowed values of an unknown runtime.stateBackend and names the variable it came from', () => {
    write('default.yaml', BASE_DEFAULTS)
    const err = configError(() => loadConfig({ dir, environment: { HERMES__runtime__stateBackend: 'leveldb' } }))
    expect(err.problems).toHaveLength(1)
    const p = err.problems[0] as string
    expect(p).toContain('"runtime.stateBackend"')
    expect(p).toMatch(/rocksdb.*memory/)
    expect(p).toContain('got "leveldb"')
    expect(p).toContain('(from environment variable HERMES__runtime__stateBackend)')
  })

  it('reports a misspelled field with its file and the fields allowed in that section', () => {
    write('default.yaml', BASE_DEFAULTS)
    const extra = write('extra.yaml', 'runtime:\n  commitIntervalMS: 1000\n')
    const err = configError(() => loadConfig({ dir, files: [extra], environment: {} }))
    expect(err.problems).toHaveLength(1)
    const p = err.problems[0] as string
    expect(p).toContain('unknown field "runtime.commitIntervalMS"')
    expect(p).toContain(`(from ${extra})`)
    expect(p).toContain('allowed here: mode, stateDir, stateBackend, guarantee, commitIntervalMs, commitEveryRecords')
  })

  it('rejects a misspelled time setting and names what the time section allows', () => {
    const err = configError(() => validateConfig({ time: { idleTimeout: 60_000 } }))
    expect(err.problems).toEqual(['unknown field "time.idleTimeout": remove it or fix its spelling (did you mean \"idleTimeoutMs\"?); allowed here: maxOutOfOrdernessMs, maxFutureMs, minTimestampMs, idleTimeoutMs'])
  })

  it('reads time.idleTimeoutMs: 500 by default, 0 or null to never follow the wall clock', () => {
    expect(validateConfig({}).time.idleTimeoutMs).toBe(500)
    expect(validateConfig({ time: { idleTimeoutMs: 0 } }).time.idleTimeoutMs).toBe(0)
    expect(validateConfig({ time: { idleTimeoutMs: null } }).time.idleTimeoutMs).toBeNull()
    expect(configError(() => validateConfig({ time: { idleTimeoutMs: -1 } })).problems[0]).toContain('time.idleTimeoutMs')
  })

  it('reports an unknown section with the sections allowed at the top level', () => {
    const err = configError(() => validateConfig({ runtme: { stateDir: 'x' } }))
    const p = err.problems[0] as string
    expect(p).toContain('unknown field "runtme"')
    expect(p).toContain('allowed here: runtime, time, errors, topics, observability, kafka, schemaRegistry, hermes')
  })

  it('reports a value of the wrong type with the expected type and the layer it came from', () => {
    write('default.yaml', BASE_DEFAULTS)
    const err = configError(() => loadConfig({ dir, environment: {}, overrides: { kafka: { ssl: 'yes' } } }))
    const p = err.problems[0] as string
    expect(p).toContain('"kafka.ssl"')
    expect(p).toContain('expected boolean')
    expect(p).toContain('got "yes"')
    expect(p).toContain('(from command-line options)')
  })

  it('rejects a number given as a quoted string, and a fraction where an integer is needed', () => {
    const err = configError(() => validateConfig({ runtime: { commitIntervalMs: '100', commitEveryRecords: 1.5 } }))
    expect(err.problems).toHaveLength(2)
    expect(err.problems.find((p) => p.includes('"runtime.commitIntervalMs"'))).toMatch(/expected number.*got "100"/)
    expect(err.problems.find((p) => p.includes('"runtime.commitEveryRecords"'))).toMatch(/expected int.*got 1\.5/)
  })

  it('reports every problem at once, each from its own layer', () => {
    write('default.yaml', BASE_DEFAULTS)
    const envFile = write('prod.yaml', 'time:\n  maxOutOfOrdernessMs: -1\nobservability:\n  http:\n    port: 70000\n')
    const err = configError(() =>
      loadConfig({
        dir,
        env: 'prod',
        environment: { HERMES__errors__process: 'retry', HERMES__kafka__clientID: 'x' },
      }),
    )
    expect(err.problems).toHaveLength(4)
    const joined = err.problems.join('\n')
    expect(joined).toMatch(/"time\.maxOutOfOrdernessMs".*>=0.*got -1 \(from .*prod\.yaml\)/)
    expect(joined).toMatch(/"observability\.http\.port".*<=65535.*got 70000/)
    expect(joined).toContain(`(from ${envFile})`)
    expect(joined).toMatch(/"errors\.process".*continue.*fail.*got "retry" \(from environment variable HERMES__errors__process\)/)
    expect(joined).toMatch(/unknown field "kafka\.clientID" \(from environment variable HERMES__kafka__clientID\).*clientId/)
    for (const p of err.problems) expect(err.message).toContain(`  - ${p}`)
  })

  it('requires every field of kafka.sasl once the section is given', () => {
    const err = configError(() => validateConfig({ kafka: { sasl: { mechanism: 'plain', username: 'svc' } } }))
    expect(err.problems).toHaveLength(1)
    expect(err.problems[0]).toContain('"kafka.sasl.password"')
  })

  it('checks per-topic partition overrides', () => {
    expect(validateConfig({ topics: { overrides: { 'behavior-events': { partitions: 8 } } } }).topics.overrides['behavior-events']?.partitions).toBe(8)
    const err = configError(() => validateConfig({ topics: { overrides: { 'behavior-events': { partitions: 0 } } } }))
    expect(err.problems[0]).toMatch(/"topics\.overrides\.behavior-events\.partitions".*>0.*got 0/)
  })

  it('gives a topic its override partitions, else the default', () => {
    const config = validateConfig({ topics: { defaultPartitions: 3, overrides: { 'behavior-events': { partitions: 8 }, 'user-sessions': { format: 'json' } } } })
    expect(topicPartitions(config, 'behavior-events')).toBe(8)
    expect(topicPartitions(config, 'user-sessions')).toBe(3)
    expect(topicPartitions(config, 'other')).toBe(3)
  })

  it('validateConfig without origins names no source', () => {
    const err = configError(() => validateConfig({ runtime: { guarantee: 'exactly-once' } }))
    expect(err.problems[0]).toMatch(/"runtime\.guarantee".*at_least_once.*exactly_once.*got "exactly-once"$/)
    expect(err.problems[0]).not.toContain('(from')
  })

  it('says which file is missing when the environment has no file', () => {
    write('default.yaml', BASE_DEFAULTS)
    const err = configError(() => loadConfig({ dir, env: 'staging', environment: {} }))
    expect(err.message).toContain('environment "staging"')
    expect(err.message).toContain(join(dir, 'staging.yaml'))
  })

  it('says which extra file does not exist', () => {
    const missing = join(dir, 'nope.yaml')
    expect(configError(() => loadConfig({ dir, files: [missing], environment: {} })).message).toContain(`config file ${missing} does not exist`)
  })

  it('names the file and the position of invalid YAML', () => {
    const file = write('default.yaml', 'runtime:\n  stateDir: [unclosed\n')
    const err = configError(() => loadConfig({ dir, environment: {} }))
    expect(err.message).toContain(`${file} is not valid YAML`)
    expect(err.message).toMatch(/line \d+/)
  })

  it('rejects a file whose top level is not a mapping', () => {
    const file = write('default.yaml', '- runtime\n- time\n')
    const err = configError(() => loadConfig({ dir, environment: {} }))
    expect(err.message).toContain(`${file}: the top level must be a mapping`)
    expect(err.message).toContain('got a list')
  })

  it('reads an empty file as no settings', () => {
    write('default.yaml', '# nothing here yet\n')
    expect(loadConfig({ dir, environment: {} })).toEqual(configSchema.parse({}))
  })
})

describe('kafka runner settings', () => {
  it('has defaults for every setting, the consumer section included, and leaves maxAheadMs unset', () => {
    const { kafka } = configSchema.parse({})
    expect(kafka).toMatchObject({ maxTaskIdleMs: 500, maxOutageMs: 300_000, maxBufferedPerPartition: 5000, maxPendingOutputs: 50_000, maxInFlightBatches: 8 })
    expect(kafka.maxAheadMs).toBeUndefined()
    expect(kafka.consumer).toEqual({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, rebalanceTimeoutMs: 20_000, maxWaitTimeMs: 100, maxBytesPerPartition: 1 << 20 })
  })

  it('keeps the defaults of consumer fields a layer does not name', () => {
    const config = loadConfig({ dir, environment: { HERMES__kafka__consumer__maxWaitTimeMs: '20', HERMES__kafka__maxAheadMs: '0' } })
    expect(config.kafka.consumer).toEqual({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, rebalanceTimeoutMs: 20_000, maxWaitTimeMs: 20, maxBytesPerPartition: 1 << 20 })
    expect(config.kafka.maxAheadMs).toBe(0)
  })

  it('names the field of a bad value, nested consumer fields included', () => {
    const err = configError(() => validateConfig({ kafka: { maxTaskIdleMs: -1, maxBufferedPerPartition: 0, consumer: { sessionTimeoutMs: 2.5 } } }))
    expect(err.problems).toHaveLength(3)
    const joined = err.problems.join('\n')
    expect(joined).toMatch(/"kafka\.maxTaskIdleMs".*>=0.*got -1/)
    expect(joined).toMatch(/"kafka\.maxBufferedPerPartition".*>0.*got 0/)
    expect(joined).toMatch(/"kafka\.consumer\.sessionTimeoutMs".*expected int.*got 2\.5/)
  })

  it('rejects a heartbeat interval that is not lower than the session timeout, naming both fields', () => {
    const file = write('extra.yaml', 'kafka:\n  consumer:\n    sessionTimeoutMs: 3000\n    heartbeatIntervalMs: 3000\n')
    const err = configError(() => loadConfig({ dir, files: [file], environment: {} }))
    expect(err.problems).toHaveLength(1)
    expect(err.problems[0]).toMatch(/"kafka\.consumer\.heartbeatIntervalMs": must be lower than kafka\.consumer\.sessionTimeoutMs \(3000\), got 3000/)
    expect(err.problems[0]).toContain(`(from ${file})`)
  })

  it('lists the allowed consumer fields for a misspelled one', () => {
    const err = configError(() => validateConfig({ kafka: { consumer: { sessionTimeout: 6000 } } }))
    expect(err.problems[0]).toContain('unknown field "kafka.consumer.sessionTimeout"')
    expect(err.problems[0]).toContain('allowed here: sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, maxWaitTimeMs, maxBytesPerPartition')
  })

  it('are what the Kafka runner uses, unless an option of the runner overrides them', () => {
    const config = validateConfig({
      time: { maxOutOfOrdernessMs: 7000 },
      kafka: { maxTaskIdleMs: 0, maxOutageMs: 1000, maxBufferedPerPartition: 10, maxPendingOutputs: 20, maxInFlightBatches: 2, consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 9000, maxWaitTimeMs: 10, maxBytesPerPartition: 4096 } },
    })
    const base = { topologies: [], config, state: { kind: 'memory', maps: new Map() } as const, logger: createLogger({ level: 'silent' }) }
    expect(resolveRunnerSettings(base)).toEqual({
      timings: { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 9000, maxWaitTimeInMs: 10 },
      maxTaskIdleMs: 0,
      maxBufferedPerPartition: 10,
      maxBytesPerPartition: 4096,
      maxPendingOutputs: 20,
      maxInFlightBatches: 2,
      maxAheadMs: 7000,
      maxOutageMs: 1000,
      commitIntervalMs: 5000,
    })
    const withAhead = validateConfig({ time: { maxOutOfOrdernessMs: 7000 }, kafka: { maxAheadMs: 50 } })
    expect(resolveRunnerSettings({ ...base, config: withAhead }).maxAheadMs).toBe(50)
    const overridden = resolveRunnerSettings({ ...base, timings: { maxWaitTimeInMs: 1 }, maxTaskIdleMs: 5, maxAheadMs: 3, maxBytesPerPartition: 100 })
    expect(overridden).toMatchObject({ maxTaskIdleMs: 5, maxAheadMs: 3, maxBytesPerPartition: 100, maxBufferedPerPartition: 10 })
    expect(overridden.timings).toEqual({ sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 9000, maxWaitTimeInMs: 1 })
  })
})

describe('shipped configuration', () => {
  it('config/default.yaml validates and matches the schema defaults, plus the schemas of the Hermes topics', () => {
    const shipped = loadConfig({ dir: SHIPPED, environment: {} })
    const { overrides, ...topics } = shipped.topics
    const { overrides: none, ...defaultTopics } = configSchema.parse({}).topics
    expect(none).toEqual({})
    expect({ ...shipped, topics }).toEqual({ ...configSchema.parse({}), topics: defaultTopics })
    expect(Object.keys(overrides).sort()).toEqual(['behavior-events', 'config.audiences', 'config.materials', 'config.tasks', 'config.users', 'ctr-model', 'exposures', 'item-events', 'material-stats', 'push-decisions', 'push-suppressions'])
    for (const [topic, o] of Object.entries(overrides)) {
      expect(o.format, topic).toBeUndefined()
      expect(existsSync(join(SHIPPED, '..', 'schemas', `${o.schema}.avsc`)), `${topic}: schemas/${o.schema}.avsc`).toBe(true)
    }
  })

  it('config/test.yaml validates: in-memory state, any free port, silent logs', () => {
    const config = loadConfig({ dir: SHIPPED, env: 'test', environment: {} })
    expect(config.runtime.stateBackend).toBe('memory')
    expect(config.observability.http.port).toBe(0)
    expect(config.observability.http.host).toBe('127.0.0.1')
    expect(config.observability.log.level).toBe('silent')
    expect(config.runtime.commitIntervalMs).toBeUndefined()
  })

  it('config/production.yaml validates: Kafka, exactly-once, replicated topics', () => {
    const config = loadConfig({ dir: SHIPPED, env: 'production', environment: {} })
    expect(config.runtime).toMatchObject({ mode: 'kafka', guarantee: 'exactly_once', stateDir: '/var/lib/hermes', stateBackend: 'rocksdb' })
    expect(config.time.maxOutOfOrdernessMs).toBe(5000)
    expect(config.kafka.replicationFactor).toBe(3)
    expect(config.kafka.sasl).toBeUndefined()
  })

  it('production secrets come from HERMES__kafka__sasl__* variables', () => {
    const config = loadConfig({
      dir: SHIPPED,
      env: 'production',
      environment: { HERMES__kafka__sasl__mechanism: 'plain', HERMES__kafka__sasl__username: 'svc', HERMES__kafka__sasl__password: 'pw-from-env' },
    })
    expect(config.kafka.sasl).toEqual({ mechanism: 'plain', username: 'svc', password: 'pw-from-env' })
  })
})

describe('prototype pollution', () => {
  afterEach(() => {
    delete (Object.prototype as { polluted?: unknown }).polluted
  })

  it('__proto__ keys in YAML files do not reach Object.prototype or the config', () => {
    write('default.yaml', `${BASE_DEFAULTS.replace('hermes: {}', 'hermes:\n  __proto__:\n    polluted: true\n  flag: 1')}\n__proto__:\n  polluted: true\n`)
    mkdirSync(join(dir, 'more'))
    const extra = join(dir, 'more', 'extra.yaml')
    writeFileSync(extra, 'runtime:\n  __proto__:\n    polluted: true\n  stateDir: extra\nhermes:\n  __proto__:\n    polluted: true\n')
    const config = loadConfig({ dir, files: [extra], environment: {} })
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
    expect(config.runtime.stateDir).toBe('extra')
    expect((config.runtime as { polluted?: unknown }).polluted).toBeUndefined()
    expect(config.hermes).toEqual({ flag: 1 })
    expect((config.hermes as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(config)).toBe(Object.prototype)
  })
})

describe('configuration bugs found in review', () => {
  it('keeps an environment value with a # or a colon as the exact string', async () => {
    const { parseEnvValue } = await import('../../pipeline/config/load.ts')
    expect(parseEnvValue('s3cret #1')).toBe('s3cret #1')
    expect(parseEnvValue('a: b')).toBe('a: b')
    expect(parseEnvValue('42')).toBe(42)
    expect(parseEnvValue('[a, b]')).toEqual(['a', 'b'])
  })
})
