import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AssignerProtocol } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { killChildren, sleep, startChild } from './children.ts'
import { kafkaClient, produceLines, readTopics, runEmbeddedReference, runId, sortedPerKey, testConfig } from './helpers.ts'
import { testEvents, testTopics, testTopology } from './topology.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-kafka-rebalance-'))
afterAll(() => {
  killChildren()
  rmSync(root, { recursive: true, force: true })
})

/** The stable group's members and the partitions of `topic` each holds. */
async function groupMembers(groupId: string, topic: string): Promise<number[][] | null> {
  const admin = kafkaClient('hermes-test-admin').admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([groupId])
    const g = groups[0]
    if (!g || g.state !== 'Stable') return null
    return g.members.map((m) => [...(AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])].sort())
  } finally {
    await admin.disconnect()
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | null>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => null)
    if (v !== null && ok(v)) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`)
    await sleep(300)
  }
}

describe('scale-out and rebalance (real broker, exactly-once)', () => {
  it('splits the partitions between two instances, moves them when one dies and back when it returns, and still outputs everything exactly once', async () => {
    const id = runId()
    const t = testTopics(id)
    const app = `rebal-${id}`
    // Each instance has its own watermark: while one is down, the other runs ahead on its own
    // partitions. A watermark bound of 2 h (of event time) keeps that skew from making records late.
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
    const base = { app, suffix: id, guarantee: 'exactly_once', maxAheadMs: 600_000, maxOutOfOrdernessMs: 7_200_000 }
    const a = startChild({ ...base, stateDir: join(root, 'a') })
    const b = startChild({ ...base, stateDir: join(root, 'b') })

    const split = await waitFor('two members', () => groupMembers(app, t.input), (m) => m.length === 2 && m.every((p) => p.length > 0))
    expect(split.flat().sort()).toEqual([0, 1, 2, 3])
    await sleep(1500)
    a.child.kill('SIGKILL')
    const alone = await waitFor('one member with every partition', () => groupMembers(app, t.input), (m) => m.length === 1)
    expect(alone[0]).toEqual([0, 1, 2, 3])
    await sleep(1500)
    const again = startChild({ ...base, stateDir: join(root, 'a') })
    await waitFor('two members again', () => groupMembers(app, t.input), (m) => m.length === 2 && m.every((p) => p.length > 0))
    await producing

    const windows = (expected.get(t.hourly)?.length ?? 0) + (expected.get(t.types)?.length ?? 0)
    await waitFor('all window results', async () => {
      const got = await readTopics([t.hourly, t.types])
      return (got.get(t.hourly)?.length ?? 0) + (got.get(t.types)?.length ?? 0)
    }, (n) => n >= windows, 60_000)
    again.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    expect(await again.exited).toBe(0)
    expect(await b.exited).toBe(0)

    expect(windows).toBeGreaterThan(100)
    const outputs = [t.hourly, t.types, `${app}.dlq`]
    const got = await readTopics(outputs)
    for (const topic of outputs) {
      expect(sortedPerKey(got.get(topic) ?? []), topic).toEqual(sortedPerKey(expected.get(topic) ?? []))
    }
  }, 150_000)
})
