/**
 * The backtest of the unchanged configuration over the sample world (as `npm start` simulates it:
 * a day of history, then measured days with clicks and deliveries fed back, item triggers and the
 * click model) gives exactly what the world recorded: the same decisions (ids included) and the
 * same suppressions by reason and by task. Only then does "proposed against current" show the
 * change and nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { simulate } from '../../scripts/simulate.ts'
import { buildConsole } from '../../console/server/app.ts'
import { FileAuditSink } from '../../console/server/audit-file.ts'
import { EmbeddedWorld } from '../../console/server/embedded-world.ts'
import { ConfigStore } from '../../console/server/store.ts'
import { VIEWER, as } from './helpers.ts'
import { WORLD, worldSample } from './browser.ts'

const DAY = 86_400_000
let dir: string
let world: EmbeddedWorld
let app: FastifyInstance

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hermes-console-replay-'))
  const sample = worldSample()
  const config = loadConfig({ overrides: { runtime: { stateDir: join(dir, 'state') }, observability: { http: { enabled: false }, log: { level: 'error' } }, hermes: sample.settings } })
  const logger = createLogger({ level: 'silent' })
  // 120 users, a day of history and two measured days: the backtested last day has a day of pushes, clicks and model updates before it.
  await simulate({ users: 120, days: 2, warmupDays: 1, seed: WORLD.seed, start: WORLD.start, config, sample, logger, outDir: dir })
  world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const sink = new FileAuditSink(join(dir, 'console', 'audit.jsonl'))
  app = await buildConsole({ world, store: new ConfigStore(sink, sink.load()), tokens: [VIEWER], logger, origins: () => [] })
}, 300_000)

afterAll(async () => {
  await app?.close()
  await world?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

interface Body {
  current: { decisions: number; suppressions: { [r: string]: number }; byTask: unknown[]; byArm: unknown[]; byHour: unknown[] }
  recorded: { decisions: number; suppressions: { [r: string]: number }; byTask: unknown[]; byArm: unknown[]; byHour: unknown[] }
  proposed: { decisions: number }
  agreement: { recorded: number; current: number; same: number }
}

const post = async (payload: object): Promise<Body> => {
  const r = await app.inject({ method: 'POST', url: '/api/v1/backtest', headers: as(VIEWER), payload })
  expect(r.statusCode, r.body).toBe(200)
  return r.json() as Body
}

const sameAsRecorded = (b: Body): void => {
  expect(b.recorded.decisions).toBeGreaterThan(20)
  expect(b.agreement).toEqual({ recorded: b.recorded.decisions, current: b.recorded.decisions, same: b.recorded.decisions })
  for (const k of ['decisions', 'suppressions', 'byTask', 'byArm', 'byHour'] as const) expect(b.current[k], k).toEqual(b.recorded[k])
}

describe('console backtest over the recorded sample world', () => {
  it('replays the last day with the unchanged configuration into exactly the recorded decisions and suppressions', async () => {
    const b = await post({})
    sameAsRecorded(b)
    // Nothing proposed: the proposed run is the current one.
    expect(b.proposed.decisions).toBe(b.current.decisions)
  })

  it('reproduces a window in the middle of the recording too (pushes decided in it but sent after it count)', async () => {
    sameAsRecorded(await post({ from: WORLD.start + DAY / 2, to: WORLD.start + DAY + DAY / 4 }))
  })

  it('shows a change against that replay: pausing a task removes its pushes and nothing else', async () => {
    const tasks = world.current('tasks')
    const b = await post({})
    const byTask = b.current.byTask as Array<{ taskId: string; decisions: number }>
    const busiest = [...byTask].sort((x, y) => y.decisions - x.decisions)[0] as { taskId: string; decisions: number }
    const paused = { ...(tasks.get(busiest.taskId) as object), status: 'paused' }
    const p = await post({ changes: { tasks: [paused] } })
    const proposedByTask = (p as unknown as { proposed: { byTask: Array<{ taskId: string; decisions: number }> } }).proposed.byTask
    expect(proposedByTask.find((t) => t.taskId === busiest.taskId)?.decisions ?? 0).toBe(0)
    sameAsRecorded(p)
  })
})
