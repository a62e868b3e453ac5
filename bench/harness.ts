/** What the embedded benchmarks share: a measured run (with peak RSS) and latency percentiles. */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'hdr-histogram-js'
import type { Topology } from '../pipeline/api/index.ts'
import type { HermesConfig } from '../pipeline/config/schema.ts'
import type { EmbeddedLog } from '../pipeline/embedded/log.ts'
import type { RunStats } from '../pipeline/embedded/runner.ts'
import { EmbeddedRunner } from '../pipeline/embedded/runner.ts'
import { createLogger } from '../pipeline/observability/logger.ts'

/** Samples RSS every 50 ms until stopped; returns the peak in MiB. */
export function trackPeakRss(): () => number {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 50)
  return () => {
    clearInterval(timer)
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 1048576)
  }
}

/** Opens an embedded runner on `log`, with its state in RocksDB under `dir` or in memory. */
export async function openRunner(o: { topologies: Topology[]; config: HermesConfig; log: EmbeddedLog; backend: string; dir: string }): Promise<EmbeddedRunner> {
  return EmbeddedRunner.open({
    topologies: o.topologies,
    config: o.config,
    log: o.log,
    state: o.backend === 'memory' ? { kind: 'memory', maps: new Map() } : { kind: 'rocksdb', dir: join(o.dir, 'state') },
    logger: createLogger({ level: 'error' }),
  })
}

/** Runs `runner` until drained, closes it and removes `dir`; returns the stats. */
export async function drain(runner: EmbeddedRunner, dir: string): Promise<RunStats> {
  const stats = await runner.run()
  await runner.close()
  rmSync(dir, { recursive: true, force: true })
  return stats
}

/** p50, p99 and p99.9 of sampled latencies, in microseconds. */
export function latencyUs(samplesUs: readonly number[]): { p50: number; p99: number; p999: number } {
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: 3 })
  for (const us of samplesUs) hist.recordValue(Math.max(1, Math.round(us * 1000))) // in ns
  return { p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000, p999: hist.getValueAtPercentile(99.9) / 1000 }
}
