/**
 * Trigger conditions are data: JsonLogic rules, checked when a task is loaded and evaluated by
 * json-logic-js with the `method` operation (it would call arbitrary methods) and the `log`
 * operation (console.log) removed and a `var` that reads own properties only, over data made of
 * null-prototype objects, so no rule can reach `constructor`, `__proto__`, an inherited method,
 * `process` or any global. Never `eval`, never `new Function`.
 */
import jsonLogic from 'json-logic-js'
import type { RulesLogic } from 'json-logic-js'

// `method` calls any method of any value it is given, and `log` writes to the process's stdout
// (console.log): neither is for rules written by config authors.
jsonLogic.rm_operation('method')
jsonLogic.rm_operation('log')

/**
 * `var` as json-logic-js defines it, but reading own properties only: nothing inherited
 * (`constructor`, `__proto__`, `Array.prototype.map`, `String.prototype.toString`) is reachable,
 * whatever the data, including the objects `map`/`reduce` build for their scoped rules.
 */
function ownVar(this: unknown, path: unknown, fallback: unknown): unknown {
  const notFound = fallback === undefined ? null : fallback
  if (path === undefined || path === null || path === '') return this
  let data: unknown = this
  for (const part of String(path).split('.')) {
    if (data === null || data === undefined || !Object.hasOwn(Object(data), part)) return notFound
    data = (data as { [k: string]: unknown })[part]
    if (data === undefined) return notFound
  }
  return data
}
jsonLogic.add_operation('var', ownVar)

/** The operations a rule may use (json-logic-js built-ins minus `method` and `log`). */
export const ALLOWED_OPERATIONS = new Set([
  'var', 'missing', 'missing_some', 'if', '?:', '==', '===', '!=', '!==', '!', '!!', 'or', 'and',
  '>', '>=', '<', '<=', 'max', 'min', '+', '-', '*', '/', '%', 'in', 'cat', 'substr', 'merge',
  'map', 'filter', 'reduce', 'all', 'none', 'some',
])

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor'])

/**
 * How deeply objects and arrays may nest in a rule. json-logic-js, this check and the JSON
 * writer of the state all recurse, and a few thousand levels overflow the stack; no rule a person
 * writes comes near this.
 */
export const MAX_RULE_DEPTH = 64

/**
 * Checks a rule's shape: only known operations, `var` paths without prototype segments, at most
 * {@link MAX_RULE_DEPTH} levels of nesting. Returns a reason, or null when the rule is fine.
 */
export function checkRule(rule: unknown, path = 'when', depth = 0): string | null {
  if (rule === null || typeof rule !== 'object') return null
  if (depth >= MAX_RULE_DEPTH) return `${path.length > 80 ? `${path.slice(0, 77)}...` : path}: rule nested deeper than ${MAX_RULE_DEPTH} levels (flatten it, e.g. with "and"/"or" over a list)`
  if (Array.isArray(rule)) {
    for (let i = 0; i < rule.length; i++) {
      const p = checkRule(rule[i], `${path}[${i}]`, depth + 1)
      if (p) return p
    }
    return null
  }
  const keys = Object.keys(rule)
  if (keys.length !== 1) return `${path}: a JsonLogic operation is an object with exactly one operator key, got ${keys.length ? keys.join(', ') : 'none'}`
  const op = keys[0] as string
  if (!ALLOWED_OPERATIONS.has(op)) return `${path}: unknown or forbidden JsonLogic operation "${op}"`
  const args = (rule as { [k: string]: unknown })[op]
  if (op === 'var') {
    const name = Array.isArray(args) ? args[0] : args
    if (name !== undefined && name !== null && typeof name !== 'string' && typeof name !== 'number') return `${path}: var takes a path string`
    if (typeof name === 'string' && name.split('.').some((s) => FORBIDDEN_SEGMENTS.has(s))) return `${path}: var path "${name}" reaches a prototype`
  }
  return checkRule(args, `${path}.${op}`, depth + 1)
}

/** A deep copy of JSON-like data made of null-prototype objects (nothing inherited to reach). */
export function safeData(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(safeData)
  const out = Object.create(null) as { [k: string]: unknown }
  // By own keys, not Object.entries: the same fields in the same order without a [key, value]
  // array per field (run for every event a rule reads; docs/performance.md, "Decision flow
  // embedded, sixth round").
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string
    out[k] = safeData((value as { [k: string]: unknown })[k])
  }
  return out
}

/**
 * Evaluates a checked rule over data; truthiness decides. Never throws: a rule that fails (for
 * example `in` over a missing list, or data too deep to copy) gives `result: false` and the
 * reason in `error`, which the Task Center turns into a `rule_error` suppression.
 */
export function evaluateRule(rule: unknown, data: unknown): { result: boolean; error?: string } {
  if (rule === undefined || rule === null) return { result: true }
  return evaluateOn(rule, ruleData(data))
}

/** Data copied for rules ({@link safeData}), or why it could not be copied. */
export type RuleData = { data: unknown; error?: undefined } | { error: string }

/**
 * {@link safeData} of `data`, for several rules over the same data (the Task Center evaluates
 * every event task's rule over one event): copied once, not once per rule. Rules never change
 * the data they read (no operation writes to it), so they can share the copy.
 */
export function ruleData(data: unknown): RuleData {
  try {
    return { data: safeData(data) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

/** {@link evaluateRule} over data prepared by {@link ruleData}: the same results and errors. */
export function evaluateOn(rule: unknown, prepared: RuleData): { result: boolean; error?: string } {
  if (rule === undefined || rule === null) return { result: true }
  if (prepared.error !== undefined) return { result: false, error: prepared.error }
  try {
    return { result: jsonLogic.truthy(jsonLogic.apply(rule as RulesLogic, (prepared as { data: unknown }).data)) }
  } catch (err) {
    return { result: false, error: (err as Error).message }
  }
}
