/**
 * The backtest worker: backtests run in a worker thread; one that dies fails the backtests it
 * had, with the reason, and the next backtest starts a new worker.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { parseSettings } from '../../operators/settings.ts'
import { ReplayClient } from '../../console/server/replay-client.ts'
import { historyOfSnapshot } from '../../console/server/replay-history.ts'
import { EVENTS, MATERIALS, TASKS, USERS, AUDIENCES, testConfig } from './helpers.ts'

const dir = mkdtempSync(join(tmpdir(), 'hermes-replay-client-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('console backtest worker', () => {
  it('runs a backtest in the worker, fails the one a dying worker had, and starts a new worker for the next', async () => {
    const config = testConfig(join(dir, 'state'))
    const settings = parseSettings(config.hermes)
    const current = {
      tasks: new Map(TASKS.map((t) => [(t as { taskId: string }).taskId, t as unknown])),
      materials: new Map(MATERIALS.map((m) => [(m as { materialId: string }).materialId, m as unknown])),
      audiences: new Map(AUDIENCES.map((a) => [`${(a as { segmentId: string }).segmentId}:${(a as { userId: string }).userId}`, a as unknown])),
    }
    const history = historyOfSnapshot(settings, () => config.topics.defaultPartitions, { tasks: TASKS, materials: MATERIALS, users: USERS, audiences: AUDIENCES, events: EVENTS as Array<{ userId: string; ts: number }> })
    const ts = (EVENTS as Array<{ ts: number }>).map((e) => e.ts)
    const window = { from: Math.min(...ts), to: Math.max(...ts) + 1 }
    const client = new ReplayClient({ config, logger: createLogger({ level: 'silent' }) })
    try {
      const request = { history, current, changes: {}, window, eventsTopic: settings.topics.events }
      const first = await client.backtest(request)
      expect(first.current.decisions).toBeGreaterThan(0)
      // The worker dies while a backtest waits on it.
      const pending = client.backtest(request)
      await (client as unknown as { worker: Worker }).worker.terminate()
      await expect(pending).rejects.toThrow(/backtest worker stopped/)
      const again = await client.backtest(request)
      expect(again.current).toEqual(first.current)
    } finally {
      await client.close()
    }
  })
})
