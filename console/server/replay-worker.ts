/**
 * The backtest worker: replays run in this worker thread, so the console's API answers while a
 * day of a large world is replayed (a run of an hour's records holds the thread it runs on). It
 * keeps the replayer (its snapshots of the history before windows) and the current runs' cache
 * across requests. Messages: replay-client.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import type { BacktestRequest, FromWorker, ToWorker } from './replay-client.ts'
import { CurrentCache, backtest, currentRun } from './backtest.ts'
import type { History } from './replay-history.ts'
import { Replayer } from './replay.ts'

const { config, logLevel } = workerData as { config: HermesConfig; logLevel: string }
const port = parentPort
if (!port) throw new Error('replay-worker.ts runs in a worker thread (replay-client.ts starts it)')
const logger = createLogger({ level: logLevel }).child({ component: 'backtest' })
const replayer = new Replayer({ config, logger, onProgress: (progress) => post({ op: 'progress', progress }) })
const cache = new CurrentCache()

function post(m: FromWorker): void {
  port?.postMessage(m)
}

/** Records' values arrive as Uint8Array (structured clone): the runtime reads Buffers. */
function buffers(history: History): History {
  return history.map((b) => b.map((r) => ({ ...r, value: r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) })))
}

async function handle(m: BacktestRequest): Promise<unknown> {
  const history = buffers(m.history)
  const opts = { replayer, history, current: m.current, window: m.window, cache, ...(m.warmupMs !== undefined ? { warmupMs: m.warmupMs } : {}) }
  if (m.op === 'warm') return (await currentRun(opts).run, null)
  return backtest({ ...opts, changes: m.changes, eventsTopic: m.eventsTopic, ...(m.recorded ? { recorded: m.recorded } : {}) })
}

port.on('message', (m: ToWorker) => {
  if (m.op === 'close') {
    void replayer.close().then(() => post({ op: 'closed' }))
    return
  }
  handle(m).then(
    (result) => post({ op: 'done', id: m.id, result }),
    (err: unknown) => post({ op: 'failed', id: m.id, message: (err as Error).message ?? String(err) }),
  )
})
