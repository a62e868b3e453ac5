import { describe, expect, it } from 'vitest'
import { canonical, compareRecords, decisionIdentity, differenceCounts, suppressionIdentity, suppressionReasons } from '../../scripts/chaos/compare.ts'
import { phaseConfig } from '../../scripts/chaos/flow-config.ts'
import { verdict } from '../../scripts/chaos/report.ts'
import { faultSchedule } from '../../scripts/chaos/schedule.ts'
import { chaosInput } from '../../scripts/chaos/world.ts'
import { SEED_ENV, replayable, testSeed } from '../kafka/helpers.ts'

const topics = { events: 'e', users: 'u', audiences: 'a', tasks: 't', materials: 'm' }
const d = (id: string, extra: object = {}) => ({ value: JSON.stringify({ decisionId: id, userId: 'u1', taskId: 't', sendAt: 5, ...extra }) })
const s = (reason: string, ts: number, extra: object = {}) => ({ value: JSON.stringify({ userId: 'u1', taskId: 'cart', materialId: null, reason, ts, triggerEventId: 'e1', ...extra }) })

describe('the chaos run comparison', () => {
  it('finds nothing between equal runs, whatever the order of records and of fields', () => {
    const reference = [d('a'), d('b'), { value: '{"sendAt":5,"taskId":"t","userId":"u1","decisionId":"c"}' }]
    const fault = [d('c'), d('b'), d('a')]
    expect(compareRecords(reference, fault, decisionIdentity).differences).toEqual([])
  })

  it('names what the fault run lost, duplicated, changed and added', () => {
    const reference = [d('lost'), d('twice'), d('changed'), d('same')]
    const fault = [d('twice'), d('twice'), d('changed', { sendAt: 9 }), d('same'), d('new')]
    const c = compareRecords(reference, fault, decisionIdentity)
    expect(differenceCounts(c)).toEqual({ lost: 1, duplicated: 1, different: 1, extra: 1 })
    expect(c.differences.map((x) => [x.kind, x.id])).toEqual([
      ['different', 'changed'],
      ['lost', 'lost'],
      ['extra', 'new'],
      ['duplicated', 'twice'],
    ])
    expect(c.differences.find((x) => x.kind === 'different')?.fault).toContain('"sendAt":9')
    expect([c.reference, c.fault]).toEqual([4, 5])
  })

  it('tells suppressions apart by user, task, reason, time and trigger, and compares their material as content', () => {
    const reference = [s('cancelled.unless', 1), s('cancelled.unless', 2), s('fatigue.gap', 3, { materialId: 'm1' })]
    const fault = [s('cancelled.unless', 1), s('fatigue.gap', 3, { materialId: 'm2' })]
    const c = compareRecords(reference, fault, suppressionIdentity)
    expect(c.differences.map((x) => [x.kind, x.id])).toEqual([
      ['lost', 'u1|cart|cancelled.unless|2|e1'],
      ['different', 'u1|cart|fatigue.gap|3|e1'],
    ])
    expect(suppressionReasons(reference)).toEqual({ 'cancelled.unless': 2, 'fatigue.gap': 1 })
  })

  it('reports a record that is not JSON instead of failing', () => {
    expect(canonical('{"b":1,"a":2}')).toBe('{"a":2,"b":1}')
    expect(canonical('not json')).toBe('not json')
    const c = compareRecords([{ value: 'not json' }], [], decisionIdentity)
    expect(c.differences).toEqual([{ kind: 'lost', id: 'unparsable:not json', reference: 'not json' }])
  })

  it('says OK only when nothing differs, and always prints the counts and how to replay', () => {
    const run = { decisions: [d('a')], suppressions: [s('cancelled.unless', 1)], deadLetters: 0 }
    const same = verdict({ seed: 7, replay: '--seed 7', reference: run, fault: run, decisions: compareRecords(run.decisions, run.decisions, decisionIdentity), suppressions: compareRecords(run.suppressions, run.suppressions, suppressionIdentity), notes: [] })
    expect(same.ok).toBe(true)
    expect(same.lines.join('\n')).toMatch(/cancelled\.unless\s+1\s+1/)
    const lost = { ...run, suppressions: [] }
    const other = verdict({ seed: 7, replay: '--seed 7', reference: run, fault: lost, decisions: compareRecords(run.decisions, run.decisions, decisionIdentity), suppressions: compareRecords(run.suppressions, [], suppressionIdentity), notes: ['instance A exited 1'] })
    expect(other.ok).toBe(false)
    expect(other.lines.join('\n')).toContain('suppressions: 1 lost, 0 duplicated, 0 different, 0 extra')
    expect(other.lines.join('\n')).toContain('note: instance A exited 1')
    expect(other.lines[other.lines.length - 1]).toContain('--seed 7')
  })
})

