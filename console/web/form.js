// Form fields bound to a path of a record, and the mapping of the API's validation errors
// ({path, message}) to the field that holds that path, so an error shows where it is fixed.
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api } from './api.js'

/** The normalized form of an error path: dots between segments, whatever the server sent. */
export const normPath = (p) => String(p ?? '').replace(/^[/.]+/, '').replace(/\//g, '.')

/** The value at a dotted path, or undefined. */
export function getPath(obj, path) {
  let cur = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined
    cur = cur[part]
  }
  return cur
}

/** A copy of obj with the value at a dotted path set (undefined removes it; empty parents go too). */
export function setPath(obj, path, value) {
  const [head, ...rest] = path.split('.')
  const copy = { ...(obj && typeof obj === 'object' ? obj : {}) }
  const next = rest.length ? setPath(copy[head], rest.join('.'), value) : value
  if (next === undefined || (rest.length && Object.keys(next).length === 0)) delete copy[head]
  else copy[head] = next
  return copy
}

/**
 * The errors a field shows: those at its path or below it ('' is the whole record). With `rest`,
 * those no field in `claimed` shows, so that no error is ever hidden.
 */
export function errorsAt(errors, path, claimed = [], rest = false) {
  const under = (p, q) => q === '' || p === q || p.startsWith(`${q}.`)
  return errors.filter((e) => {
    const p = normPath(e.path)
    return under(p, path) && !(rest && claimed.some((c) => under(p, c)))
  })
}

let seq = 0
const useId = (prefix) => useState(() => `${prefix}-${++seq}`)[0]

/** The error text under a field, announced to screen readers. */
function FieldErrors({ id, errors }) {
  if (!errors.length) return null
  return html`<ul class="field-error" id=${id} role="alert">${errors.map((e) => html`<li>${normPath(e.path) ? html`<code>${normPath(e.path)}</code>: ` : ''}${e.message}</li>`)}</ul>`
}

/**
 * One labelled input. kind: text | number | list (comma-separated) | select | textarea.
 * The label wraps the input so that the label text finds the input (tests and screen readers).
 */
export function Field({ label, kind = 'text', value, onChange, errors = [], options, hint, placeholder, suggestions }) {
  const id = useId('err')
  const listId = useId('list')
  const shown = kind === 'list' ? (Array.isArray(value) ? value.join(', ') : value ?? '') : value ?? ''
  const parse = (raw) => {
    if (kind === 'number') return raw === '' ? undefined : Number(raw)
    if (kind === 'list') return raw.trim() === '' ? undefined : raw.split(',').map((s) => s.trim()).filter(Boolean)
    return raw === '' ? undefined : raw
  }
  const common = { 'aria-invalid': errors.length ? 'true' : undefined, 'aria-describedby': errors.length ? id : undefined, placeholder, list: suggestions?.length ? listId : undefined }
  const onInput = (e) => onChange(parse(e.currentTarget.value))
  let input
  if (kind === 'select') input = html`<select ...${common} value=${shown} onChange=${onInput}>${options.map((o) => html`<option value=${o}>${o || '(default)'}</option>`)}</select>`
  else if (kind === 'textarea') input = html`<textarea ...${common} rows="3" value=${shown} onInput=${onInput}></textarea>`
  else input = html`<input ...${common} type=${kind === 'number' ? 'number' : 'text'} step="any" value=${shown} onInput=${onInput} />`
  return html`<div class=${`field${errors.length ? ' invalid' : ''}`}>
    <label>${label} ${input}</label>
    ${suggestions?.length ? html`<datalist id=${listId}>${suggestions.map((v) => html`<option value=${v} />`)}</datalist>` : null}
    ${hint ? html`<small class="hint">${hint}</small>` : null}
    <${FieldErrors} id=${id} errors=${errors} />
  </div>`
}

let knownUsers = null
/**
 * Some user ids of the world (GET /api/v1/users, fetched once per page load), offered as
 * suggestions wherever a user id is typed.
 */
export function useUserIds() {
  const [ids, setIds] = useState(Array.isArray(knownUsers) ? knownUsers : [])
  useEffect(() => {
    if (Array.isArray(knownUsers)) return
    knownUsers ??= api('GET', '/api/v1/users?limit=50').then(
      (users) => (knownUsers = users.map((u) => u.userId)),
      () => (knownUsers = []),
    )
    knownUsers.then(() => setIds(knownUsers))
  }, [])
  return ids
}

/**
 * A JSON value edited as text. The text is kept as typed while it does not parse (with the
 * parse error shown), and the value changes only when it does.
 */
export function JsonField({ label, value, onChange, errors = [], rows = 4, hint, children }) {
  const id = useId('err')
  const pretty = (v) => (v === undefined ? '' : JSON.stringify(v, null, 2))
  const [text, setText] = useState(pretty(value))
  const [parseError, setParseError] = useState(null)
  // A value changed from outside (another field, a loaded version) replaces the text.
  useEffect(() => {
    let same = false
    try {
      same = text.trim() === '' ? value === undefined : JSON.stringify(JSON.parse(text)) === JSON.stringify(value)
    } catch {}
    if (!same && !parseError) setText(pretty(value))
  }, [JSON.stringify(value)])
  const onInput = (e) => {
    const t = e.currentTarget.value
    setText(t)
    if (t.trim() === '') {
      setParseError(null)
      return onChange(undefined)
    }
    try {
      const v = JSON.parse(t)
      setParseError(null)
      onChange(v)
    } catch (err) {
      setParseError(`not JSON yet: ${err.message}`)
    }
  }
  const all = parseError ? [{ path: '', message: parseError }, ...errors] : errors
  return html`<div class=${`field${all.length ? ' invalid' : ''}`}>
    <label>${label} <textarea class="json" spellcheck="false" rows=${Math.min(Math.max(Number(rows), text.split('\n').length), 16)} aria-invalid=${all.length ? 'true' : undefined} aria-describedby=${all.length ? id : undefined} value=${text} onInput=${onInput}></textarea></label>
    ${hint ? html`<small class="hint">${hint}</small>` : null}
    <${FieldErrors} id=${id} errors=${all} />
    ${children}
  </div>`
}

/** Runs `fn` once `value` has stopped changing for `ms` milliseconds (typing). */
export function useDebounced(value, ms, fn) {
  useEffect(() => {
    const t = setTimeout(() => fn(value), ms)
    return () => clearTimeout(t)
  }, [JSON.stringify(value)])
}
