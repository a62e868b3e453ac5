/**
 * The topology the Kafka integration tests run: two sub-topologies joined by a repartition topic,
 * windows (with timers and a late side output), an order-sensitive running count, and a
 * dead-letter path. Topic and application names carry a suffix so tests do not share state.
 */
import { mulberry32 } from '../../operators/ids.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde, valueStore } from '../../pipeline/api/index.ts'
import type { Aggregator, Processor, ProcessorContext, Record, Topology } from '../../pipeline/api/index.ts'

export interface Event {
  eventId: string
  userId: string
  type: string
  ts: number
}

export interface TestTopics {
  input: string
  hourly: string
  late: string
  types: string
  running: string
}

/** Topic names for one test, unique by `suffix`. */
export function testTopics(suffix: string): TestTopics {
  return { input: `events-${suffix}`, hourly: `hourly-${suffix}`, late: `late-${suffix}`, types: `types-${suffix}`, running: `running-${suffix}` }
}

const count: Aggregator<Event, number> = { init: () => 0, add: (n) => n + 1 }

function check(v: { [k: string]: unknown }): string | null {
  if (typeof v.userId !== 'string' || v.userId === '') return 'event needs a userId'
  if (typeof v.ts !== 'number') return 'event needs ts'
  return null
}

/** Counts events per key and tags each one with the count so far: its output depends on the order. */
function runningCount(): Processor<Event, { eventId: string; n: number }> {
  let ctx!: ProcessorContext<{ eventId: string; n: number }>
  return {
    init(c) {
      ctx = c
    },
    process(r: Record<Event>) {
      const store = ctx.valueStore<number>('n')
      const n = (store.get() ?? 0) + 1
      store.put(n)
      ctx.forward(r.withValue({ eventId: r.value.eventId, n }))
    },
  }
}

/**
 * events (by user) → hourly tumbling count per user (+ late records);
 * events re-keyed by type → 10-minute tumbling count per type, and a running count per type.
 */
export function testTopology(app: string, t: TestTopics, options: { running?: boolean } = {}): Topology {
  const b = new TopologyBuilder(app)
  const events = b.source<Event>('events', { topic: t.input, serde: jsonObjectSerde<Event>(check), keyField: 'userId', timestampField: 'ts' })
  const hourly = events.window('hourly', { window: { type: 'tumbling', sizeMs: 3_600_000 }, graceMs: 60_000, aggregate: count })
  hourly.to('hourly-out', { topic: t.hourly, serde: jsonSerde() })
  hourly.sideOutput('late').to('late-out', { topic: t.late, serde: jsonSerde() })
  const byType = events.keyBy('by-type', (e) => e.type)
  byType.window('per-type', { window: { type: 'tumbling', sizeMs: 600_000 }, graceMs: 60_000, aggregate: count }).to('types-out', { topic: t.types, serde: jsonSerde() })
  if (options.running !== false) byType.process('running', runningCount, { stores: { n: valueStore() } }).to('running-out', { topic: t.running, serde: jsonSerde() })
  return b.build()
}

/**
 * Seeded input: `events` events of `users` users and 6 types, one every `spacingMs` of event time
 * (unique timestamps), in time order except `late` of them that are 3 hours late, plus
 * `malformed` lines that must reach the dead-letter topic.
 */
export function testEvents(options: { events: number; users?: number; seed?: number; spacingMs?: number; late?: number; malformed?: number; start?: number }): string[] {
  const spacing = options.spacingMs ?? 1000
  const rand = mulberry32(options.seed ?? 7)
  const users = options.users ?? 50
  // Recent times, on an hour boundary, ending before now (brokers with time-based retention keep them).
  const start = options.start ?? Math.floor((Date.now() - options.events * spacing) / 3_600_000 - 1) * 3_600_000
  const types = ['view', 'click', 'search', 'cart', 'chat', 'buy']
  const lines: string[] = []
  const lateEvery = options.late ? Math.floor(options.events / options.late) : 0
  const badEvery = options.malformed ? Math.floor(options.events / options.malformed) : 0
  for (let i = 0; i < options.events; i++) {
    // Late events take a timestamp 3 h back, shifted by half a step so they stay unique.
    const late = lateEvery > 0 && i > 0 && i % lateEvery === 0
    const ts = start + i * spacing - (late ? 3 * 3_600_000 - Math.floor(spacing / 2) : 0)
    const e: Event = { eventId: `e${i}`, userId: `u${Math.floor(rand() * users)}`, type: types[Math.floor(rand() * types.length)] as string, ts }
    lines.push(JSON.stringify(e))
    if (badEvery > 0 && i % badEvery === badEvery - 1) lines.push(i % 2 ? `{"eventId":"bad${i}","userId":` : JSON.stringify({ eventId: `bad${i}`, userId: `u${i % users}`, type: 'view' }))
  }
  return lines
}

/** A broadcast rule of {@link gate}. */
export interface Rule {
  type: string
  enabled: boolean
}

/** Passes events whose type a broadcast rule enables. */
export function gate(): Processor<Event, Event> {
  let ctx!: ProcessorContext<Event>
  return {
    init: (c) => void (ctx = c),
    processBroadcast(r: Record<unknown>) {
      const rule = r.value as Rule
      ctx.broadcastStore<boolean>('rules').put(rule.type, rule.enabled)
    },
    process(r: Record<Event>) {
      if (ctx.broadcastStore<boolean>('rules').get(r.value.type)) ctx.forward(r)
    },
  }
}