describe('the chaos run schedule and input', () => {
  it('are the same for the same seed and differ for another', () => {
    expect(faultSchedule(42, { kills: 10 })).toEqual(faultSchedule(42, { kills: 10 }))
    expect(faultSchedule(42, { kills: 10 })).not.toEqual(faultSchedule(43, { kills: 10 }))
    const input = (seed: number) => chaosInput({ seed, users: 50, events: 500, topics })
    expect(input(42)).toEqual(input(42))
    expect(input(42).events).not.toEqual(input(43).events)
  })

  it('holds the requested kills, one broker restart and one failover that never comes first', () => {
    for (const seed of [1, 2, 3, 42, 4242]) {
      const steps = faultSchedule(seed, { kills: 10 })
      expect(steps.filter((x) => x.kind === 'kill')).toHaveLength(10)
      expect(steps.filter((x) => x.kind === 'broker-restart')).toHaveLength(1)
      expect(steps.filter((x) => x.kind === 'failover')).toHaveLength(1)
      expect(steps[0]?.kind).not.toBe('failover')
      for (const x of steps) if (x.kind === 'kill') expect(x.lifeMs).toBeGreaterThanOrEqual(1500)
    }
    expect(() => faultSchedule(1, { kills: -1 })).toThrow(/kills/)
  })

  it('with more broker restarts, keeps the schedule of the seed and places the extra restarts among its steps', () => {
    for (const seed of [4, 42]) {
      const one = faultSchedule(seed, { kills: 10 })
      expect(faultSchedule(seed, { kills: 10, brokerRestarts: 1 })).toEqual(one)
      const more = faultSchedule(seed, { kills: 10, brokerRestarts: 5 })
      expect(more.filter((x) => x.kind === 'broker-restart')).toHaveLength(5)
      // The kills and the failover in the same order, and the seed's own restart among the five.
      expect(more.filter((x) => x.kind !== 'broker-restart')).toEqual(one.filter((x) => x.kind !== 'broker-restart'))
      expect(more).toContainEqual(one.find((x) => x.kind === 'broker-restart'))
    }
    expect(() => faultSchedule(1, { kills: 1, brokerRestarts: 0 })).toThrow(/brokerRestarts/)
  })

  it('gives add-to-carts followed by purchases within and after the cart push delay, in time order', () => {
    const { events, config } = chaosInput({ seed: 5, users: 100, events: 3000, topics })
    expect(events.map((e) => e.ts)).toEqual([...events.map((e) => e.ts)].sort((a, b) => a - b))
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length)
    const carts = new Map(events.filter((e) => e.type === 'add_to_cart').map((e) => [e.eventId, e]))
    const gaps = events.filter((e) => e.type === 'purchase').map((p) => p.ts - ([...carts.values()].find((c) => c.userId === p.userId && c.itemId === p.itemId && c.ts < p.ts)?.ts ?? Infinity))
    expect(gaps.filter((g) => g < 30 * 60_000).length).toBeGreaterThan(50)
    expect(gaps.filter((g) => g > 30 * 60_000 && g < Infinity).length).toBeGreaterThan(50)
    expect(config.filter((r) => r.topic === 't').map((r) => r.key)).toContain('cart-abandon')
  })

  it('has a configuration that validates, with exactly-once and its own broker', () => {
    const config = phaseConfig({ phase: 'x', brokers: ['127.0.0.1:29092'], stateDir: '/tmp/x' })
    expect(config.runtime.guarantee).toBe('exactly_once')
    expect(config.runtime.mode).toBe('kafka')
    expect(config.kafka.brokers).toEqual(['127.0.0.1:29092'])
    expect((config.hermes as { topics: { events: string } }).topics.events).toBe('behavior-events-x')
  })
})

describe('seeded Kafka test schedules', () => {
  it('replay the same choices from HERMES_TEST_SEED and refuse a seed that is not one', () => {
    const a = testSeed('', { [SEED_ENV]: '12345' })
    const b = testSeed('', { [SEED_ENV]: '12345' })
    expect(a.seed).toBe(12345)
    expect(a.replay).toBe('HERMES_TEST_SEED=12345')
    const picks = (x: typeof a) => [x.between(300, 3000), x.pick(['a', 'b', 'c']), x.random()]
    expect(picks(a)).toEqual(picks(b))
    const drawn = testSeed('', {})
    expect(Number.isInteger(drawn.seed)).toBe(true)
    expect(() => testSeed('', { [SEED_ENV]: 'abc' })).toThrow(/HERMES_TEST_SEED=abc is not a seed/)
  })

  it('end a failure message with the seed that replays it', async () => {
    const seed = testSeed('', { [SEED_ENV]: '77' })
    await expect(replayable(seed, async () => 'fine')).resolves.toBe('fine')
    await expect(replayable(seed, async () => expect(1).toBe(2))).rejects.toThrow(/expected 1 to be 2[\s\S]*HERMES_TEST_SEED=77/)
    await expect(replayable(seed, () => Promise.reject(new Error('timed out')))).rejects.toThrow(/timed out\n\(replay this schedule: HERMES_TEST_SEED=77\)/)
  })
})
