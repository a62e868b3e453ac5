import { describe, expect, it } from 'vitest'
import { MAX_RULE_DEPTH, checkRule, evaluateRule } from '../../operators/rules.ts'
import type { BehaviorEvent, Decision, Suppression } from '../../operators/types.ts'
import { candidateEvent } from '../../operators/types.ts'
import type { DeadLetter } from './helpers.ts'
import { HOUR, T0, deadLetters, decisions, ev, eventTask, flow, material, reasons, suppressions } from './helpers.ts'
import { openFlow } from './embedded-harness.ts'

/** Settings that let every candidate through the caps, so these tests see the rules alone. */
const open = { fatigue: { userMax: 1000, materialMax: 1000, minGapMs: 0, arbitrationWindowMs: 0, quietStartHour: 0, quietEndHour: 0 } }

/**
 * True for tags "x,y"; without tags json-logic-js throws inside `missing_some` (it reads the
 * length of the null list of names).
 */
const failsWithoutTags = { or: [{ '==': [{ var: 'event.attrs.tags' }, 'x,y'] }, { missing_some: [1, { var: 'event.attrs.tags' }] }] }

/** `{"a":{"a":...1...}}`, `depth` levels deep, as JSON text (JSON.stringify itself would overflow). */
const deepJson = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

describe('a rule that fails on a record', () => {
  it('suppresses the candidate as rule_error, counts it, and logs it once per task with the reason', async () => {
    // One partition, so one task instance: the log is per instance, the suppressions per record.
    const h = await openFlow({ state: { kind: 'memory', maps: new Map() }, settings: open, config: { topics: { defaultPartitions: 1 } } })
    await h.pipe('config.materials', [material('m1')])
    await h.pipe('config.tasks', [
      eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], when: failsWithoutTags } }),
      eventTask('t2', { trigger: { type: 'event', events: ['view'], when: { missing_some: [1, { var: 'event.attrs.other' }] } } }),
    ])
    await h.pipe('behavior-events', [
      ev('u1', 'price_drop', T0),
      ev('u2', 'price_drop', T0 + 1),
      ev('u3', 'price_drop', T0 + 2, { attrs: { tags: 'x,y' } }),
      ev('u4', 'view', T0 + 3),
      ev('u1', 'view', T0 + 4),
      ev('u5', 'price_drop', T0 + 5),
    ])
    const supp = h.values<Suppression>('push-suppressions')
    expect(supp).toEqual([
      { userId: 'u1', taskId: 't1', materialId: null, reason: 'rule_error', ts: T0, triggerEventId: `u1-price_drop-${T0}` },
      { userId: 'u2', taskId: 't1', materialId: null, reason: 'rule_error', ts: T0 + 1, triggerEventId: `u2-price_drop-${T0 + 1}` },
      { userId: 'u4', taskId: 't2', materialId: null, reason: 'rule_error', ts: T0 + 3, triggerEventId: `u4-view-${T0 + 3}` },
      { userId: 'u1', taskId: 't2', materialId: null, reason: 'rule_error', ts: T0 + 4, triggerEventId: `u1-view-${T0 + 4}` },
      { userId: 'u5', taskId: 't1', materialId: null, reason: 'rule_error', ts: T0 + 5, triggerEventId: `u5-price_drop-${T0 + 5}` },
    ])
    expect(h.values<Decision>('push-decisions').map((d) => [d.userId, d.taskId])).toEqual([['u3', 't1']])
    const ruleLines = (): Array<{ [k: string]: unknown }> => h.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('rule_error'))
    // Operator log lines say which node and task (partition) wrote them.
    expect(ruleLines().map((l) => [l.level, l.taskId, l.node, l.task])).toEqual([[40, 't1', 'task-center', '0_0'], [40, 't2', 'task-center', '0_0']])
    expect(ruleLines()[0]?.reason).toBe("Cannot read properties of null (reading 'length')")
    expect(ruleLines()[0]?.msg).toContain('task t1')

    // A new version of the task may fail for a new reason: its first failure is logged again.
    await h.pipe('config.tasks', [eventTask('t1', { priority: 3, trigger: { type: 'event', events: ['price_drop'], when: failsWithoutTags } })])
    await h.pipe('behavior-events', [ev('u6', 'price_drop', T0 + 6), ev('u7', 'price_drop', T0 + 7)])
    expect(ruleLines().map((l) => l.taskId)).toEqual(['t1', 't2', 't1'])
    expect(h.values<Suppression>('push-suppressions').filter((s) => s.reason === 'rule_error')).toHaveLength(7)
    await h.close()
  })

  it('never throws out of the evaluator, even over data nested 10,000 levels deep', () => {
    const deep = JSON.parse(deepJson(10_000)) as unknown
    const r = evaluateRule({ '==': [{ var: 'event.type' }, 'view'] }, { event: { type: 'view', attrs: deep } })
    expect(r.result).toBe(false)
    expect(r.error).toMatch(/call stack/)
  })
})

