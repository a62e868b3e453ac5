import { describe, expect, it } from 'vitest'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { commitIntervalMs } from '../../pipeline/config/commit-interval.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { resolveRunnerSettings } from '../../pipeline/kafka/options.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

const silent = createLogger({ level: 'silent' })

function runtime(guarantee: 'at_least_once' | 'exactly_once' | 'exactly_once_v2', interval?: number): HermesConfig['runtime'] {
  return validateConfig({ runtime: { guarantee, ...(interval === undefined ? {} : { commitIntervalMs: interval }) } }).runtime
}

describe('runtime.commitIntervalMs', () => {
  it('is optional: unset, Kafka commits every 5000 ms at-least-once and every 100 ms exactly-once', () => {
    expect(runtime('exactly_once').commitIntervalMs).toBeUndefined()
    expect(commitIntervalMs(runtime('at_least_once'), 'kafka')).toBe(5000)
    expect(commitIntervalMs(runtime('exactly_once'), 'kafka')).toBe(100)
    expect(commitIntervalMs(runtime('exactly_once_v2'), 'kafka')).toBe(100)
  })

  it('unset, embedded mode commits every 5000 ms whatever the guarantee', () => {
    expect(commitIntervalMs(runtime('at_least_once'), 'embedded')).toBe(5000)
    expect(commitIntervalMs(runtime('exactly_once'), 'embedded')).toBe(5000)
  })

  it('when set, is used by both runners with both guarantees', () => {
    for (const g of ['at_least_once', 'exactly_once'] as const) {
      expect(commitIntervalMs(runtime(g, 2500), 'kafka')).toBe(2500)
      expect(commitIntervalMs(runtime(g, 2500), 'embedded')).toBe(2500)
    }
  })

  it('is what the Kafka runner resolves from its config', () => {
    const options = (config: HermesConfig) => ({ topologies: [], config, state: { kind: 'memory', maps: new Map() } as const, logger: silent })
    expect(resolveRunnerSettings(options(validateConfig({ runtime: { guarantee: 'exactly_once' } }))).commitIntervalMs).toBe(100)
    expect(resolveRunnerSettings(options(validateConfig({}))).commitIntervalMs).toBe(5000)
    expect(resolveRunnerSettings(options(validateConfig({ runtime: { guarantee: 'exactly_once', commitIntervalMs: 700 } }))).commitIntervalMs).toBe(700)
  })

  it('is what the embedded runner commits by: exactly-once does not shorten it there', async () => {
    // A clock that moves 1 s per reading: the number of commits shows the interval in use.
    const commits = async (runtimeSection: object): Promise<number> => {
      const b = new TopologyBuilder('interval')
      b.source<{ userId: string; ts: number }>('in', { topic: 'in', serde: jsonObjectSerde(), keyField: 'userId', timestampField: 'ts' }).to('out', { topic: 'out', serde: jsonSerde() })
      const log = EmbeddedLog.inMemory()
      log.createTopic('in', 1)
      for (let i = 0; i < 256 * 40; i++) log.append('in', 0, `u${i % 7}`, Buffer.from(JSON.stringify({ userId: `u${i % 7}`, ts: i })), i)
      let now = 0
      const config = validateConfig({ runtime: runtimeSection, topics: { defaultPartitions: 1 } })
      const runner = await EmbeddedRunner.open({ topologies: [b.build()], config, log, state: { kind: 'memory', maps: new Map() }, logger: silent, clock: () => (now += 1000) })
      try {
        return (await runner.run()).commits
      } finally {
        await runner.close()
      }
    }
    const atLeastOnce = await commits({ guarantee: 'at_least_once' })
    expect(await commits({ guarantee: 'exactly_once' })).toBe(atLeastOnce)
    expect(await commits({ guarantee: 'exactly_once', commitIntervalMs: 5000 })).toBe(atLeastOnce)
    const everySecond = await commits({ guarantee: 'exactly_once', commitIntervalMs: 1000 })
    expect(everySecond).toBeGreaterThan(2 * atLeastOnce)
  })
})
