import { afterEach, describe, expect, it, vi } from 'vitest'
import { checkRule, evaluateOn, evaluateRule, ruleData } from '../../operators/rules.ts'
import { HOUR, T0, deadLetters, decisions, ev, eventTask, flow, material, member } from './helpers.ts'

/** Rules that try to reach code, prototypes or globals, and must be rejected when a task is loaded. */
const rejected: Array<[string, unknown]> = [
  ['var constructor', { var: 'constructor' }],
  ['var event.constructor.constructor', { var: 'event.constructor.constructor' }],
  ['var __proto__', { var: '__proto__' }],
  ['var [prototype] (array form)', { '==': [{ var: ['prototype'] }, 1] }],
  ['var through __proto__ into attrs', { var: 'event.attrs.__proto__.polluted' }],
  ['method call', { method: [{ var: 'event.type' }, 'toUpperCase'] }],
  ['method reaching the Function constructor', { method: [{ method: ['', 'constructor'] }, 'constructor', ['return process']] }],
  ['log (console.log)', { log: 'hello from a rule' }],
  ['a dotted operation path', { 'Math.max': [1, 2] }],
  ['an inherited operation name', { toString: [] }],
  ['a computed var path', { var: { cat: ['constr', 'uctor'] } }],
  ['a computed var path inside an array', { '!!': { var: [{ if: [true, 'constructor'] }] } }],
  ['a __proto__ operator key', JSON.parse('{"__proto__": [1]}') as unknown],
  ['constructor inside a map over the user\'s segments', { map: [{ var: 'user.segments' }, { var: 'constructor' }] }],
]

/** Rules that pass the check but must evaluate to a harmless falsy value. */
const harmless: Array<[string, unknown]> = [
  ['var process', { var: 'process' }],
  ['var process.env', { var: 'process.env' }],
  ['var process.mainModule', { var: 'process.mainModule' }],
  ['var globalThis', { var: 'globalThis' }],
  ['var global', { var: 'global' }],
  ['var require', { var: 'require' }],
  ['var Function', { var: 'Function' }],
  ['an inherited array method', { var: 'user.segments.map' }],
  ['an inherited string method', { var: 'event.type.toString' }],
  ['an inherited method of an object built by reduce', { reduce: [[1], { var: 'current.toString' }, 0] }],
  ['an inherited method of an item in map', { some: [{ var: 'user.segments' }, { var: 'toString' }] }],
  ['hasOwnProperty of the data', { var: 'hasOwnProperty' }],
]

interface Snapshot {
  [what: string]: string[]
}

function snapshot(): Snapshot {
  return {
    object: Object.getOwnPropertyNames(Object.prototype).sort(),
    array: Object.getOwnPropertyNames(Array.prototype).sort(),
    string: Object.getOwnPropertyNames(String.prototype).sort(),
    function: Object.getOwnPropertyNames(Function.prototype).sort(),
    global: Object.getOwnPropertyNames(globalThis).sort(),
    env: Object.entries(process.env).map(([k, v]) => `${k}=${v}`).sort(),
  }
}

const data = { event: { eventId: 'e1', userId: 'u1', type: 'view', ts: T0, attrs: { dropPct: 12 } }, user: { userId: 'u1', timezone: 'UTC', segments: ['vip'] }, counts: { view: { '1h': 1, '24h': 1, '7d': 1 } } }

afterEach(() => {
  vi.restoreAllMocks()
})

