// The trigger editor of a task: one form per trigger type (event, item, schedule,
// personalized), and the JsonLogic `when` rule shown as JSON and checked as you type against
// the server's safe evaluator (POST /api/v1/rules/check, debounced).
import { html } from './html.js'
import { useRef, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field, JsonField, errorsAt, getPath, setPath, useDebounced } from './form.js'

/** A new trigger of each type, with the fields its form shows. */
const FRESH = {
  event: { type: 'event', events: [] },
  item: { type: 'item', events: ['price_drop'], relation: { types: ['fav'], withinMs: 7 * 86_400_000 } },
  schedule: { type: 'schedule', cron: '0 9 * * *', timezone: 'UTC' },
  personalized: { type: 'personalized', windowStartHour: 18, windowEndHour: 22 },
}

/** What the rule is checked against: a sample of the data a trigger's rule sees. */
const SAMPLE_DATA = {
  event: { eventId: 'e1', userId: 'u1', type: 'price_drop', ts: Date.UTC(2026, 10, 2, 12), itemId: 'sku-1', category: 'shoes', attrs: { dropPct: 20 } },
  user: { userId: 'u1', timezone: 'UTC', pushEnabled: true, segments: ['vip'] },
}

/** The rule field with its live check. */
function RuleField({ value, onChange, errors, readOnly }) {
  const [data, setData] = useState(SAMPLE_DATA)
  const [check, setCheck] = useState(null)
  // Only the answer to the latest check is shown: an earlier one may arrive after it.
  const latest = useRef(0)
  useDebounced({ value, data }, 300, async ({ value: rule }) => {
    const n = ++latest.current
    if (rule === undefined) return setCheck(null)
    let r
    try {
      r = await api('POST', '/api/v1/rules/check', { rule, data })
    } catch (err) {
      r = { ok: false, error: messageOf(err) }
    }
    if (n === latest.current) setCheck(r)
  })
  return html`<${JsonField} label="Rule (when, JsonLogic)" value=${value} onChange=${onChange} errors=${errors} rows="4"
      hint="Leave empty to fire on every matching event. Checked as you type against the sample data below.">
    <output class=${`rule-check ${check ? (check.ok ? 'ok' : 'bad') : ''}`} aria-label="Rule check" aria-live="polite">
      ${check === null ? '' : check.ok ? html`rule ok: on the sample data it is <code>${JSON.stringify(check.value)}</code>` : html`rule error: ${check.error}`}
    </output>
    ${readOnly ? null : html`<details><summary>Sample data for the check</summary><${JsonField} label="Sample data (JSON)" value=${data} onChange=${(d) => d !== undefined && setData(d)} rows="6" /></details>`}
  <//>`
}

/**
 * Edits `trigger` (the task's trigger object). `errors` are the task's validation errors; each
 * field shows those at its own path under `trigger.`, the type field those no field claims.
 */
export function TriggerEditor({ trigger = { type: 'event', events: [] }, onChange, errors = [], readOnly }) {
  const type = trigger.type ?? 'event'
  const f = (label, path, kind = 'text', extra = {}) =>
    html`<${Field} label=${label} kind=${kind} value=${getPath(trigger, path)} onChange=${(v) => onChange(setPath(trigger, path, v))} errors=${errorsAt(errors, `trigger.${path}`)} ...${extra} />`
  const claimed = {
    event: ['events', 'when', 'delayMs', 'unless.events', 'unless.withinMs'],
    item: ['events', 'when', 'relation.types', 'relation.withinMs', 'delayMs'],
    schedule: ['cron', 'timezone', 'spreadMs'],
    personalized: ['windowStartHour', 'windowEndHour'],
  }[type] ?? []
  const rule = html`<${RuleField} value=${trigger.when} readOnly=${readOnly} onChange=${(v) => onChange(setPath(trigger, 'when', v))} errors=${errorsAt(errors, 'trigger.when')} />`
  return html`<fieldset class="trigger-editor"><legend>Trigger</legend>
    <${Field} label="Trigger type" kind="select" value=${type} options=${['event', 'item', 'schedule', 'personalized']}
      onChange=${(t) => onChange(structuredClone(FRESH[t] ?? { type: t }))}
      errors=${errorsAt(errors, 'trigger', claimed.map((c) => `trigger.${c}`), true)} />
    ${type === 'event' && html`
      ${f('Events', 'events', 'list', { hint: 'event types, comma-separated, e.g. add_to_cart' })}
      ${rule}
      ${f('Delay (ms)', 'delayMs', 'number')}
      ${f('Unless events', 'unless.events', 'list', { hint: 'cancel the push if one of these follows (e.g. purchase)' })}
      ${f('Unless within (ms)', 'unless.withinMs', 'number')}`}
    ${type === 'item' && html`
      ${f('Item events', 'events', 'list', { hint: 'item event types, e.g. price_drop, back_in_stock' })}
      ${f('Relation types', 'relation.types', 'list', { hint: 'users related to the item this way are candidates, e.g. fav, cart' })}
      ${f('Relation within (ms)', 'relation.withinMs', 'number', { hint: 'only relations this recent' })}
      ${rule}`}
    ${type === 'schedule' && html`
      ${f('Cron', 'cron', 'text', { hint: 'five fields, e.g. 0 9 * * * (9:00 every day)' })}
      ${f('Time zone', 'timezone', 'text', { hint: 'IANA name, e.g. Asia/Shanghai' })}
      ${f('Spread (ms)', 'spreadMs', 'number', { hint: 'spread sends over this long after the fire time' })}`}
    ${type === 'personalized' && html`
      ${f('Window start hour', 'windowStartHour', 'number', { hint: "user's local hour, 0-23" })}
      ${f('Window end hour', 'windowEndHour', 'number', { hint: 'after the start, 1-24' })}`}
  </fieldset>`
}
