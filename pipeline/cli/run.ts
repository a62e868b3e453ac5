import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import type { TopicFile } from '../embedded/files.ts'
import { endOffsets, loadInputs, readTopicSince, writeLines } from '../embedded/files.ts'
import type { RunStats } from '../embedded/runner.ts'
import { EmbeddedRunner } from '../embedded/runner.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { HermesMetrics } from '../observability/metrics.ts'
import { queryKey } from '../observability/key-query.ts'
import { maybeStartObservabilityServer } from '../observability/server.ts'

export interface EmbeddedRunOptions {
  topologies: Topology[]
  config: HermesConfig
  inputs: TopicFile[]
  outputs: TopicFile[]
  logger: HermesLogger
  onProgress?: (stats: RunStats, pendingInputs: number) => void
  /** Stop early (SIGINT): the run commits what it did and returns. */
  signal?: AbortSignal
}

/** What a run did, for the summary and for tests. */
export interface RunSummary {
  stats: RunStats
  loaded: { [topic: string]: number }
  written: { [topic: string]: number }
  /** Records each topic received during the run (outputs, dead letters, internal topics). */
  produced: { [topic: string]: number }
  stateDir: string
  metricsPort: number | null
}

/**
 * `hermes run` in embedded mode: loads the input files into the embedded log under the state
 * dir, runs the topologies until the inputs are drained and due timers have fired, and writes
 * what each output topic received during this run to its file.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<RunSummary> {
  const { config, topologies, logger } = options
  const stateDir = resolve(config.runtime.stateDir)
  mkdirSync(stateDir, { recursive: true })
  const log = EmbeddedLog.open(join(stateDir, 'log'))
  const metrics = new HermesMetrics()
  const state = config.runtime.stateBackend === 'rocksdb' ? ({ kind: 'rocksdb', dir: join(stateDir, 'state') } as const) : ({ kind: 'memory', maps: new Map() } as const)
  const runner = await EmbeddedRunner.open({ topologies, config, log, state, logger, metrics })
  let ready = false
  const server = await maybeStartObservabilityServer({
    http: config.observability.http,
    registry: metrics.registry,
    health: { live: () => true, ready: () => (ready ? { ready: true } : { ready: false, reason: 'restoring state' }) },
    beforeScrape: () => runner.updateMetrics(),
    query: (key) => queryKey(runner.apps, key),
    logger,
  })
  try {
    const watched = new Set<string>([...options.outputs.map((o) => o.topic), ...log.topicNames()])
    for (const t of topologies) for (const n of t.nodes) if (n.kind === 'sink') watched.add(n.topic)
    for (const app of runner.apps) watched.add(app.dlqTopic)
    const before = new Map<string, number[]>()
    for (const t of watched) before.set(t, endOffsets(log, t))
    const loaded = loadInputs(log, topologies, options.inputs, (topic) => topicPartitions(config, topic))
    const inputTopics = new Set(options.inputs.map((i) => i.topic))
    const pending = [...loaded.values()].reduce((a, b) => a + b, 0)
    ready = true
    const onAbort = (): void => runner.stop()
    options.signal?.addEventListener('abort', onAbort)
    const stats = await runner.run({ onProgress: (s) => options.onProgress?.(s, pending) })
    options.signal?.removeEventListener('abort', onAbort)
    const written: { [topic: string]: number } = {}
    for (const out of options.outputs) {
      const lines = readTopicSince(log, out.topic, before.get(out.topic) ?? [])
      await writeLines(out.file, lines)
      written[out.topic] = lines.length
    }
    const produced: { [topic: string]: number } = {}
    for (const t of log.topicNames()) {
      if (inputTopics.has(t)) continue
      const from = before.get(t) ?? []
      const n = endOffsets(log, t).reduce((sum, end, p) => sum + end - (from[p] ?? 0), 0)
      if (n > 0) produced[t] = n
    }
    return { stats, loaded: Object.fromEntries(loaded), written, produced, stateDir, metricsPort: server?.port ?? null }
  } finally {
    await runner.close()
    await server?.close()
  }
}