describe('JsonLogic rules cannot reach code or globals', () => {
  it.each(rejected)('rejects a rule using %s when the task is loaded', async (_what, rule) => {
    expect(checkRule(rule)).toMatch(/^when/)
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['view'], when: rule } })])
    const dlq = deadLetters(d)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]?.reason).toMatch(/^invalid task t1: trigger\.when: malformed JsonLogic: /)
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'chat', T0 + HOUR)])
    expect(decisions(d)).toEqual([])
    await d.close()
  })

  it.each(harmless)('accepts a rule using %s and evaluates it to a falsy value', async (_what, rule) => {
    expect(checkRule(rule)).toBeNull()
    expect(evaluateRule(rule, data).result).toBe(false)
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['view'], when: rule } })])
    await d.pipe('config.audiences', [member('u1', 'vip')])
    await d.pipe('behavior-events', [ev('u1', 'view', T0), ev('u2', 'chat', T0 + HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d)).toEqual([])
    await d.close()
  })

  it('still reads own data: event fields, segments, string length and array items', () => {
    expect(evaluateRule({ and: [{ '==': [{ var: 'event.type.length' }, 4] }, { '==': [{ var: 'user.segments.0' }, 'vip'] }, { in: ['vip', { var: 'user.segments' }] }, { '>': [{ var: 'event.attrs.dropPct' }, 10] }] }, data).result).toBe(true)
    expect(evaluateRule({ reduce: [[1, 2, 3], { '+': [{ var: 'current' }, { var: 'accumulator' }] }, 0] }, data).result).toBe(true)
    expect(evaluateRule({ '==': [{ var: ['event.attrs.missing', 'fallback'] }, 'fallback'] }, data).result).toBe(true)
  })

  it('evaluates several rules over one copy of the data as over a copy each, and leaves the copy as it was', () => {
    const rules = [
      { '==': [{ var: 'user.segments.0' }, 'vip'] },
      { merge: [{ var: 'user.segments' }, ['x']] },
      { filter: [{ var: 'user.segments' }, { '==': [{ var: '' }, 'vip'] }] },
      { reduce: [{ var: 'user.segments' }, { cat: [{ var: 'accumulator' }, { var: 'current' }] }, ''] },
      { in: ['vip', { var: 'nothing.here' }] },
      { '>': [{ var: 'event.attrs.dropPct' }, 10] },
    ]
    const shared = ruleData(data)
    const before = JSON.stringify(shared)
    for (const rule of rules) expect(evaluateOn(rule, shared)).toEqual(evaluateRule(rule, data))
    expect(JSON.stringify(shared)).toBe(before)
    // Data that cannot be copied fails every rule with the reason evaluateRule gives.
    let deep: unknown = 1
    for (let i = 0; i < 20_000; i++) deep = [deep]
    const failed = ruleData({ deep })
    expect(failed.error).toBeTypeOf('string')
    expect(evaluateOn(rules[0], failed)).toEqual(evaluateRule(rules[0], { deep }))
    expect(evaluateOn(null, failed)).toEqual({ result: true })
  })

  it('touches nothing global, whatever the rule, even when the evaluator is handed a rule the checker would reject', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    const before = snapshot()
    const hostileData = { ...data, event: { ...data.event, attrs: JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}') as object } }
    // Handed to the evaluator directly, a rejected rule fails (removed operations throw, counted as
    // false) or reads only the data it was given; either way nothing outside the data changes.
    for (const [, rule] of rejected) evaluateRule(rule, hostileData)
    for (const [, rule] of harmless) expect(evaluateRule(rule, hostileData).result).toBe(false)
    for (const op of ['method', 'log']) expect(evaluateRule({ [op]: ['x', 'toString'] }, hostileData)).toEqual({ result: false, error: `Unrecognized operation ${op}` })
    expect(evaluateRule({ '==': [{ var: 'event.attrs.polluted' }, 'yes'] }, hostileData).result).toBe(false)
    expect(snapshot()).toEqual(before)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(log).not.toHaveBeenCalled()
  })

  it('keeps an event whose attrs carry a "__proto__" key as plain data through the flow', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1')])
    await d.pipe('config.tasks', [eventTask('t1', { trigger: { type: 'event', events: ['view'], when: { '==': [{ var: 'event.attrs.polluted' }, 'yes'] } } })])
    await d.pipe('behavior-events', [`{"eventId":"e1","userId":"u1","type":"view","ts":${T0},"attrs":{"__proto__":{"polluted":"yes"}}}`], { key: 'u1', timestamp: T0 })
    await d.pipe('behavior-events', [ev('u2', 'chat', T0 + HOUR)])
    expect(deadLetters(d)).toEqual([])
    expect(decisions(d)).toEqual([])
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    await d.close()
  })
})

describe('the data a rule reads', () => {
  it('is a copy of every own field, in order, nested, into objects without a prototype, a "__proto__" field kept as a field', () => {
    const event = JSON.parse('{"type":"view","attrs":{"b":2,"__proto__":{"polluted":"yes"},"a":[1,{"x":null}]},"ts":5}') as { [k: string]: unknown }
    const copied = ruleData({ event, user: { segments: ['vip'] } })
    if (!('data' in copied)) throw new Error(`not copied: ${copied.error}`)
    const data = copied.data as { event: { [k: string]: unknown }; user: { segments: string[] } }
    expect(Object.getPrototypeOf(data)).toBeNull()
    expect(Object.getPrototypeOf(data.event)).toBeNull()
    const attrs = data.event.attrs as { [k: string]: unknown }
    expect(Object.getPrototypeOf(attrs)).toBeNull()
    expect(Object.keys(data.event)).toEqual(['type', 'attrs', 'ts'])
    expect(Object.keys(attrs)).toEqual(['b', '__proto__', 'a'])
    expect(Object.hasOwn(attrs, '__proto__')).toBe(true)
    expect(JSON.stringify(data)).toBe(JSON.stringify({ event, user: { segments: ['vip'] } }))
    // A copy, not the event itself: what a rule does to it never reaches the event.
    expect(data.event).not.toBe(event)
    expect(attrs.a).not.toBe((event.attrs as { a: unknown }).a)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })
})
