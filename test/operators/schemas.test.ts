import { readFileSync } from 'node:fs'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import type { MaterialStats } from '../../operators/config.ts'
import { HOUR, MIN, T0, advanceTo, deadLetters, decisions, ev, eventTask, flow, material, suppressions } from './helpers.ts'

const schema = (name: string): avro.Type => avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../schemas/${name}.avsc`, import.meta.url), 'utf8')) as avro.Schema)
const fieldsOf = (name: string): string[] => (JSON.parse(readFileSync(new URL(`../../schemas/${name}.avsc`, import.meta.url), 'utf8')) as { fields: Array<{ name: string }> }).fields.map((f) => f.name)

/** A value as a consumer of the Avro topic would see it: encoded with the schema, then decoded. */
const viaAvro = (name: string, value: object): object => {
  const t = schema(name)
  return JSON.parse(JSON.stringify(t.fromBuffer(t.toBuffer(value)))) as object
}

describe('schemas: JSON and the Avro form carry the same fields', () => {
  it('accepts a behavior event as JSON with only its required fields', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [{ eventId: 'e1', userId: 'u1', type: 'price_drop', ts: T0 }, ev('u2', 'view', T0 + HOUR)])
    // No itemId: the material's fallback fills the item placeholder.
    expect(decisions(d).map((x) => [x.userId, x.body, x.deeplink])).toEqual([['u1', 'Body of m1 for picks', 'app://item/picks']])
    await d.close()
  })

  it('accepts a behavior event in its Avro form: nulls for absent fields, numbers and strings in attrs', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: { and: [{ '>=': [{ var: 'event.attrs.dropPct' }, 10] }, { '==': [{ var: 'event.attrs.source' }, 'feed'] }] } } })])
    const avroEvent = viaAvro('behavior-event', { eventId: 'e1', userId: 'u1', type: 'price_drop', ts: T0, attrs: { dropPct: 12.5, source: 'feed' } })
    expect(avroEvent).toMatchObject({ itemId: null, category: null })
    await d.pipe('behavior-events', [avroEvent, ev('u2', 'view', T0 + HOUR)])
    expect(decisions(d).map((x) => x.userId)).toEqual(['u1'])
    expect(deadLetters(d)).toEqual([])
    await d.close()
  })

  it('accepts tasks, materials, profiles and memberships in their Avro form (nested objects as JSON text, absent fields null)', async () => {
    const d = await flow()
    const m = viaAvro('material', { materialId: 'm1', title: 'Hello', body: 'Item {{event.itemId}}', segments: ['vip'] })
    expect(m).toMatchObject({ prior: null, deeplink: null })
    const task = viaAvro('task', {
      taskId: 't1',
      priority: 5,
      trigger: JSON.stringify({ type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } }),
      audience: JSON.stringify({ include: ['vip'], exclude: [] }),
      materials: ['m1'],
      experiment: JSON.stringify({ id: 'exp', arms: [{ name: 'only', weight: 1, policy: 'ucb' }] }),
    })
    expect(task).toMatchObject({ fatigue: null, policy: null, quietHours: null, minExpectedCtr: null, rateLimit: null })
    await d.pipe('config.materials', [m])
    await d.pipe('config.tasks', [task])
    await d.pipe('config.users', [viaAvro('user', { userId: 'u1', timezone: 'Europe/Paris' })])
    await d.pipe('config.audiences', [viaAvro('audience', { userId: 'u1', segmentId: 'vip' })])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0, { attrs: { dropPct: 30 } }), ev('u2', 'view', T0 + HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d).map((x) => [x.userId, x.materialId, x.title, x.body, x.deeplink, x.policy, x.arm])).toEqual([['u1', 'm1', 'Hello', 'Item item-1', null, 'ucb', 'only']])
    await d.close()
  })

  it('carries a material\'s fallbacks in the Avro form (a map of strings, null when absent)', async () => {
    const d = await flow()
    const m = viaAvro('material', { materialId: 'm1', title: 'Hello', body: 'Save {{event.attrs.saving}}', fallbacks: { 'event.attrs.saving': 'a lot' } })
    expect(viaAvro('material', { materialId: 'm2', title: 'Hello', body: 'Hi' })).toMatchObject({ fallbacks: null })
    await d.pipe('config.materials', [m])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'view', T0 + HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d).map((x) => x.body)).toEqual(['Save a lot'])
    await d.close()
  })

  it('accepts an item event and an item task in their Avro form', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1', { body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper' })])
    const trigger = { type: 'item', events: ['price_drop'], relation: { types: ['fav'], withinMs: 30 * 24 * HOUR }, when: { '>=': [{ var: 'item.attrs.dropPct' }, 10] }, fanout: { maxUsers: 100, spreadMs: 0 } }
    await d.pipe('config.tasks', [viaAvro('task', { taskId: 't1', trigger: JSON.stringify(trigger), materials: ['m1'] })])
    await d.pipe('behavior-events', [ev('u1', 'favorite', T0, { itemId: 'sku-1' })])
    const item = viaAvro('item-event', { eventId: 'i1', itemId: 'sku-1', type: 'price_drop', ts: T0 + HOUR, attrs: { dropPct: 30 } })
    expect(item).toMatchObject({ category: null })
    await d.pipe('item-events', [item])
    await advanceTo(d, T0 + 2 * HOUR)
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d).map((x) => [x.userId, x.body])).toEqual([['u1', 'sku-1 is 30% cheaper']])
    await d.close()
  })

  it('dead-letters a task whose JSON text fields do not parse, naming the field', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [viaAvro('task', { taskId: 't1', trigger: '{"type": "event", ', materials: ['m1'] })])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(/^invalid task t1: trigger: /)])
    await d.close()
  })

  it('dead-letters a behavior event that lacks a required field, with the reason', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [{ eventId: 'e1', type: 'view', ts: T0 }, { eventId: 'e2', userId: 'u1', type: 'view', ts: 'yesterday' }], { key: 'u1', timestamp: T0 })
    expect(deadLetters(d).map((x) => [x.phase, x.reason])).toEqual([
      ['deserialize', 'behavior event needs a non-empty string "userId"'],
      ['deserialize', 'behavior event needs "ts" as epoch milliseconds'],
    ])
    await d.close()
  })

  it('dead-letters a config record that is not JSON and keeps going', async () => {
    const d = await flow()
    await d.pipe('config.materials', ['{"materialId": "m1", '], { key: 'm1' })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1')])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'view', T0 + HOUR)])
    // Every task reads the broadcast record; only one dead letter is written for it.
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect([dlq[0]?.phase, dlq[0]?.topic, dlq[0]?.key]).toEqual(['deserialize', 'config.materials', 'm1'])
    expect(decisions(d)).toHaveLength(1)
    await d.close()
  })

  it('emits decisions, suppressions and material stats that are valid for their Avro schemas, with exactly their fields', async () => {
    const d = await flow({ stats: true })
    await d.pipe('config.materials', [material('m1'), material('m2', { deeplink: null })])
    await d.pipe('config.tasks', [
      eventTask('t1', { experiment: { id: 'exp', arms: [{ name: 'a', weight: 1, policy: 'thompson' }] } }),
      eventTask('t2', { materials: ['m2'], priority: 1 }),
    ])
    await d.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'price_drop', T0 + MIN)])
    await advanceTo(d, T0 + 10 * MIN, MIN)
    const ds = decisions(d)
    const ss = suppressions(d)
    const st = d.readValues<MaterialStats>('material-stats')
    expect(ds.length).toBeGreaterThan(0)
    expect(ss.length).toBeGreaterThan(0)
    expect(st.length).toBeGreaterThan(0)
    for (const [name, values] of [['decision', ds], ['suppression', ss], ['material-stats', st]] as const) {
      const type = schema(name)
      for (const v of values) {
        expect(type.isValid(v), `${name}: ${JSON.stringify(v)}`).toBe(true)
        // A suppression carries decisionId, experimentId and arm only when its candidate is in an experiment.
        const optional = name === 'suppression' && !('arm' in v) ? ['decisionId', 'experimentId', 'arm'] : []
        expect(Object.keys(v).sort()).toEqual(fieldsOf(name).filter((f) => !optional.includes(f)).sort())
      }
    }
    await d.close()
  })
})
