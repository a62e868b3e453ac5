// Simulate: send one behavior event for a user (POST /api/v1/events) and see the decisions and
// suppressions it caused.
import { html } from './html.js'
import { useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field, JsonField, useUserIds } from './form.js'
import { Table } from './table.js'

/** `YYYY-MM-DDTHH:mm` (UTC) to epoch ms; empty: none (the server picks the time). */
const fromInput = (s) => (s ? Date.parse(`${s}:00Z`) : undefined)

/** The Simulate page; `onExplain(userId)` opens Explain for the user. */
export function SimulatePage({ session, onExplain }) {
  const readOnly = session.role !== 'editor'
  const [ev, setEv] = useState({ userId: 'u1', type: 'view', itemId: 'sku-42', attrs: { dropPct: 30 } })
  const [at, setAt] = useState('')
  const userIds = useUserIds()
  const [out, setOut] = useState(null)
  const [busy, setBusy] = useState(false)
  const set = (k) => (v) => setEv({ ...ev, [k]: v })
  const send = async (e) => {
    e.preventDefault()
    setBusy(true)
    try {
      const event = { ...ev, ...(at ? { ts: fromInput(at) } : {}) }
      const r = await api('POST', '/api/v1/events', { event })
      setOut({ ...r, event: r.event ?? event })
    } catch (err) {
      setOut({ error: messageOf(err), errors: err.errors })
    } finally {
      setBusy(false)
    }
  }
  return html`<div class="simulate">
    <form onSubmit=${send}><fieldset disabled=${readOnly}><legend>Behavior event</legend>
      <div class="grid">
        <${Field} label="Event user id" value=${ev.userId} onChange=${set('userId')} suggestions=${userIds} />
        <${Field} label="Event type" value=${ev.type} onChange=${set('type')} hint="a behavior event, e.g. view, add_to_cart, app_open (item events such as price_drop go on item-events)" />
        <${Field} label="Item id" value=${ev.itemId} onChange=${set('itemId')} />
        <${Field} label="Category" value=${ev.category} onChange=${set('category')} />
        <div class="field"><label>Event time (UTC) <input type="datetime-local" value=${at} onInput=${(e) => setAt(e.currentTarget.value)} /></label>
          <small class="hint">empty: just after the newest recorded event (embedded), now (Kafka)</small></div>
      </div>
      <${JsonField} label="Attributes (JSON)" value=${ev.attrs} onChange=${set('attrs')} rows="3" />
      ${readOnly ? html`<p class="muted">Read-only: your role is viewer.</p>` : html`<button class="primary" type="submit" disabled=${busy}>Send event</button>`}
    </fieldset></form>
    ${out === null ? null : out.error ? html`<div class="error" role="alert">${out.error}${out.errors?.length ? html`<ul>${out.errors.map((e) => html`<li><code>${e.path}</code>: ${e.message}</li>`)}</ul>` : null}</div>` : html`<section aria-label="Simulation result">
      <p class="ok" role="status">Event ${out.event.eventId ?? ''} accepted: ${out.decisions?.length ?? 0} decision(s), ${out.suppressions?.length ?? 0} suppression(s).
        <button class="link" onClick=${() => onExplain(out.event.userId)}>Explain ${out.event.userId}</button></p>
      <h3>Decisions</h3><${Table} label="Simulated decisions" rows=${out.decisions} columns=${['userId', 'taskId', 'materialId', 'title', 'body', 'sendAt', 'score', 'arm']} empty="no decision" />
      <h3>Suppressions</h3><${Table} label="Simulated suppressions" rows=${out.suppressions} columns=${['userId', 'taskId', 'reason', 'materialId', 'ts']} empty="no suppression" />
    </section>`}
  </div>`
}
