// A table of records whose exact fields the page does not fix: the preferred columns first,
// then whatever other fields the rows have; times shown as ISO, objects as compact JSON.
import { html } from './html.js'

const TIME_FIELDS = new Set(['ts', 'at', 'due', 'sendAt', 'decidedAt', 'time', 't', 'updatedAt'])

/** One cell's text. */
export function cell(key, v) {
  if (v === null || v === undefined) return ''
  if (TIME_FIELDS.has(key) && typeof v === 'number' && v > 1e11) return new Date(v).toISOString().replace('T', ' ').slice(0, 19)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4)
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** A labelled table of `rows`; `columns` come first, `max` bounds the other columns. */
export function Table({ label, rows, columns = [], max = 10, empty = 'none' }) {
  if (!rows?.length) return html`<p class="muted" aria-label=${label}>${empty}</p>`
  const rest = [...new Set(rows.flatMap((r) => Object.keys(r ?? {})))].filter((k) => !columns.includes(k))
  const cols = [...columns.filter((c) => rows.some((r) => r && c in r)), ...rest].slice(0, Math.max(max, columns.length))
  return html`<table class="list" aria-label=${label}><thead><tr>${cols.map((c) => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${cols.map((c) => html`<td>${cell(c, r?.[c])}</td>`)}</tr>`)}</tbody></table>`
}

/** An object's fields as a two-column table. */
export function KeyValues({ label, value }) {
  const entries = Object.entries(value ?? {})
  if (!entries.length) return html`<p class="muted" aria-label=${label}>none</p>`
  return html`<table class="list kv" aria-label=${label}><tbody>${entries.map(([k, v]) => html`<tr><th>${k}</th><td>${cell(k, v)}</td></tr>`)}</tbody></table>`
}
