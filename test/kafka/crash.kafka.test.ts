import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { killChildren, sleep, startChild } from './children.ts'
import { produceLines, readTopics, replayable, runEmbeddedReference, runId, sortedPerKey, testConfig, testSeed } from './helpers.ts'
import type { TestSeed } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-crash-'))
afterAll(() => {
  killChildren()
  rmSync(root, { recursive: true, force: true })
})

async function crashRun(guarantee: 'exactly_once' | 'exactly_once_v2' | 'at_least_once', kills: number): Promise<void> {
  const seed = testSeed(`crash (${guarantee})`)
  await replayable(seed, () => crashRunWith(seed, guarantee, kills))
}

async function crashRunWith(seed: TestSeed, guarantee: 'exactly_once' | 'exactly_once_v2' | 'at_least_once', kills: number): Promise<void> {
  const id = runId()
  const t = testTopics(id)
  const app = `crash-${id}`
  const lines = testEvents({ events: 6000, users: 60, late: 10, malformed: 5, spacingMs: 500 })
  // The input arrives in chunks while instances die; a watermark bound wider than a chunk keeps
  // lateness independent of which partition's chunk is fetched first.
  const config = testConfig({ time: { maxOutOfOrdernessMs: 600_000 } })
  const expected = await runEmbeddedReference([testTopology(app, t, { running: false })], config, { topic: t.input, lines, keyField: 'userId' })
  // Each life ends after a seeded number of records processed in it (reported about once a
  // second), so kills land mid-processing however slow the machine; a life that makes no progress
  // once running (input used up, or nothing left after the lives before it) is killed after a
  // seeded wait instead (longer than the report interval, which stretches on a loaded machine).
  const schedule = Array.from({ length: kills }, () => ({ records: seed.between(200, 1500), idleMs: seed.between(3000, 6000) }))
  const pauses = Array.from({ length: 24 }, () => seed.between(200, 900))
  const producing = (async () => {
    for (const [c, pause] of pauses.entries()) {
      await produceLines(t.input, lines.slice(Math.floor((c * lines.length) / pauses.length), Math.floor(((c + 1) * lines.length) / pauses.length)), { partitions: 4, keyField: 'userId' })
      await sleep(pause)
    }
  })()
  const base = { app, suffix: id, guarantee, stateDir: join(root, app), maxAheadMs: 600_000, maxOutOfOrdernessMs: 600_000 }
  for (const [i, life] of schedule.entries()) {
    const run = startChild(base)
    let seen = -1
    let movedAt = Date.now()
    while (run.progress() < life.records && run.child.exitCode === null) {
      if (run.reported()) {
        if (run.progress() !== seen) {
          seen = run.progress()
          movedAt = Date.now()
        } else if (Date.now() - movedAt > life.idleMs) break
      }
      await sleep(100)
    }
    run.child.kill('SIGKILL')
    await run.exited
    console.log(`${guarantee}: kill ${i + 1} at ${run.progress()} records processed in that life (target ${life.records})`)
  }
  await producing
  const last = startChild({ ...base, stopWhenIdleMs: 500 })
  expect(await last.exited).toBe(0)

  const outputs = [t.hourly, t.late, t.types, `${app}.dlq`]
  const got = await readTopics(outputs)
  for (const topic of outputs) {
    const want = sortedPerKey(expected.get(topic) ?? [])
    const have = sortedPerKey(got.get(topic) ?? [])
    if (guarantee !== 'at_least_once') {
      expect(have, topic).toEqual(want)
    } else if (topic === t.hourly || topic === t.types) {
      // At-least-once: after a crash some records may count twice, never zero times: each window
      // is there with at least its crash-free count.
      const best = new Map<string, number>()
      for (const [, values] of have) {
        for (const v of values) {
          const w = JSON.parse(v) as { key: string; start: number; count: number }
          best.set(`${w.key}@${w.start}`, Math.max(best.get(`${w.key}@${w.start}`) ?? 0, w.count))
        }
      }
      for (const [, values] of want) {
        for (const v of values) {
          const w = JSON.parse(v) as { key: string; start: number; count: number }
          expect(best.get(`${w.key}@${w.start}`) ?? 0, `${topic} ${w.key}@${w.start}`).toBeGreaterThanOrEqual(w.count)
        }
      }
    } else {
      // At-least-once: every expected record is there; repeats are allowed.
      const seen = new Map(have)
      for (const [key, values] of want) for (const v of values) expect(seen.get(key) ?? [], `${topic} ${key}`).toContain(v)
    }
  }
}

describe('crashes (real broker, SIGKILL)', () => {
  it.each(['exactly_once', 'exactly_once_v2'] as const)('%s: after 6 kills at random moments, the read_committed output equals a crash-free run (nothing missing, nothing twice)', async (guarantee) => {
    await crashRun(guarantee, 6)
  }, 150_000)

  it('at-least-once: after 5 kills at random moments, nothing is missing', async () => {
    await crashRun('at_least_once', 5)
  }, 150_000)
})
