/**
 * A Hermes instance in its own process, for the crash and rebalance tests:
 * `node --import tsx test/kafka/child.ts '<json options>'`. Runs the test topology on Kafka with
 * RocksDB state until killed, or (with `stopWhenIdleMs`) until idle, then exits 0.
 */
import { runKafka } from '../../pipeline/kafka/run.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { testConfig } from './helpers.ts'
import { testTopics, testTopology } from './topology.ts'

interface ChildOptions {
  app: string
  suffix: string
  guarantee: 'at_least_once' | 'exactly_once'
  stateDir: string
  stopWhenIdleMs?: number
  maxAheadMs?: number
  maxOutOfOrdernessMs?: number
  logLevel?: string
}

const opts = JSON.parse(process.argv[2] ?? '{}') as ChildOptions
const config = testConfig({ runtime: { guarantee: opts.guarantee, commitIntervalMs: 100 }, time: { maxOutOfOrdernessMs: opts.maxOutOfOrdernessMs ?? 2000 } })
const logger = createLogger({ level: opts.logLevel ?? 'warn', name: `child-${process.pid}` })
const controller = new AbortController()
process.on('SIGTERM', () => controller.abort())
try {
  await runKafka({
    topologies: [testTopology(opts.app, testTopics(opts.suffix), { running: false })],
    config,
    logger,
    signal: controller.signal,
    state: { kind: 'rocksdb', dir: opts.stateDir },
    timings: { sessionTimeout: 2000, heartbeatInterval: 300, rebalanceTimeout: 4000, maxWaitTimeInMs: 50 },
    ...(opts.stopWhenIdleMs !== undefined ? { stopWhenIdleMs: opts.stopWhenIdleMs } : {}),
    ...(opts.maxAheadMs !== undefined ? { maxAheadMs: opts.maxAheadMs } : {}),
    onProgress: (s) => process.stdout.write(`${JSON.stringify({ progress: s.records })}\n`),
  })
  process.exit(0)
} catch (err) {
  logger.error({ err: (err as Error).stack }, 'run failed')
  process.exit(1)
}
