/**
 * Material templates: `{{event.itemId}}`-style placeholders in a material's title, body and
 * deeplink, filled from the candidate. A placeholder is filled from its value, else from the
 * material's `fallbacks` (placeholder path → literal text); with neither, the template does not
 * render at all, so no push ever goes out as " is 40% cheaper today" or "app://item/".
 */
import { closest, distance } from 'fastest-levenshtein'
import type { BehaviorEvent, UserContext } from './types.ts'

/** What placeholders are filled from. */
export interface TemplateData {
  event: BehaviorEvent | null
  user: UserContext
  task: { taskId: string }
}

/** A rendered template, or the first placeholder that has neither a value nor a fallback. */
export type Rendered = { ok: true; text: string } | { ok: false; missing: string }

/** `{{ path }}`: letters, digits, `_` and dots, spaces allowed inside the braces. */
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g

/**
 * The placeholder paths that can ever have a value: the behavior event's fields (its `attrs` by
 * name), the user's id and time zone, the task's id. `user.segments` is a list and
 * `user.pushEnabled` a flag: neither is text for a push.
 */
export const PLACEHOLDER_PATHS: readonly string[] = [
  'event.eventId', 'event.userId', 'event.type', 'event.ts', 'event.itemId', 'event.category', 'event.attrs.<name>',
  'user.userId', 'user.timezone',
  'task.taskId',
]
const FIXED_PATHS = new Set(PLACEHOLDER_PATHS.filter((p) => !p.endsWith('<name>')))

/** The placeholder paths a template uses, in order of appearance. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string)
}

/**
 * Why a placeholder path can never have a value (a typo such as `event.itemid`), with the
 * nearest valid path; null when the path is valid.
 */
export function checkPlaceholder(path: string): string | null {
  if (FIXED_PATHS.has(path)) return null
  const parts = path.split('.')
  if (parts.length === 3 && parts[0] === 'event' && parts[1] === 'attrs' && parts[2] !== '') return null
  const candidates = [...FIXED_PATHS, ...(parts[0] === 'event' && parts[1] !== undefined && parts[1].toLowerCase() === 'attrs' ? [`event.attrs.${parts.slice(2).join('.')}`] : [])]
  const near = closest(path, candidates)
  const hint = distance(path.toLowerCase(), near.toLowerCase()) <= Math.max(2, Math.floor(path.length / 3)) ? `did you mean {{${near}}}?` : `use one of ${PLACEHOLDER_PATHS.map((p) => `{{${p}}}`).join(', ')}`
  return `unknown placeholder {{${path}}}: it never has a value (${hint})`
}

/**
 * Checks a material's title, body and deeplink when it is loaded: every placeholder must be a
 * path that can have a value. Returns the first bad field and why, or null. (The `fallbacks`
 * keys are checked by {@link checkFallbacks}, on the field itself.)
 */
export function checkTemplates(m: { title: string; body: string; deeplink: string | null }): { field: 'title' | 'body' | 'deeplink'; problem: string } | null {
  const fields = [['title', m.title], ['body', m.body], ['deeplink', m.deeplink]] as const
  for (const [field, template] of fields) {
    for (const path of template === null ? [] : placeholders(template)) {
      const problem = checkPlaceholder(path)
      if (problem) return { field, problem }
    }
  }
  return null
}

/** Checks the keys of a material's `fallbacks` map; returns one line naming the bad key, or null. */
export function checkFallbacks(fallbacks: { [path: string]: string } | undefined): string | null {
  for (const path of Object.keys(fallbacks ?? {})) {
    const problem = checkPlaceholder(path)
    if (problem) return `key "${path}": ${problem}`
  }
  return null
}

/**
 * The text of one placeholder, or undefined when it has no usable value: absent, null, empty,
 * or not a scalar (an object or a list is refused rather than rendered as "[object Object]").
 * Own properties only, so `{{constructor}}` reaches nothing.
 */
export function placeholderValue(path: string, data: TemplateData): string | undefined {
  let cur: unknown = data
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined
    cur = (cur as { [k: string]: unknown })[part]
  }
  if (typeof cur === 'string') return cur === '' ? undefined : cur
  if (typeof cur === 'number') return Number.isFinite(cur) ? String(cur) : undefined
  return undefined
}

/**
 * Fills a template's placeholders from the data, else from `fallbacks` (literal text, never
 * itself a template). The first placeholder with neither makes the whole template incomplete.
 */
export function renderTemplate(template: string, data: TemplateData, fallbacks?: { readonly [path: string]: string }): Rendered {
  let missing: string | undefined
  const text = template.replace(PLACEHOLDER, (whole, path: string) => {
    if (missing !== undefined) return whole
    const value = placeholderValue(path, data) ?? (fallbacks !== undefined && Object.hasOwn(fallbacks, path) ? fallbacks[path] : undefined)
    if (value === undefined) missing = path
    return value ?? whole
  })
  return missing === undefined ? { ok: true, text } : { ok: false, missing }
}
