/**
 * Item triggers on Kafka: behavior events build user-item relations (repartitioned by item), item
 * events on their own topic (keyed by item) fan out to the related users (repartitioned by user)
 * and become their candidates; the decisions and suppressions are compared, key by key, with
 * embedded mode over the same input.
 *
 * How the input keeps the comparison exact: the relations are built hours before the item
 * events that use them, and removals (an unfavorite, a purchase) come an hour before the next
 * item event, so no decision depends on how the two input topics interleave within a few
 * seconds; `kafka.maxAheadMs: 0` keeps the partitions in event-time step, as in the decisions
 * test (test/kafka/decisions.kafka.test.ts); no stats or model are published while decisions are
 * made (publish intervals longer than the input). Unique topics and groups per run (runId()).
 */
import { describe, expect, it } from 'vitest'
import type { Topology } from '../../pipeline/api/index.ts'
import { KafkaRunner } from '../../pipeline/kafka/runner.ts'
import { mulberry32 } from '../../operators/ids.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import type { EmbeddedInput } from './helpers.ts'
import { FAST, flowTopics, perKey, produceLines, readTopics, runEmbeddedReference, runId, silent, testConfig } from './helpers.ts'

const PARTITIONS = 3
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const START = Date.UTC(2026, 10, 2)

const jsonl = (xs: readonly object[]): string[] => xs.map((x) => JSON.stringify(x))
const byTime = (xs: Array<{ ts: number }>): Array<{ ts: number }> => [...xs].sort((a, b) => a.ts - b.ts)

/** A small seeded world: 60 users relate to 12 items (favorites, carts, some ended), then the items change. */
function world(seed: number): { events: object[]; itemEvents: object[] } {
  const rand = mulberry32(seed)
  const users = Array.from({ length: 60 }, (_, i) => `user-${String(i).padStart(2, '0')}`)
  const items = Array.from({ length: 12 }, (_, i) => `sku-${i}`)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const events: object[] = []
  let n = 0
  const ev = (userId: string, type: string, ts: number, itemId?: string): void => {
    events.push({ eventId: `e${n++}`, userId, type, ts, ...(itemId ? { itemId } : {}) })
  }
  // Relations in the first two hours; some of them end at hour 5 (before the second round of drops).
  for (const u of users) {
    for (let k = 0; k < 3; k++) {
      const item = pick(items)
      const ts = START + Math.floor(rand() * 2 * HOUR)
      ev(u, rand() < 0.6 ? 'favorite' : 'add_to_cart', ts, item)
      if (rand() < 0.2) ev(u, rand() < 0.5 ? 'unfavorite' : 'purchase', START + 5 * HOUR + Math.floor(rand() * 30 * MIN), item)
    }
    // Activity that moves every user partition's time along.
    for (let h = 0; h < 12; h++) ev(u, 'app_open', START + h * HOUR + Math.floor(rand() * 50 * MIN))
  }
  const itemEvents: object[] = []
  for (const [round, at] of [[1, START + 4 * HOUR], [2, START + 7 * HOUR]] as const) {
    for (const item of items) {
      const ts = at + Math.floor(rand() * 50 * MIN)
      const type = rand() < 0.75 ? 'price_drop' : 'back_in_stock'
      itemEvents.push({ eventId: `${item}-${round}`, itemId: item, type, ts, category: 'c1', attrs: type === 'price_drop' ? { dropPct: 10 + Math.floor(rand() * 40) } : {} })
    }
  }
  return { events: byTime(events as Array<{ ts: number }>), itemEvents: byTime(itemEvents as Array<{ ts: number }>) }
}

