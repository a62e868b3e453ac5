import { describe, expect, it } from 'vitest'
import { MAX_RULE_DEPTH, checkRule, evaluateRule } from '../../operators/rules.ts'
import type { Decision, Suppression } from '../../operators/types.ts'
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
    expect(ruleLines().map((l) => [l.level, l.taskId])).toEqual([[40, 't1'], [40, 't2']])
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
  it('dead-letters a behavior event whose attrs nest 10,000 levels deep, with the field named, and keeps deciding', async () => {
    const d = await flow({ settings: open })
    await d.pipe('config.materials', [material('m1')])
    // A held candidate keeps its event in state: a deep event there would break every commit.
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['price_drop'], delayMs: HOUR } })])
    await d.pipe('behavior-events', [`{"eventId":"deep","userId":"u1","type":"price_drop","ts":${T0},"attrs":${deepJson(10_000)}}`], { key: 'u1', timestamp: T0 })
    await d.pipe('behavior-events', [ev('u2', 'price_drop', T0 + 1), ev('u3', 'view', T0 + 2 * HOUR)])
    expect(deadLetters(d).map((x) => [x.phase, x.reason])).toEqual([['deserialize', 'behavior event "attrs.a" must be a string or a number (attrs is a flat map), got an object']])
    expect(decisions(d).map((x) => x.userId)).toEqual(['u2'])
    await d.close()
  })

  it('dead-letters other values the behavior-event contract does not allow: nested or boolean attrs, non-string ids, lone surrogates', async () => {
    const d = await flow()
    await d.pipe('behavior-events', [
      ev('u1', 'view', T0, { attrs: { flag: true } }),
      ev('u1', 'view', T0, { attrs: { list: [1, 2] } }),
      ev('u1', 'view', T0, { attrs: 'dropPct=10' }),
      ev('u1', 'view', T0, { itemId: 42 }),
      ev('u1', 'view', T0, { category: { name: 'shoes' } }),
      ev('u1', 'view', T0, { itemId: null, category: null, attrs: { dropPct: 10, source: 'feed' } }),
      ev('u\ud83d', 'view', T0, { eventId: 'e-lone-1' }),
      ev('u\ude42', 'view', T0, { eventId: 'e-lone-2' }),
      ev('u🙂', 'view', T0, { itemId: 'i\ud83d' }),
      ev('u🙂', 'view', T0, { itemId: 'i🙂' }),
    ])
    expect(deadLetters(d).map((x: DeadLetter) => x.reason)).toEqual([
      'behavior event "attrs.flag" must be a string or a number (attrs is a flat map), got boolean',
      'behavior event "attrs.list" must be a string or a number (attrs is a flat map), got an array',
      'behavior event "attrs" must be an object of strings and numbers, got string',
      'behavior event "itemId" must be a string or null, got number',
      'behavior event "category" must be a string or null, got an object',
      // Both would be the user "u\ufffd" once encoded as UTF-8 (state keys, decision ids).
      'behavior event "userId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
      'behavior event "userId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
      'behavior event "itemId" is not well-formed Unicode (it has a lone surrogate, e.g. half of an emoji)',
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
