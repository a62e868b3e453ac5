/**
 * The console's side of the backtest worker (replay-worker.ts): sends backtests to it, keeps the
 * progress it reports, and stops it with the console.
 */
import { Worker } from 'node:worker_threads'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import type { BacktestResult, Changes, RunOutput } from './backtest.ts'
import type { History } from './replay-history.ts'
import type { ReplayProgress, WindowConfig } from './replay.ts'

/** A backtest (or `warm`: the current configuration's run only, cached for the next backtest). */
export interface BacktestRequest {
  op: 'backtest' | 'warm'
  id: number
  history: History
  current: WindowConfig
  changes: Changes
  window: { from: number; to: number }
  warmupMs?: number
  recorded?: RunOutput
  eventsTopic: string
}

/** Messages to the worker. */
export type ToWorker = BacktestRequest | { op: 'close' }

/** Messages from the worker. */
export type FromWorker = { op: 'progress'; progress: ReplayProgress } | { op: 'done'; id: number; result: unknown } | { op: 'failed'; id: number; message: string } | { op: 'closed' }

/** Options of {@link ReplayClient}. */
export interface ReplayClientOptions {
  config: HermesConfig
  logger: HermesLogger
}

/**
 * Runs backtests in a worker thread, one at a time in the order asked. A worker that dies (out of
 * memory on a huge world, a crash) fails the backtests it had; the next backtest starts a new one.
 */
export class ReplayClient {
  private worker: Worker | null = null
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 0
  private closed: Promise<void> | null = null
  /** The last progress the worker reported. */
  progress: ReplayProgress = { phase: 'idle', runs: 0, of: 0 }

  constructor(private readonly o: ReplayClientOptions) {}

  private start(): Worker {
    const level = this.o.logger.level === 'silent' ? 'silent' : 'warn'
    // tsx (the console runs from TypeScript sources) is registered in the worker too, resolved
    // from here so that it does not depend on the working directory.
    const worker = new Worker(new URL('./replay-worker.ts', import.meta.url), { workerData: { config: this.o.config, logLevel: level }, execArgv: ['--import', import.meta.resolve('tsx')] })
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'progress') this.progress = m.progress
      else if (m.op === 'done' || m.op === 'failed') {
        const w = this.waiting.get(m.id)
        this.waiting.delete(m.id)
        if (m.op === 'done') w?.resolve(m.result)
        else w?.reject(new Error(m.message))
      }
    })
    const gone = (why: string): void => {
      if (this.worker !== worker) return
      this.worker = null
      this.progress = { phase: 'idle', runs: 0, of: 0 }
      if (!this.closed) this.o.logger.error({ err: why }, 'the backtest worker stopped; the next backtest starts a new one')
      for (const w of this.waiting.values()) w.reject(new Error(`the backtest worker stopped: ${why}`))
      this.waiting.clear()
    }
    worker.on('error', (err) => gone(err.message))
    worker.on('exit', (code) => gone(`exit code ${code}`))
    // The worker must not keep the process alive on its own.
    worker.unref()
    return worker
  }

  private send(r: Omit<BacktestRequest, 'id'>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the console is closing'))
    const id = this.nextId++
    const worker = (this.worker ??= this.start())
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.postMessage({ ...r, id } satisfies BacktestRequest)
    })
  }

  /** A backtest (backtest.ts), replayed in the worker. */
  backtest(r: Omit<BacktestRequest, 'id' | 'op'>): Promise<BacktestResult & { currentCached: boolean }> {
    return this.send({ ...r, op: 'backtest' }) as Promise<BacktestResult & { currentCached: boolean }>
  }

  /** Replays the current configuration's run over the window now, for a later backtest of it. */
  warm(r: Omit<BacktestRequest, 'id' | 'op' | 'changes' | 'recorded'>): Promise<void> {
    return this.send({ ...r, op: 'warm', changes: {} }) as Promise<void>
  }

  /** Stops the replays (the one running ends after its current run) and the worker. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const worker = this.worker
      if (worker) {
        const done = new Promise<void>((resolve) => {
          worker.on('message', (m: FromWorker) => m.op === 'closed' && resolve())
          worker.once('exit', () => resolve())
        })
        worker.postMessage({ op: 'close' } satisfies ToWorker)
        await done
        await worker.terminate()
      }
      for (const w of this.waiting.values()) w.reject(new Error('the console is closing'))
      this.waiting.clear()
    })()
    return this.closed
  }
}
