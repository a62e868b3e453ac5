/**
 * A Hermes instance in its own process, for the crash and rebalance tests:
 * `node --import tsx test/kafka/child.ts '<json options>'`. Runs the test topology on Kafka with
 * RocksDB state until killed, or (with `stopWhenIdleMs`) until idle, then exits 0. With
 * `diagnose`, it prints each app's event time once a second as `{"diag":...}` lines: watermark,
 * highest time seen, earliest record still on its way to its own inputs, and its tasks (to
 * explain a run whose windows never close). Its first line, `{"loaded":true}`, says its modules are
 * loaded (Instance.started).
 */
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { testConfig } from './helpers.ts'
import { testTopics, testTopology } from './topology.ts'

interface ChildOptions {
  app: string
  suffix: string
  guarantee: 'at_least_once' | 'exactly_once' | 'exactly_once_v2'
  stateDir: string
  stopWhenIdleMs?: number
  maxAheadMs?: number
  maxOutOfOrdernessMs?: number
  logLevel?: string
  diagnose?: boolean
}

// Loaded: the parent's waits for the group (a join, a rebalance) start from here, not from the
// spawn, since loading the modules alone can take longer than such a wait on a loaded machine.
process.stdout.write('{"loaded":true}\n')
const opts = JSON.parse(process.argv[2] ?? '{}') as ChildOptions
const config = testConfig({ runtime: { guarantee: opts.guarantee, commitIntervalMs: 100 }, time: { maxOutOfOrdernessMs: opts.maxOutOfOrdernessMs ?? 2000 } })
const logger = createLogger({ level: opts.logLevel ?? 'warn', name: `child-${process.pid}` })
const controller = new AbortController()
process.on('SIGTERM', () => controller.abort())
const options = {
  topologies: [testTopology(opts.app, testTopics(opts.suffix), { running: false })],
  config,
  logger,
  state: { kind: 'rocksdb', dir: opts.stateDir } as const,
  timings: { sessionTimeout: 2000, heartbeatInterval: 300, rebalanceTimeout: 4000, maxWaitTimeInMs: 50 },
  ...(opts.maxAheadMs !== undefined ? { maxAheadMs: opts.maxAheadMs } : {}),
}
const onProgress = (s: { records: number }): void => void process.stdout.write(`${JSON.stringify({ progress: s.records })}\n`)
try {
  if (opts.diagnose) {
    // The runner itself (not runKafka) so that its apps' event time can be read.
    const runner = await KafkaRunner.open(options)
    controller.signal.addEventListener('abort', () => runner.stop())
    const timer = setInterval(() => {
      const apps = runner.apps.map((a) => ({ app: a.name, watermark: a.app.watermark(), maxSeen: a.app.appClock(), inFlightMin: a.inFlight.min(), inFlight: a.inFlight.size(), tasks: a.app.tasks.map((t) => t.id).sort() }))
      process.stdout.write(`${JSON.stringify({ diag: apps, at: Date.now() })}\n`)
    }, 1000)
    try {
      await runner.run({ ...(opts.stopWhenIdleMs !== undefined ? { stopWhenIdleMs: opts.stopWhenIdleMs } : {}), onProgress })
    } finally {
      clearInterval(timer)
      await runner.close()
    }
  } else {
    await runKafka({ ...options, signal: controller.signal, ...(opts.stopWhenIdleMs !== undefined ? { stopWhenIdleMs: opts.stopWhenIdleMs } : {}), onProgress })
  }
  process.exit(0)
} catch (err) {
  logger.error({ err: (err as Error).stack }, 'run failed')
  process.exit(1)
}
