import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { groupMembers as members, waitFor } from '../../scripts/chaos/group.ts'
import { killChildren, sleep, startChild } from './children.ts'
import { committedOffsets, endOffsets, kafkaClient, produceLines, readTopics, replayable, runEmbeddedReference, runId, sortedPerKey, testConfig, testSeed, untilDone } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-rebalance-'))
// HERMES_TEST_CHILD_LOGS=<dir> keeps every instance's info log there (one file per run and life).
const logDir = process.env.HERMES_TEST_CHILD_LOGS
if (logDir) mkdirSync(logDir, { recursive: true })
afterAll(() => {
  killChildren()
  rmSync(root, { recursive: true, force: true })
})

/** The stable group's members and the partitions of `topic` each holds (null while rebalancing). */
const groupMembers = (groupId: string, topic: string) => members(kafkaClient('hermes-test-admin'), groupId, topic)

describe('scale-out and rebalance (real broker, exactly-once)', () => {
  it.each(['exactly_once', 'exactly_once_v2'] as const)('%s: splits the partitions between two instances, moves them when one dies and back when it returns, and still outputs everything exactly once', async (guarantee) => {
    const seed = testSeed(`rebalance (${guarantee})`)
    await replayable(seed, async () => {
      const id = runId()
      const t = testTopics(id)
      const app = `rebal-${id}`
      // The schedule: which instance dies, how long after the split, and how long the other runs alone.
      const victim = seed.pick(['a', 'b'] as const)
      const beforeKillMs = seed.between(300, 3000)
      const aloneMs = seed.between(300, 3000)
      console.log(`rebalance: kill ${victim} ${beforeKillMs} ms after the split, restart it ${aloneMs} ms after the survivor holds every partition`)
      // Each instance has its own watermark: while one is down, the other runs ahead on its own
      // partitions. A watermark bound of 2 h (of event time) keeps that skew from making records late
      // on a machine that is not overloaded. At load 13 it did not, 1 run in 6
      // (HERMES_TEST_SEED=891689838, v1): the returning instance, restoring, missed a rebalance
      // (4 s timeout), the survivor took every task back for a second and fenced its producers, and
      // by the time the returning instance had restored again the survivor was 2.2 h of event time
      // ahead: the per-type windows of that hour came out short, their records dropped as late in
      // the survivor's tasks (the per-type window has no late output). That is the limit below, not
      // a loss of exactly-once.
      const lines = testEvents({ events: 10_000, users: 60, malformed: 4, spacingMs: 2000 })
      const config = testConfig({ time: { maxOutOfOrdernessMs: 7_200_000 } })
      const expected = await runEmbeddedReference([testTopology(app, t, { running: false })], config, { topic: t.input, lines, keyField: 'userId' })
      const chunk = 400
      await produceLines(t.input, lines.slice(0, chunk), { partitions: 4, keyField: 'userId' })
      const producing = (async () => {
        for (let c = 1; c * chunk < lines.length; c++) {
          await sleep(500)
          await produceLines(t.input, lines.slice(c * chunk, (c + 1) * chunk), { partitions: 4, keyField: 'userId' })
        }
      })()
      const base = { app, suffix: id, guarantee, maxAheadMs: 600_000, maxOutOfOrdernessMs: 7_200_000, ...(logDir ? { logLevel: 'info', diagnose: true } : {}) }
      const log = (name: string) => (logDir ? { logFile: join(logDir, `${seed.seed}-${guarantee}-${name}.log`) } : {})
      const instances = { a: startChild({ ...base, stateDir: join(root, 'a') }, log('a')), b: startChild({ ...base, stateDir: join(root, 'b') }, log('b')) }
      // The waits for the group below are its own (joins, rebalances), so they start once the
      // instances have loaded (which took over 30 s at load 15: seeds 1596870029, 332792225, 2794022788).
      expect(await Promise.all([instances.a.started, instances.b.started])).toEqual([true, true])

      const split = await waitFor('two members', () => groupMembers(app, t.input), (m) => m.length === 2 && m.every((p) => p.length > 0))
      expect(split.flat().sort()).toEqual([0, 1, 2, 3])
      // Both instances commit in the new generation before the kill. A victim killed before its
      // first commit there leaves no open transaction to hold the survivor back, and the survivor,
      // whose event time is its own, runs past the 2 h bound ahead of the victim's partitions
      // while the group notices the death (v1: HERMES_TEST_SEED=3215807483, 1 run in 3). Each
      // instance's watermark being its own is the limit here, for both guarantees, as in Kafka
      // Streams; a bound across instances needs watermarks carried through the repartition topics
      // (docs/performance.md, "Exactly-once v2": what is left).
      const atSplit = await committedOffsets(app, t.input)
      await waitFor('a commit of every partition after the split', async () => {
        const [now, end] = await Promise.all([committedOffsets(app, t.input), endOffsets(t.input)])
        return [0, 1, 2, 3].every((p) => (now.get(p) ?? -1) > (atSplit.get(p) ?? -1) || (now.get(p) ?? -1) >= (end.get(p) ?? 0))
      }, (ok) => ok)
      await sleep(beforeKillMs)
      instances[victim].child.kill('SIGKILL')
      const alone = await waitFor('one member with every partition', () => groupMembers(app, t.input), (m) => m.length === 1)
      expect(alone[0]).toEqual([0, 1, 2, 3])
      await sleep(aloneMs)
      const survivor = instances[victim === 'a' ? 'b' : 'a']
      const again = startChild({ ...base, stateDir: join(root, victim) }, log(`${victim}-again`))
      expect(await again.started).toBe(true)
      await waitFor('two members again', () => groupMembers(app, t.input), (m) => m.length === 2 && m.every((p) => p.length > 0))
      await producing

      // Done when the group has committed the whole input and every window result is out; the
      // wait lasts as long as the instances make progress (commits, results), so a loaded machine
      // is slow, not failed. Stopping them earlier (after the windows alone) lost the dead letter
      // of the input's last line, still unprocessed (HERMES_TEST_SEED=1369673153).
      const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
      const ends = await endOffsets(t.input)
      const inputEnd = [...ends.values()].reduce((a, b) => a + b, 0)
      let complete = true
      await untilDone('the whole input committed and all window results out', async () => {
        const got = await readTopics([t.hourly, t.types])
        const results = (got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0)
        const input = [...(await committedOffsets(app, t.input)).values()].reduce((a, b) => a + Math.max(0, b), 0)
        const repartition = [...(await committedOffsets(app, `${app}-by-type-repartition`)).values()].reduce((a, b) => a + Math.max(0, b), 0)
        return { done: input >= inputEnd && results >= windows, progress: input + repartition + results, detail: `input committed ${input}/${inputEnd}, window results ${results}/${windows}` }
      }).catch((err: unknown) => {
        console.error(String(err))
        complete = false
      })
      again.child.kill('SIGTERM')
      survivor.child.kill('SIGTERM')
      expect(await again.exited).toBe(0)
      expect(await survivor.exited).toBe(0)

      expect(windows).toBeGreaterThan(100)
      // The late output must stay empty as in the crash-free run: a record there arrived behind its
      // instance's watermark, and its window result is missing or short.
      const outputs = [t.hourly, t.types, t.late, `${app}.dlq`]
      const got = await readTopics(outputs)
      const late = got.get(t.late) ?? []
      if (!complete || late.length > 0) {
        const times = late.map((r) => (JSON.parse(r.value) as { ts: number }).ts)
        console.error(`rebalance: ${got.get(t.hourly)?.length ?? 0}/${expected.get(t.hourly)?.length ?? 0} hourly and ${got.get(t.types)?.length ?? 0}/${expected.get(t.types)?.length ?? 0} per-type results; ${late.length} late records (partitions ${[...new Set(late.map((r) => r.partition))].join(',')}; event times ${Math.min(...times)}..${Math.max(...times)})`)
      }
      for (const topic of outputs) {
        expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))
      }
    })
  }, 150_000)
})
