/** The checks of configuration topics' settings and the produce-phase policy on Kafka, with no broker. */
import { describe, expect, it } from 'vitest'
import { HermesError } from '../../pipeline/api/errors.ts'
import { loadConfig } from '../../pipeline/config/load.ts'
import { cleanupProblem, withConfiguredCleanup } from '../../pipeline/kafka/admin.ts'
import { producePolicy } from '../../pipeline/kafka/runner.ts'

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
