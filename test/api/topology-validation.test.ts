import { describe, expect, it } from 'vitest'
import { HermesError, TopologyBuilder, TopologyError, broadcastStore, jsonSerde, mapStore, validateGraph, valueStore } from '../../pipeline/api/index.ts'
import type { Processor, ProcessorContext, Serde, StoreSpec, TopologyNode } from '../../pipeline/api/index.ts'
import { TopologyTestDriver } from '../../pipeline/testing/test-driver.ts'

interface Ev {
  k: string
  ts: number
}

const passThrough = (): Processor<Ev, Ev> => {
  let ctx!: ProcessorContext<Ev>
  return {
    init(c) {
      ctx = c
    },
    process(r) {
      ctx.forward(r)
    },
    processBroadcast() {},
  }
}

/** The TopologyError thrown by `fn`, failing the test when none is thrown. */
function topologyError(fn: () => unknown): TopologyError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError)
    expect((err as TopologyError).code).toBe('TOPOLOGY_INVALID')
    return err as TopologyError
  }
  throw new Error('expected a TopologyError, but nothing was thrown')
}

const events = (b: TopologyBuilder) => b.source<Ev>('events', { topic: 'events', serde: jsonSerde(), keyField: 'k', timestampField: 'ts' })

describe('topology validation', () => {
  it('rejects a duplicate node id, naming the id, both node kinds and the fix', () => {
    const b = new TopologyBuilder('dup')
    const s = events(b)
    const e = topologyError(() => s.map('events', (v) => v))
    expect(e.message).toContain('Node id "events" is used twice')
    expect(e.message).toContain('a source and a map')
    expect(e.message).toContain('give each node a unique id')

    const f = topologyError(() => s.process('p', passThrough).filter('p', () => true))
    expect(f.message).toContain('"p"')
    expect(f.message).toContain('a process and a filter')
  })

  it('rejects invalid node ids and topology names, naming them and the allowed characters', () => {
    const b = new TopologyBuilder('ids')
    const s = events(b)
    for (const bad of ['', '-starts-with-dash', 'has space', 'slash/y', 'x'.repeat(101)]) {
      const e = topologyError(() => s.map(bad, (v) => v))
      expect(e.message).toContain(`Node id "${bad}" (map) is invalid`)
      expect(e.message).toContain("use letters, digits, '.', '_' or '-'")
    }
    expect(() => s.map('ok.id_1-x', (v) => v)).not.toThrow()
    expect(topologyError(() => new TopologyBuilder('bad name')).message).toContain('Topology name "bad name" is invalid')
  })

  it('rejects a source or a sink without a serde, naming the node and suggesting jsonSerde()', () => {
    const b = new TopologyBuilder('serde')
    const src = topologyError(() => b.source('in', { topic: 'events' } as { topic: string; serde: Serde<unknown> }))
    expect(src.message).toContain('Source "in" (topic events) has no serde')
    expect(src.message).toContain('pass { serde: jsonSerde() }')

    const s = events(b)
    const sink = topologyError(() => s.to('out', { topic: 'results', serde: { name: 'broken' } as unknown as Serde<Ev> }))
    expect(sink.message).toContain('Sink "out" (topic results) has no serde')
    expect(sink.message).toContain('pass { serde: jsonSerde() }')
  })

  it('rejects a sink or a source with no valid topic, naming the node', () => {
    const b = new TopologyBuilder('topics')
    const s = events(b)
    const sink = topologyError(() => s.to('out', { serde: jsonSerde() } as unknown as { topic: string; serde: Serde<Ev> }))
    expect(sink.message).toContain('Sink "out" needs a valid topic name')
    const bad = topologyError(() => s.to('out2', { topic: 'no spaces allowed', serde: jsonSerde() }))
    expect(bad.message).toContain('Sink "out2" needs a valid topic name')
    const src = topologyError(() => b.source('in', { topic: '', serde: jsonSerde() }))
    expect(src.message).toContain('Source "in" needs a valid topic name')
  })

  it('rejects a window store without retentionMs, naming the node, the store and an example', () => {
    const b = new TopologyBuilder('stores')
    const s = events(b)
    const e = topologyError(() => s.process('counter', passThrough, { stores: { recent: { kind: 'window' } as StoreSpec } }))
    expect(e.message).toContain('Process "counter"')
    expect(e.message).toContain('window store "recent" needs a positive retentionMs')
    expect(e.message).toContain('windowStore({ retentionMs:')

    const zero = topologyError(() => s.process('counter2', passThrough, { stores: { recent: { kind: 'window', retentionMs: 0 } } }))
    expect(zero.message).toContain('window store "recent" needs a positive retentionMs')
  })

  it('rejects other bad store declarations, naming the node and the store', () => {
    const s = events(new TopologyBuilder('stores'))
    expect(topologyError(() => s.process('p1', passThrough, { stores: { x: { kind: 'tree' } as unknown as StoreSpec } })).message).toContain(
      'Process "p1": store "x" has unknown kind "tree"; declare it with valueStore(), mapStore() or windowStore()',
    )
    expect(topologyError(() => s.process('p2', passThrough, { stores: { x: valueStore({ ttlMs: -5 }) } })).message).toContain(
      'Process "p2": store "x" has ttlMs -5',
    )
    expect(topologyError(() => s.process('p3', passThrough, { stores: { 'bad name': mapStore() } })).message).toContain(
      'Process "p3": store name "bad name" is invalid',
    )
  })

  it('rejects broadcast stores on a node that is not connected to a broadcast stream, and says to connect it', () => {
    const b = new TopologyBuilder('bcast')
    const s = events(b)
    const e = topologyError(() => s.process('rules-check', passThrough, { broadcastStores: { rules: broadcastStore() } }))
    expect(e.message).toContain('Process "rules-check" declares broadcast stores but no broadcast input')
    expect(e.message).toContain('use stream.connect(broadcastStream).process("rules-check", ...)')

    const rules = b.broadcast<unknown>('rules', { topic: 'rules', serde: jsonSerde() })
    expect(() => s.connect(rules).process('connected', passThrough, { broadcastStores: { rules: broadcastStore() } })).not.toThrow()
    const same = topologyError(() =>
      s.connect(rules).process('clash', passThrough, { stores: { rules: valueStore() }, broadcastStores: { rules: broadcastStore() } }),
    )
    expect(same.message).toContain('Process "clash": store name "rules" is used for a keyed and a broadcast store; rename one.')
  })

  it('rejects reading an undeclared side output, naming the node, the declared outputs and the fix', () => {
    const b = new TopologyBuilder('sides')
    const processed = events(b).process('enrich', passThrough, { sideOutputs: ['errors'] })
    const e = topologyError(() => processed.sideOutput('late'))
    expect(e.message).toContain('Node "enrich" has no side output "late" (declared: errors)')
    expect(e.message).toContain('declare it with { sideOutputs: ["late"] }')

    const none = topologyError(() => events(new TopologyBuilder('sides2')).process('plain', passThrough).sideOutput('late'))
    expect(none.message).toContain('(declared: none)')
    expect(topologyError(() => events(new TopologyBuilder('s3')).process('m', passThrough, { sideOutputs: ['main'] })).message).toContain(
      'side output name "main" is invalid',
    )
  })

  it('rejects a hand-made graph that reads a side output its upstream does not declare', () => {
    const b = new TopologyBuilder('hand')
    events(b).process('p', passThrough).to('out', { topic: 'out', serde: jsonSerde() })
    const nodes = b.build().nodes
    const sink = nodes.find((n) => n.id === 'out') as TopologyNode
    const rewired = nodes.map((n) => (n === sink ? { ...sink, inputs: [{ node: 'p', output: 'late' }] } : n))
    const e = topologyError(() => validateGraph('hand', rewired))
    expect(e.message).toContain('Node "out" reads side output "late" of "p", which does not declare it')
  })

  it('rejects a topology with no sink and says to add one', () => {
    const b = new TopologyBuilder('nosink')
    events(b).process('p', passThrough)
    const e = topologyError(() => b.build())
    expect(e.message).toContain('Topology "nosink" has no sink')
    expect(e.message).toContain('add .to("id", { topic, serde })')
  })

  it('rejects a topology with no keyed source and says to add one', () => {
    const b = new TopologyBuilder('nokeyed')
    b.broadcast('rules', { topic: 'rules', serde: jsonSerde() })
    const e = topologyError(() => b.build())
    expect(e.message).toContain('Topology "nokeyed" has no keyed source')
    expect(e.message).toContain('add builder.source("id", { topic, serde })')
  })

  it('rejects a sink that writes to a topic the topology reads, naming the sink and the topic', () => {
    const b = new TopologyBuilder('loop')
    const s = events(b)
    b.broadcast('rules', { topic: 'rules', serde: jsonSerde() })
    s.to('back', { topic: 'events', serde: jsonSerde() })
    const e = topologyError(() => b.build())
    expect(e.message).toContain('Sink "back" writes to topic "events", which this topology also reads')
    expect(e.message).toContain('write to another topic')

    const b2 = new TopologyBuilder('loop2')
    b2.broadcast('rules', { topic: 'rules', serde: jsonSerde() })
    events(b2).to('to-rules', { topic: 'rules', serde: jsonSerde() })
    expect(topologyError(() => b2.build()).message).toContain('Sink "to-rules" writes to topic "rules"')
  })

  it('accepts a valid topology and refuses to build or extend it twice', () => {
    const b = new TopologyBuilder('ok')
    const s = events(b)
    s.to('out', { topic: 'out', serde: jsonSerde() })
    const t = b.build()
    expect(t.nodes.map((n) => n.id)).toEqual(['events', 'out'])
    expect(t.node('out').kind).toBe('sink')
    expect(topologyError(() => b.build()).message).toContain('Topology "ok" was already built')
    expect(topologyError(() => s.map('late-add', (v) => v)).message).toContain('Cannot add node "late-add": topology "ok" is already built')
  })
})

