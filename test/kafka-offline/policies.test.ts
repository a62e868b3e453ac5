/** The checks of configuration topics' settings and the produce-phase policy on Kafka, with no broker. */
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { loadConfig } from '../../pipeline/config/load.ts'
import { cleanupProblem, withBroadcastCleanup, withConfiguredCleanup } from '../../pipeline/kafka/admin.ts'
import { LIVENESS_FAILING_MS, OutageTracker } from '../../pipeline/kafka/failures.ts'
import { producePolicy } from '../../pipeline/runtime/error-policy.ts'

const settings = (cleanupPolicy: string, retentionMs = 604_800_000, retentionBytes = -1) => ({ cleanupPolicy, retentionMs, retentionBytes })

describe('cleanupProblem', () => {
  it.each([
    ['compact', settings('compact'), null],
    ['compact', settings('delete'), 'cleanup.policy'],
    ['compact', settings('compact,delete'), 'cleanup.policy'],
    ['compact', settings('compact,delete', -1), null],
    ['forever', settings('delete', -1), null],
    ['forever', settings('delete'), 'retention.ms'],
    ['forever', settings('delete', -1, 1_000_000), 'retention.bytes'],
    ['forever', settings('compact', -1), 'cleanup.policy'],
  ] as const)('%s with %o: %s', (cleanup, s, setting) => {
    expect(cleanupProblem(cleanup, s)?.setting ?? null).toBe(setting)
  })
})

describe('configuration topics in config/default.yaml', () => {
  it('mark the four compacted topics compact and config.audiences forever', () => {
    const config = loadConfig({ dir: 'config', environment: {} })
    const specs = withConfiguredCleanup(
      config,
      ['config.tasks', 'config.materials', 'config.users', 'material-stats', 'config.audiences', 'behavior-events'].map((topic) => ({ topic, partitions: 1 })),
    )
    expect(Object.fromEntries(specs.map((s) => [s.topic, s.cleanup]))).toEqual({
      'config.tasks': 'compact',
      'config.materials': 'compact',
      'config.users': 'compact',
      'material-stats': 'compact',
      'config.audiences': 'forever',
      'behavior-events': undefined,
    })
  })
})

describe('withBroadcastCleanup', () => {
  it('marks broadcast topics compacted (inferred: warned about, not refused), and the config wins over it', () => {
    const config = loadConfig({ dir: 'config', environment: {}, overrides: { topics: { overrides: { 'stats-x': { cleanup: 'forever' } } } } })
    const specs = [{ topic: 'rules-x', partitions: 1 }, { topic: 'stats-x', partitions: 1 }, { topic: 'events-x', partitions: 4 }, { topic: 'config.audiences', partitions: 4 }]
    const out = withConfiguredCleanup(config, withBroadcastCleanup(specs, new Set(['rules-x', 'stats-x', 'config.audiences'])))
    expect(out).toEqual([
      { topic: 'rules-x', partitions: 1, cleanup: 'compact', cleanupInferred: true },
      { topic: 'stats-x', partitions: 1, cleanup: 'forever' },
      { topic: 'events-x', partitions: 4 },
      { topic: 'config.audiences', partitions: 4, cleanup: 'forever' },
    ])
  })
})

describe('producePolicy', () => {
  const ctx = (error: unknown) => ({ phase: 'produce' as const, error, topic: 'in', partition: 0, offset: 3, nodeId: 'out' })
  const config = loadConfig({ dir: 'config', environment: {} })

  it('dead-letters an oversized output by default, and stops on other produce errors', () => {
    const policy = producePolicy(config.errors)
    expect(policy(ctx(new HermesError('RECORD_TOO_LARGE', 'output record to out is 2000000 bytes')))).toBe('continue')
    expect(policy(ctx(new TypeError('cannot serialize')))).toBe('fail')
  })

  it('follows errors.oversized and errors.produce', () => {
    const policy = producePolicy({ ...config.errors, oversized: 'fail', produce: 'continue' })
    expect(policy(ctx(new HermesError('RECORD_TOO_LARGE', 'too large')))).toBe('fail')
    expect(policy(ctx(new Error('x')))).toBe('continue')
  })
})

describe('OutageTracker', () => {
  /** A kafkajs produce error inside the errors the runner wraps it in. */
  const refusal = (type: string) => new HermesError('PRODUCE_ERROR', 'commit of task app/0_0 failed: sending 1 records to out[0] failed', { cause: Object.assign(new Error('refused'), { name: 'KafkaJSProtocolError', type }) })
  const outage = () => Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' })

  it('gives up after maxOutageMs of failures even when steps in between succeed (a commit failing every cycle)', () => {
    let now = 0
    const t = new OutageTracker(() => now, 10_000)
    for (; now <= 10_000; now += 1500) t.failed(outage()) // the loop's steps between failures change nothing
    expect(() => t.failed(outage())).toThrow(/Kafka kept failing for 11 s with no commit succeeding \(kafka\.maxOutageMs: 10000\); last failure: Connection error/)
  })

  it('starts over once a commit succeeds', () => {
    let now = 0
    const t = new OutageTracker(() => now, 10_000)
    t.failed(outage())
    now = 9000
    t.recovered()
    now = 15_000
    expect(() => t.failed(outage())).not.toThrow()
  })

  it('gives up at the third non-retriable refusal in a row, naming the Kafka error and the partition', () => {
    let now = 0
    const t = new OutageTracker(() => now, 300_000)
    t.failed(refusal('MESSAGE_TOO_LARGE'))
    now += 1000
    t.failed(refusal('MESSAGE_TOO_LARGE'))
    now += 1000
    expect(() => t.failed(refusal('MESSAGE_TOO_LARGE'))).toThrow(/refused the same write 3 times in a row \(MESSAGE_TOO_LARGE\).*out\[0\]/)
  })

  it('counts refusals in a row only: an outage in between starts the count again', () => {
    const t = new OutageTracker(() => 0, 300_000)
    t.failed(refusal('INVALID_RECORD'))
    t.failed(refusal('INVALID_RECORD'))
    t.failed(outage())
    t.failed(refusal('INVALID_RECORD'))
    expect(() => t.failed(refusal('INVALID_RECORD'))).not.toThrow()
  })

  it('is not live after a minute of failures, nor after the run ended with an error', () => {
    let now = 0
    const t = new OutageTracker(() => now, 300_000)
    expect(t.liveness()).toEqual({ live: true })
    t.failed(outage())
    now = LIVENESS_FAILING_MS - 1
    expect(t.liveness().live).toBe(true)
    now = LIVENESS_FAILING_MS + 1000
    expect(t.liveness()).toEqual({ live: false, reason: 'no commit has succeeded for 61 s of Kafka failures; last: Connection error: ECONNREFUSED' })
    t.recovered()
    expect(t.liveness()).toEqual({ live: true })
    t.ended(new Error('boom'))
    expect(t.liveness()).toEqual({ live: false, reason: 'boom' })
  })
})
