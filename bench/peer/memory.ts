/**
 * Where the decision flow's memory goes: runs bench/decisions.bench.ts (its own arguments pass
 * through) while sampling `process.memoryUsage()` every 250 ms, prints the breakdown at peak RSS
 * (JS heap, external and array buffers, and the rest: native memory such as RocksDB's) and, with
 * HERMES_HEAP_SNAPSHOT_MIB=N, writes one heap snapshot the first time RSS passes N MiB (read it
 * with bench/peer/heap-summary.ts or Chrome's DevTools).
 *
 *   HERMES_HEAP_SNAPSHOT_MIB=600 npx tsx bench/peer/memory.ts --users 20000
 */
import { writeHeapSnapshot } from 'node:v8'

const MiB = 1048576
const snapshotAt = Number(process.env.HERMES_HEAP_SNAPSHOT_MIB ?? 0) * MiB
let peak = process.memoryUsage()
let snapshot: string | null = null
const sample = (): void => {
  const m = process.memoryUsage()
  if (m.rss > peak.rss) peak = m
  if (snapshotAt > 0 && snapshot === null && m.rss >= snapshotAt) {
    snapshot = writeHeapSnapshot()
    process.stderr.write(`heap snapshot at RSS ${Math.round(m.rss / MiB)} MiB: ${snapshot}\n`)
  }
}
const timer = setInterval(sample, 250)
await import('../decisions.bench.ts')
sample()
clearInterval(timer)
const mib = (n: number): number => Math.round(n / MiB)
process.stdout.write(
  `${JSON.stringify(
    {
      peakRss: {
        rssMiB: mib(peak.rss),
        heapUsedMiB: mib(peak.heapUsed),
        heapTotalMiB: mib(peak.heapTotal),
        externalMiB: mib(peak.external),
        arrayBuffersMiB: mib(peak.arrayBuffers),
        // RSS not in V8's heap nor in its external memory: native code and libraries (RocksDB's
        // memtables and block cache), the binary, stacks, allocator slack.
        otherNativeMiB: mib(peak.rss - peak.heapTotal - peak.external),
      },
      heapSnapshot: snapshot,
    },
    null,
    2,
  )}\n`,
)
