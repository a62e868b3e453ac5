/**
 * A million users of decision-flow state: how much memory holding it takes, and how fast a new
 * instance restores it. Figures only: nothing here asserts a speed or a size.
 *
 *   npx tsx bench/state-scale.bench.ts [--users 1000000] [--partitions 4] [--batch 10000]
 *
 * Build: the keyed state of the push-decisions tasks that hold users (task-center,
 * matching-center and fatigue stores, as the topology declares them), written through the
 * engine's own state layer (TaskState's write-back cache over RocksDB, the TimerQueue) in
 * commits of `--batch` users, one task per partition. Per user, as the flow leaves it after a
 * week of activity: a profile with two segments and an activity histogram, 8 behavior events in
 * the 7-day window, a personalized plan and its pending timer, decision ids born and decided,
 * and 2 pushes in each of the three push histories. No Kafka and no operator code run: the
 * values have the shapes the operators store (operators/task-center.ts, fatigue.ts).
 *
 * Restore: a new instance per task rebuilds that state from a compacted changelog's content
 * (every latest key and value, read back from the built state in key order) into an empty
 * RocksDB in batches, as the Kafka restore writes its batches, then opens it (TaskState.open,
 * TimerQueue.load and the first timer window). Records/s = records written / (restore + open
 * time). What it does not include: fetching and decoding the changelog from a broker. Reading the
 * source back (the changelog's stand-in) is in that time; `restoreWriteRecordsPerSecond` counts
 * only the target's batch writes.
 *
 * Peak RSS is sampled every 50 ms over the whole process (build and restore), with its breakdown
 * at the sample of the peak: V8 heap (total and used), external (Buffers), RocksDB's own estimate
 * of its memtables, table readers and block caches over the open instances, and the rest (malloc
 * arenas' free space, code, thread stacks). Run with `MALLOC_ARENA_MAX=2` in the environment to
 * see what glibc's per-thread arenas cost (bin/hermes.js sets it for `hermes`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { RocksDbBackend } from '../pipeline/state/backend.ts'
import { TaskState } from '../pipeline/state/task-state.ts'
import { TimerQueue } from '../pipeline/runtime/timers.ts'
import { userStateWriter, userStores } from './decision-state.ts'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '4' },
    batch: { type: 'string', default: '10000' },
  },
})
const USERS = Number(args.users)
const PARTITIONS = Number(args.partitions)
const BATCH = Number(args.batch)
const stores = userStores()

const dir = mkdtempSync(join(tmpdir(), 'hermes-state-scale-'))
const MiB = 1048576
const open = new Set<RocksDbBackend>()

/** Opens a backend that the memory sampler counts while it is open. */
async function openDb(path: string): Promise<RocksDbBackend> {
  const db = await RocksDbBackend.open(path)
  open.add(db)
  return db
}
async function closeDb(db: RocksDbBackend): Promise<void> {
  open.delete(db)
  await db.close()
}

type Breakdown = { rssMiB: number; heapTotalMiB: number; heapUsedMiB: number; externalMiB: number; rocksMemtablesMiB: number; rocksTableReadersMiB: number; rocksBlockCacheMiB: number; otherNativeMiB: number }
function sample(): Breakdown {
  const m = process.memoryUsage()
  let memtables = 0
  let tableReaders = 0
  let blockCache = 0
  for (const db of open) {
    const u = db.memoryUsage()
    memtables += u.memtables
    tableReaders += u.tableReaders
    blockCache += u.blockCache
  }
  const r = (n: number): number => Math.round(n / MiB)
  return {
    rssMiB: r(m.rss),
    heapTotalMiB: r(m.heapTotal),
    heapUsedMiB: r(m.heapUsed),
    externalMiB: r(m.external),
    rocksMemtablesMiB: r(memtables),
    rocksTableReadersMiB: r(tableReaders),
    rocksBlockCacheMiB: r(blockCache),
    otherNativeMiB: r(m.rss - m.heapTotal - m.external - memtables - tableReaders - blockCache),
  }
}