describe('very deep JSON cannot crash or stall the flow', () => {
  it('turns attrs nested 10,000 levels deep into a rule_error where a rule reads the event, and a push with the flat attrs where none does', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1', { body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper' })])
    await d.pipe('config.tasks', [
      eventTask('t-rule', { trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } } }),
      // A held candidate keeps its event in state until the hold ends: the state is written at
      // every commit, so a deep value there would fail every commit.
      eventTask('t-held', { priority: 1, trigger: { type: 'event', events: ['price_drop'], delayMs: HOUR } }),
    ])
    const deepEvent = `{"eventId":"deep","userId":"u1","type":"price_drop","ts":${T0},"itemId":"sku-1","attrs":{"dropPct":50,"deep":${deepJson(10_000)}},"extra":${deepJson(10_000)}}`
    await d.pipe('behavior-events', [deepEvent], { key: 'u1', timestamp: T0 })
    await d.pipe('behavior-events', [ev('u2', 'price_drop', T0 + 1, { attrs: { dropPct: 20 } }), ev('u3', 'view', T0 + 2 * HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(suppressions(d).map((x) => [x.userId, x.taskId, x.reason])).toEqual([['u1', 't-rule', 'rule_error']])
    expect(decisions(d).map((x) => [x.userId, x.taskId, x.body])).toEqual([
      ['u2', 't-rule', 'item-1 is 20% cheaper'],
      ['u1', 't-held', 'sku-1 is 50% cheaper'],
      ['u2', 't-held', 'item-1 is 20% cheaper'],
    ])
    await d.close()
  })

  it('gives candidates the contract fields of the event only: flat attrs of strings and numbers, string ids', () => {
    const fits: BehaviorEvent = { eventId: 'e1', userId: 'u1', type: 'view', ts: T0, itemId: 'i1', attrs: { a: 'x', n: 1 } }
    expect(candidateEvent(fits)).toBe(fits)
    const sent = JSON.parse(`{"eventId":"e1","userId":"u1","type":"view","ts":${T0},"itemId":42,"category":{"c":1},"attrs":{"a":"x","flag":true,"list":[1],"o":{"p":1},"__proto__":"y"},"extra":{"deep":1}}`) as BehaviorEvent
    const carried = candidateEvent(sent)
    expect(carried).toEqual({ eventId: 'e1', userId: 'u1', type: 'view', ts: T0, itemId: null, category: null, attrs: { a: 'x', ['__proto__']: 'y' } })
    expect(Object.getPrototypeOf(carried.attrs)).toBe(Object.prototype)
    expect(Object.hasOwn(carried.attrs as object, '__proto__')).toBe(true)
  })

  it('dead-letters an event whose ids have a lone surrogate (two such users would share one state), and accepts emoji', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [
      ev('u\ud83d', 'view', T0, { eventId: 'e-lone-1' }),
      ev('u\ude42', 'view', T0, { eventId: 'e-lone-2' }),
      ev('u🙂', 'view', T0, { itemId: 'i\ud83d' }),
      ev('u🙂', 'view', T0, { eventId: 'e\udc00' }),
      ev('u🙂', 'view', T0, { itemId: 'i🙂', attrs: { nested: { ok: true } } }),
    ])
    expect(deadLetters(d).map((x: DeadLetter) => x.reason)).toEqual([
      'behavior event "userId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
      'behavior event "userId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
      'behavior event "itemId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
      'behavior event "eventId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
    ])
    await d.close()
  })

  it(`refuses a task whose rule nests deeper than ${MAX_RULE_DEPTH} levels when it is loaded, and keeps going`, async () => {
    let deepRule: unknown = { var: 'event.type' }
    for (let i = 0; i < 10_000; i++) deepRule = { '!': deepRule }
    expect(checkRule(deepRule)).toMatch(new RegExp(`rule nested deeper than ${MAX_RULE_DEPTH} levels`))
    let fine: unknown = { var: 'event.type' }
    for (let i = 0; i < 20; i++) fine = { '!!': [fine] }
    expect(checkRule(fine)).toBeNull()

    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [`{"taskId":"deep","materials":["m1"],"trigger":{"type":"event","events":["view"],"when":${'{"!":'.repeat(10_000)}true${'}'.repeat(10_000)}}}`], { key: 'deep', timestamp: 0 })
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['view'], when: fine } })])
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'chat', T0 + HOUR)])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([expect.stringMatching(new RegExp(`^invalid task deep: trigger\\.when: malformed JsonLogic: .*rule nested deeper than ${MAX_RULE_DEPTH} levels`))])
    expect(decisions(d).map((x) => [x.userId, x.taskId])).toEqual([['u1', 't1']])
    expect(reasons(suppressions(d))).toEqual([])
    await d.close()
  })
})
