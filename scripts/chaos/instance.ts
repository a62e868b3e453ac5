/**
 * One Hermes instance of a chaos run, in its own process (so it can be SIGKILLed):
 * `node --import tsx scripts/chaos/instance.ts '<json PhaseOptions & { stopWhenIdleMs? }>'`.
 * It runs what `hermes run push-decisions material-stats` runs on Kafka (same config loading,
 * topology loader and runKafka), with the chaos config; with `stopWhenIdleMs` it exits 0 once
 * everything is processed and committed (the CLI has no such option: it runs until stopped).
 * SIGTERM stops it cleanly (exit 0). Progress goes to stdout as `{"progress":<records>}` lines.
 */
import { loadTopology } from '../../pipeline/cli/topologies.ts'
import { runKafka } from '../../pipeline/kafka/run.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import type { PhaseOptions } from './flow-config.ts'
import { phaseConfig } from './flow-config.ts'

const opts = JSON.parse(process.argv[2] ?? '{}') as PhaseOptions & { stopWhenIdleMs?: number }
const config = phaseConfig(opts)
const logger = createLogger({ level: config.observability.log.level, name: `chaos-${process.pid}` })
const controller = new AbortController()
process.on('SIGTERM', () => controller.abort())
try {
  const topologies = [await loadTopology('push-decisions', { settings: config.hermes }), await loadTopology('material-stats', { settings: config.hermes })]
  const stats = await runKafka({
    topologies,
    config,
    logger,
    signal: controller.signal,
    ...(opts.stopWhenIdleMs !== undefined ? { stopWhenIdleMs: opts.stopWhenIdleMs } : {}),
    onProgress: (s) => process.stdout.write(`${JSON.stringify({ progress: s.records })}\n`),
  })
  process.stdout.write(`${JSON.stringify({ stopped: stats })}\n`)
  process.exit(0)
} catch (err) {
  logger.error({ err: (err as Error).stack }, 'run failed')
  process.exit(1)
}