/** Samples every 50 ms; returns the breakdown at the highest RSS seen. */
function trackPeak(): () => Breakdown {
  let peak = sample()
  const timer = setInterval(() => {
    const s = sample()
    if (s.rssMiB > peak.rssMiB) peak = s
  }, 50)
  return () => {
    clearInterval(timer)
    const s = sample()
    return s.rssMiB > peak.rssMiB ? s : peak
  }
}
const peakRss = trackPeak()
/** Writes one user's state into a task, as the decision flow would have left it (bench/decision-state.ts). */
const writeUser = userStateWriter(11)

const buildStart = performance.now()
let written = 0
for (let p = 0; p < PARTITIONS; p++) {
  const backend = await openDb(join(dir, 'built', String(p)))
  const state = new TaskState(backend, stores, [], 200_000)
  await state.open()
  const timers = new TimerQueue()
  await timers.load(backend, { unwritten: () => state.pendingRawOps() })
  for (let u = p; u < USERS; u += PARTITIONS) {
    writeUser(state, timers, `u${u}`)
    if (++written % BATCH === 0) {
      state.addRawOps(timers.drainChanges())
      await state.flush()
    }
  }
  state.addRawOps(timers.drainChanges())
  await state.flush()
  open.delete(backend)
  await state.close()
}
const buildSeconds = (performance.now() - buildStart) / 1000
const buildPeak = peakRss()
const restorePeak = trackPeak()

// Restore: every latest key and value of the built state (a compacted changelog's content).
const RESTORE_BATCH = 10_000
let records = 0
let timersInMemory = 0
/** Time in the restore's writes: the part of a restore the state layer owns (not the changelog's fetch and decode). */
let writeMs = 0
const restoreStart = performance.now()
for (let p = 0; p < PARTITIONS; p++) {
  const source = await openDb(join(dir, 'built', String(p)))
  const target = await openDb(join(dir, 'restored', String(p)))
  // Read in pages, as a restore consumer fetches batches; each page is one write batch.
  for (let from = ''; ; ) {
    const page = source.rangeSync('', from, RESTORE_BATCH)
    const w = performance.now()
    await target.write(page)
    writeMs += performance.now() - w
    records += page.length
    if (page.length < RESTORE_BATCH) break
    from = `${(page[page.length - 1] as [string, Buffer])[0]}\u0000`
  }
  await closeDb(source)
  // The new instance opens on the restored state, as a task does.
  const state = new TaskState(target, stores, [], 200_000)
  await state.open()
  const timers = new TimerQueue()
  await timers.load(target, { unwritten: () => state.pendingRawOps() })
  timers.nextTime('event')
  timersInMemory += timers.inMemory()
  open.delete(target)
  await state.close()
}
const restoreSeconds = (performance.now() - restoreStart) / 1000
const restorePeakMiB = restorePeak()
rmSync(dir, { recursive: true, force: true })
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'decision-flow state: build, then restore on a new instance (RocksDB, no broker)',
      users: USERS,
      partitions: PARTITIONS,
      keyedStores: stores.size,
      buildSeconds: +buildSeconds.toFixed(1),
      peakRssBuildMiB: buildPeak.rssMiB,
      restoredRecords: records,
      restoreSeconds: +restoreSeconds.toFixed(1),
      restoreRecordsPerSecond: Math.round(records / restoreSeconds),
      restoreWriteSeconds: +(writeMs / 1000).toFixed(1),
      restoreWriteRecordsPerSecond: Math.round(records / (writeMs / 1000)),
      timersInMemoryAfterOpen: timersInMemory,
      peakRssRestoreMiB: restorePeakMiB.rssMiB,
      peakRssMiB: Math.max(buildPeak.rssMiB, restorePeakMiB.rssMiB),
      atBuildPeak: buildPeak,
      atRestorePeak: restorePeakMiB,
      mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
      node: process.version,
    },
    null,
    2,
  )}\n`,
)