describe('store access at runtime', () => {
  function asking(kind: 'value' | 'map' | 'window', name: string) {
    const b = new TopologyBuilder('runtime')
    events(b)
      .process(
        'scorer',
        (): Processor<Ev, Ev> => {
          let ctx!: ProcessorContext<Ev>
          return {
            init(c) {
              ctx = c
            },
            process(r) {
              if (kind === 'value') ctx.valueStore(name).get()
              if (kind === 'map') ctx.mapStore(name).get('x')
              if (kind === 'window') ctx.windowStore(name).sum(0, 1)
              ctx.forward(r)
            },
          }
        },
        { stores: { counts: valueStore(), seen: mapStore() } },
      )
      .to('out', { topic: 'out', serde: jsonSerde() })
    return b.build()
  }

  async function failure(d: TopologyTestDriver): Promise<HermesError> {
    const err = await d.pipe('events', [{ k: 'a', ts: 1 }]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(HermesError)
    return err as HermesError
  }

  it('rejects the run with a HermesError naming the node and its declared stores when a store is undeclared', async () => {
    const d = await TopologyTestDriver.create(asking('value', 'missing'))
    const err = await failure(d)
    expect(err.code).toBe('PROCESS_ERROR')
    expect(err.message).toContain('scorer')
    expect(err.message).toContain('value store "missing"')
    expect(err.message).toContain('counts (value), seen (map)')
    const cause = err.cause as HermesError
    expect(cause).toBeInstanceOf(HermesError)
    expect(cause.code).toBe('STATE_ERROR')
    expect(cause.message).toContain('declare it in process("scorer", factory, { stores: { missing: valueStore() } })')
    expect(d.readValues('out')).toEqual([])
    await d.close()
  })

  it('rejects asking for a declared store as another kind', async () => {
    const d = await TopologyTestDriver.create(asking('window', 'counts'))
    const err = await failure(d)
    expect(err.message).toContain('node scorer asked for window store "counts" but declares counts (value), seen (map)')
    await d.close()
  })

  it('dead-letters the record instead when the process error policy is continue', async () => {
    const d = await TopologyTestDriver.create(asking('map', 'missing'), { errorPolicy: { process: 'continue' } })
    const stats = await d.pipe('events', [{ k: 'a', ts: 1 }])
    expect(stats.deadLetters).toBe(1)
    const [dead] = d.readOutput('runtime.dlq')
    expect(dead?.headers['hermes.dlq.node']).toBe('scorer')
    expect(dead?.headers['hermes.dlq.reason']).toContain('map store "missing"')
    expect(d.readValues('out')).toEqual([])
    await d.close()
  })
})
