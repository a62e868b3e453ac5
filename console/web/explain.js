// Explain a user: profile and segments, recent events and rolling counts, pending candidates
// and timers, decisions and suppressions with their reasons; with "why not?" on, a trace of
// each task's steps (audience, rule, ...) with the values that decided them.
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field, useUserIds } from './form.js'
import { KeyValues, Table } from './table.js'

/** Counts may come as a map or as a list of rows. */
const CountsView = ({ counts }) => (Array.isArray(counts) ? html`<${Table} label="Counts" rows=${counts} />` : html`<${KeyValues} label="Counts" value=${counts} />`)

/**
 * The trace: one row per task and step, failed steps marked. Most events are of a type a task
 * does not listen to; those rows (step "listens" failed) answer no "why not?" and are hidden
 * unless asked for.
 */
function Traces({ traces }) {
  const [all, setAll] = useState(false)
  if (!traces?.length) return html`<p class="muted" aria-label="Why-not trace">No trace steps: no task came near this user in the recorded events.</p>`
  const noise = (t) => t.step === 'listens' && !t.passed
  const shown = all ? traces : traces.filter((t) => !noise(t))
  const hidden = traces.length - shown.length
  return html`<label class="check"><input type="checkbox" checked=${all} onChange=${(e) => setAll(e.currentTarget.checked)} /> Show every step (${hidden || 'no'} step${hidden === 1 ? '' : 's'} of events a task does not listen to hidden)</label>
    <table class="list trace" aria-label="Why-not trace"><thead><tr><th>task</th><th>step</th><th>result</th><th>event</th><th>values</th></tr></thead>
    <tbody>${shown.map((t) => html`<tr class=${t.passed ? 'pass' : 'fail'}><td>${t.taskId}</td><td>${t.step}</td><td>${t.passed ? 'passed' : 'failed'}</td><td>${t.eventId ?? '(no event)'}</td>
      <td><code>${JSON.stringify(t.values ?? t.detail ?? null)}</code>${t.reason ? html` — ${t.reason}` : null}</td></tr>`)}</tbody></table>`
}

/** The Explain page; `userId` preselects a user (from Simulate). */
export function ExplainPage({ userId: initial }) {
  const [userId, setUserId] = useState(initial ?? '')
  const [trace, setTrace] = useState(false)
  const [out, setOut] = useState(null)
  const [busy, setBusy] = useState(false)
  const userIds = useUserIds()
  const explain = async (id = userId, withTrace = trace) => {
    if (!id) return
    setBusy(true)
    try {
      setOut(await api('GET', `/api/v1/users/${encodeURIComponent(id)}/explain${withTrace ? '?trace=1' : ''}`))
    } catch (err) {
      setOut({ error: messageOf(err) })
    } finally {
      setBusy(false)
    }
  }
  useEffect(() => {
    if (initial) explain(initial, trace)
  }, [initial])
  return html`<div class="explain">
    <form class="row" onSubmit=${(e) => { e.preventDefault(); explain() }}>
      <${Field} label="User id" value=${userId} onChange=${(v) => setUserId(v ?? '')} placeholder="u1" suggestions=${userIds} />
      <label class="check"><input type="checkbox" checked=${trace} onChange=${(e) => { setTrace(e.currentTarget.checked); if (out && !out.error) explain(userId, e.currentTarget.checked) }} /> Why not? (trace)</label>
      <button class="primary" type="submit" disabled=${busy}>Explain user</button>
    </form>
    ${out === null ? null : out.error ? html`<p class="error" role="alert">${out.error}</p>` : html`<div class="explain-result" aria-label=${`Explanation of ${out.userId}`}>
      <h2>User ${out.userId}</h2>
      <div class="two-col">
        <section><h3>Profile</h3><${KeyValues} label="Profile" value=${out.profile} />
          <h3>Segments</h3><p aria-label="Segments">${out.segments?.length ? out.segments.map((s) => html`<span class="chip">${s}</span>`) : html`<span class="muted">none</span>`}</p></section>
        <section><h3>Rolling counts</h3><${CountsView} counts=${out.counts} /></section>
      </div>
      <h3>Decisions</h3><${Table} label="Decisions" rows=${out.decisions} columns=${['sendAt', 'taskId', 'materialId', 'title', 'score', 'policy', 'experimentId', 'arm', 'triggerEventId']} empty="no decisions" />
      <h3>Suppressions</h3><${Table} label="Suppressions" rows=${out.suppressions} columns=${['ts', 'taskId', 'reason', 'materialId', 'score', 'values', 'triggerEventId']} empty="no suppressions" />
      <h3>Pending candidates</h3><${Table} label="Pending" rows=${out.pending} columns=${['taskId', 'due', 'origin', 'sendAt']} empty="nothing pending" />
      <h3>Timers</h3><${Table} label="Timers" rows=${out.timers} columns=${['name', 'time', 'due']} empty="no timers" />
      <h3>Recent events</h3><${Table} label="Recent events" rows=${out.recentEvents} columns=${['ts', 'type', 'itemId', 'category', 'attrs', 'eventId']} empty="no events" />
      ${trace ? html`<h3>Why not? Trace</h3><${Traces} traces=${out.traces} />` : null}
    </div>`}
  </div>`
}