describe('item relations on Kafka (real broker)', () => {
  it('fans item events out to the related users with the same decisions and suppressions, key by key, as embedded mode', async () => {
    const id = runId()
    const topics = flowTopics(id)
    const settings = {
      topics,
      applications: { decisions: `push-decisions-${id}`, stats: `material-stats-${id}` },
      stats: { publishIntervalMs: 3 * DAY },
      model: { publishIntervalMs: 3 * DAY },
      // Loose user caps, so that relations, the item trigger's own cap and the fan-out limit decide.
      fatigue: { userMax: 5, userWindowMs: DAY, minGapMs: 0, materialMax: 3 },
    }
    const topologies = (): Topology[] => [pushDecisions({ settings }), materialStats({ settings })]
    const config = testConfig({ runtime: { guarantee: 'exactly_once' }, kafka: { maxAheadMs: 0 }, topics: { defaultPartitions: PARTITIONS } })
    const { events, itemEvents } = world(12)
    const materials = [
      { materialId: 'drop', title: '{{event.attrs.dropPct}}% off', body: '{{event.itemId}} ({{event.category}}) is cheaper', deeplink: 'app://item/{{event.itemId}}' },
      { materialId: 'stock', title: 'Back in stock', body: '{{event.itemId}} is back', deeplink: 'app://item/{{event.itemId}}' },
    ]
    const tasks = [
      // At most 8 users per drop (the others counted, not decided), spread over ten minutes.
      { taskId: 'fav-drop', priority: 10, trigger: { type: 'item', events: ['price_drop'], relation: { types: ['fav', 'cart'], withinMs: 30 * DAY }, when: { '>=': [{ var: 'event.attrs.dropPct' }, 20] }, fanout: { maxUsers: 8, spreadMs: 10 * MIN } }, materials: ['drop'], fatigue: { max: 1, windowMs: DAY } },
      { taskId: 'restock', priority: 5, trigger: { type: 'item', events: ['back_in_stock'], relation: { types: ['fav'] } }, materials: ['stock'] },
    ].map((t) => ({ ...t, ts: START - DAY }))
    const inputs: EmbeddedInput[] = [
      { topic: topics.materials, lines: jsonl(materials), keyField: 'materialId', partitions: 1 },
      { topic: topics.tasks, lines: jsonl(tasks), keyField: 'taskId', partitions: 1 },
      { topic: topics.events, lines: jsonl(events), keyField: 'userId', partitions: PARTITIONS },
      { topic: topics.items, lines: jsonl(itemEvents), keyField: 'itemId', partitions: PARTITIONS },
    ]

    const reference = await runEmbeddedReference(topologies(), config, inputs)
    const want = { decisions: reference.get(topics.decisions) ?? [], suppressions: reference.get(topics.suppressions) ?? [] }
    // The reference has something to compare: pushes from both item tasks to many users, and
    // suppressions (the task's cap, the user caps).
    const sent = want.decisions.map((r) => JSON.parse(r.value) as { userId: string; taskId: string; body: string; triggerEventId: string })
    expect(new Set(sent.map((d) => d.taskId))).toEqual(new Set(['fav-drop', 'restock']))
    expect(new Set(sent.map((d) => d.userId)).size).toBeGreaterThan(15)
    expect(want.suppressions.length).toBeGreaterThan(0)
    for (const r of want.decisions) expect(r.key).toBe((JSON.parse(r.value) as { userId: string }).userId)

    for (const i of inputs) await produceLines(i.topic, i.lines, { partitions: i.partitions ?? PARTITIONS, keyField: i.keyField })
    const runner = await KafkaRunner.open({ topologies: topologies(), config, logger: silent, timings: FAST, state: { kind: 'memory', maps: new Map() } })
    try {
      const run = await runner.run({ stopWhenIdleMs: 300 })
      expect(run.records).toBeGreaterThan(inputs.reduce((n, i) => n + i.lines.length, 0))
    } finally {
      await runner.close()
    }
    const dlqs = [`${settings.applications.decisions}.dlq`, `${settings.applications.stats}.dlq`]
    const got = await readTopics([topics.decisions, topics.suppressions, ...dlqs])
    expect(perKey(got.get(topics.decisions) ?? [])).toEqual(perKey(want.decisions))
    expect(perKey(got.get(topics.suppressions) ?? [])).toEqual(perKey(want.suppressions))
    for (const dlq of dlqs) expect(got.get(dlq) ?? [], dlq).toEqual([])
  })
})
