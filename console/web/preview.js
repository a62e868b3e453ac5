// Preview before publishing: render a material for a sample user and event, estimate a task's
// audience, and backtest the proposed changes against the current configuration over a window
// of recorded events, side by side; then publish them.
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field, JsonField, useUserIds } from './form.js'
import { Chart, hourLabel } from './chart.js'
import { recordId } from './record-forms.js'

const SAMPLE_EVENT = { eventId: 'preview-1', userId: 'u1', type: 'price_drop', ts: Date.UTC(2026, 10, 2, 12), itemId: 'sku-42', attrs: { dropPct: 25 } }

/** Renders a material (by id or the draft) for a user and an event. */
function RenderPanel({ changes }) {
  const draftMaterial = changes.materials?.[0]
  const [materialId, setMaterialId] = useState(draftMaterial ? '' : 'm1')
  const [userId, setUserId] = useState('u1')
  const [event, setEvent] = useState(SAMPLE_EVENT)
  const [out, setOut] = useState(null)
  const userIds = useUserIds()
  const render = async () => {
    try {
      const body = { userId, event, ...(materialId ? { materialId } : { material: draftMaterial }) }
      setOut(await api('POST', '/api/v1/preview/render', body))
    } catch (err) {
      setOut({ error: messageOf(err) })
    }
  }
  return html`<section class="panel" aria-label="Render a material"><h3>Render a material</h3>
    <${Field} label="Material id" value=${materialId} onChange=${(v) => setMaterialId(v ?? '')} hint=${draftMaterial ? 'empty: the draft material' : 'a published material'} />
    <${Field} label="Sample user id" value=${userId} onChange=${(v) => setUserId(v ?? '')} suggestions=${userIds} />
    <${JsonField} label="Sample event (JSON)" value=${event} onChange=${setEvent} rows="5" />
    <button onClick=${render}>Render</button>
    ${out === null ? null : out.error ? html`<p class="error" role="alert">${out.error}</p>` : html`<div class="push-preview" aria-label="Rendered push">
      <strong>${out.title}</strong><p>${out.body}</p>${out.deeplink ? html`<code>${out.deeplink}</code>` : null}
      ${out.incomplete ? html`<p class="error">Incomplete: ${out.reason ?? `a placeholder has neither a value nor a fallback; this push would be suppressed`}</p>` : null}
      ${out.fallbacks?.length ? html`<p class="muted">Fallbacks used: ${out.fallbacks.join(', ')}</p>` : null}</div>`}
  </section>`
}

/** How many users a task reaches in the current profiles. */
function AudiencePanel({ changes }) {
  const [out, setOut] = useState(null)
  const task = changes.tasks?.[0]
  // No default task id: a name of one world's task is wrong in another's (the sample world's
  // tasks changed once already); without a draft task the field says what to type.
  const [taskId, setTaskId] = useState('')
  const estimate = async () => {
    try {
      let t = task
      if (!taskId && !t) throw new Error('Type the id of a published task (or draft a task to estimate it).')
      if (taskId) t = (await api('GET', `/api/v1/config/tasks/${encodeURIComponent(taskId)}`)).current.record
      setOut(await api('POST', '/api/v1/preview/audience', { task: t }))
    } catch (err) {
      setOut({ error: messageOf(err) })
    }
  }
  return html`<section class="panel" aria-label="Audience size"><h3>Audience size</h3>
    <${Field} label="Task id for the audience" value=${taskId} onChange=${(v) => setTaskId(v ?? '')} hint=${task ? 'empty: the draft task' : 'a published task'} />
    <button onClick=${estimate}>Estimate audience</button>
    ${out === null ? null : out.error ? html`<p class="error" role="alert">${out.error}</p>` : html`<p class="figure" aria-label="Audience estimate"><strong>${out.users.toLocaleString('en-US')}</strong> of ${out.total.toLocaleString('en-US')} users (${out.total ? ((100 * out.users) / out.total).toFixed(1) : 0}%)${out.optedOut ? `, of whom ${out.optedOut.toLocaleString('en-US')} opted out of pushes` : ''}</p>`}
  </section>`
}

const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0)

/** One side's totals. */
function SummaryCard({ title, s }) {
  return html`<div class="summary" aria-label=${`${title} summary`}><h4>${title}</h4>
    <dl><dt>decisions</dt><dd data-testid="decisions">${s.decisions}</dd><dt>suppressions</dt><dd data-testid="suppressions">${sum(s.suppressions)}</dd></dl></div>`
}

/** Current vs proposed: totals, suppressions by reason, by hour, by arm, by task. */
export function BacktestResult({ result }) {
  const { current, proposed } = result
  const reasons = [...new Set([...Object.keys(current.suppressions ?? {}), ...Object.keys(proposed.suppressions ?? {})])].sort()
  const hours = [...new Set([...current.byHour, ...proposed.byHour].map((h) => h.hour))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const at = (list, key, field) => hours.map((h) => list.find((x) => x.hour === h)?.[field] ?? 0)
  const armKey = (a) => `${a.experiment}/${a.arm}`
  const arms = [...new Set([...current.byArm, ...proposed.byArm].map(armKey))].sort()
  const armVal = (list, field) => arms.map((k) => list.find((a) => armKey(a) === k)?.[field] ?? 0)
  const tasks = [...new Set([...current.byTask, ...proposed.byTask].map((t) => t.taskId))].sort()
  const taskRow = (list, id) => list.find((t) => t.taskId === id) ?? { decisions: 0, suppressions: 0 }
  const delta = (a, b) => (b - a === 0 ? '' : b - a > 0 ? `+${b - a}` : String(b - a))
  return html`<section class="backtest-result" aria-label="Backtest result">
    <p class="muted">Window <span aria-label="Window">${new Date(result.window.from).toISOString()} – ${new Date(result.window.to).toISOString()}</span>${result.events !== undefined ? `, ${result.events.toLocaleString('en-US')} events` : ''}${result.warmupEvents ? ` after ${result.warmupEvents.toLocaleString('en-US')} of warm-up` : ''}; ran in <strong aria-label="Elapsed">${(result.elapsedMs / 1000).toFixed(2)} s</strong>${result.currentCached ? ' (the current run reused from an earlier backtest)' : ''}.</p>
    <div class=${result.recorded ? 'side-by-side three' : 'side-by-side'}>
      ${result.recorded ? html`<${SummaryCard} title="Recorded" s=${result.recorded} />` : null}
      <${SummaryCard} title="Current" s=${current} /><${SummaryCard} title="Proposed" s=${proposed} /></div>
    ${result.recorded ? html`<p class="muted">Recorded: what the world decided in the window. Current: the recorded world replayed in memory with the configuration in force, from its start (or the warm-up given), events, clicks and model updates as they came. Proposed: the same with the changes from the window's start.</p>` : null}
    ${result.agreement ? html`<p aria-label="Agreement" class=${result.agreement.same === result.agreement.recorded && result.agreement.current === result.agreement.recorded ? 'ok' : 'muted'}>The current replay made ${result.agreement.same.toLocaleString('en-US')} of the ${result.agreement.recorded.toLocaleString('en-US')} recorded decisions (same ids)${result.agreement.current !== result.agreement.same ? `, and ${(result.agreement.current - result.agreement.same).toLocaleString('en-US')} others` : ''}${result.agreement.same === result.agreement.recorded && result.agreement.current === result.agreement.recorded ? ': the replay is the world, so the difference of the proposal is the change alone' : ' (a configuration changed since the window, or a partial warm-up)'}.</p>` : null}
    <table class="list numbers" aria-label="Suppressions by reason"><thead><tr><th>suppression reason</th><th>current</th><th>proposed</th><th>change</th></tr></thead>
      <tbody>${reasons.map((r) => html`<tr><td>${r}</td><td>${current.suppressions[r] ?? 0}</td><td>${proposed.suppressions[r] ?? 0}</td><td>${delta(current.suppressions[r] ?? 0, proposed.suppressions[r] ?? 0)}</td></tr>`)}</tbody></table>
    <div class="charts">
      <${Chart} label="Decisions by hour" type="line" labels=${hours.map(hourLabel)} datasets=${[{ label: 'current', data: at(current.byHour, 'hour', 'decisions') }, { label: 'proposed', data: at(proposed.byHour, 'hour', 'decisions') }]} />
      <${Chart} label="Suppressions by reason" labels=${reasons} datasets=${[{ label: 'current', data: reasons.map((r) => current.suppressions[r] ?? 0) }, { label: 'proposed', data: reasons.map((r) => proposed.suppressions[r] ?? 0) }]} />
      ${arms.length ? html`<${Chart} label="Decisions by arm" labels=${arms} datasets=${[{ label: 'current', data: armVal(current.byArm, 'decisions') }, { label: 'proposed', data: armVal(proposed.byArm, 'decisions') }]} />` : null}
    </div>
    <table class="list numbers" aria-label="By task"><thead><tr><th>task</th><th>decisions (current)</th><th>decisions (proposed)</th><th>suppressions (current)</th><th>suppressions (proposed)</th></tr></thead>
      <tbody>${tasks.map((id) => html`<tr><td>${id}</td><td>${taskRow(current.byTask, id).decisions}</td><td>${taskRow(proposed.byTask, id).decisions}</td><td>${taskRow(current.byTask, id).suppressions}</td><td>${taskRow(proposed.byTask, id).suppressions}</td></tr>`)}</tbody></table>
    ${proposed.sample?.length ? html`<details><summary>First ${proposed.sample.length} proposed decisions</summary><table class="list"><thead><tr><th>user</th><th>task</th><th>material</th><th>title</th><th>send at</th><th>arm</th></tr></thead>
      <tbody>${proposed.sample.map((d) => html`<tr><td>${d.userId}</td><td>${d.taskId}</td><td>${d.materialId}</td><td>${d.title}</td><td>${new Date(d.sendAt).toISOString()}</td><td>${d.arm ?? ''}</td></tr>`)}</tbody></table></details>` : null}
  </section>`
}

/** `YYYY-MM-DDTHH:mm` (UTC) for a datetime-local input, and back to epoch ms. */
const toInput = (ms) => (ms === undefined || ms === null ? '' : new Date(ms).toISOString().slice(0, 16))
const fromInput = (s) => (s ? Date.parse(`${s}:00Z`) : undefined)

/** The Preview page. `draft` holds the changes brought from the editor ({tasks?, materials?}). */
export function PreviewPage({ session, draft, onPublished }) {
  const readOnly = session.role !== 'editor'
  const [changes, setChanges] = useState(draft ?? {})
  useEffect(() => setChanges(draft ?? {}), [draft])
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [warmupH, setWarmupH] = useState('')
  const [result, setResult] = useState(null)
  const [running, setRunning] = useState(false)
  const [progress, setProgress] = useState(null)
  const [comment, setComment] = useState('')
  // While a backtest runs: what the replay is doing, asked every half second.
  useEffect(() => {
    if (!running) return setProgress(null)
    let live = true
    const poll = async () => {
      try {
        const p = await api('GET', '/api/v1/backtest/progress')
        if (live) setProgress(p)
      } catch {
        // A missed poll only delays the next figure.
      }
    }
    const timer = setInterval(poll, 500)
    poll()
    return () => {
      live = false
      clearInterval(timer)
    }
  }, [running])
  const [notice, setNotice] = useState(null)
  const run = async () => {
    setRunning(true)
    setNotice(null)
    try {
      // Empty: all the recorded history before the window (what reproduces the world).
      const warmupMs = warmupH === '' ? undefined : Math.round(Number(warmupH) * 3_600_000)
      const r = await api('POST', '/api/v1/backtest', { changes, from: fromInput(from), to: fromInput(to), ...(warmupMs !== undefined ? { warmupMs } : {}) })
      setResult(r)
      if (!from) setFrom(toInput(r.window.from))
      if (!to) setTo(toInput(r.window.to))
    } catch (err) {
      setResult(null)
      setNotice({ error: messageOf(err), errors: err.errors })
    } finally {
      setRunning(false)
    }
  }
  const publish = async () => {
    if (!comment.trim()) return setNotice({ error: 'Say why in the comment before you publish.' })
    const done = []
    try {
      for (const kind of ['materials', 'audiences', 'experiments', 'tasks']) {
        for (const record of changes[kind] ?? []) {
          const id = recordId(kind, record)
          const r = await api('PUT', `/api/v1/config/${kind}/${encodeURIComponent(id)}`, { record, comment })
          done.push(`${kind.slice(0, -1)} ${id} v${r.version}`)
        }
      }
      setNotice({ ok: `Published ${done.join(', ')}.` })
      onPublished?.()
    } catch (err) {
      setNotice({ error: `${done.length ? `Published ${done.join(', ')}; then ` : ''}${messageOf(err)}`, errors: err.errors })
    }
  }
  const count = Object.values(changes).reduce((n, l) => n + (l?.length ?? 0), 0)
  return html`<div class="preview">
    <div class="two-col"><${RenderPanel} changes=${changes} /><${AudiencePanel} changes=${changes} /></div>
    <section class="panel" aria-label="Backtest"><h3>Backtest</h3>
      <p class="muted">Replays the recorded world (events, item events, clicks) through the current configuration and through it with these changes, in memory; nothing is published. The history before a window is replayed once and kept; each backtest then replays the window only (the current configuration's run of the last day is prepared when the console starts).</p>
      <${JsonField} label="Proposed changes (JSON)" value=${changes} onChange=${(v) => setChanges(v ?? {})} rows="8" hint='{"tasks": [task records], "materials": [...]}: from "Preview & backtest" in Configure, or typed here' />
      <div class="row">
        <label>From (UTC) <input type="datetime-local" value=${from} onInput=${(e) => setFrom(e.currentTarget.value)} /></label>
        <label>To (UTC) <input type="datetime-local" value=${to} onInput=${(e) => setTo(e.currentTarget.value)} /></label>
        <label>Warm-up (hours) <input type="number" min="0" max="720" step="1" value=${warmupH} placeholder="all" onInput=${(e) => setWarmupH(e.currentTarget.value)} /></label>
        <button class="primary" disabled=${running} onClick=${run}>${running ? 'Running…' : 'Run backtest'}</button>
      </div>
      ${running && progress && progress.phase !== 'idle' ? html`<p class="muted" role="status" aria-label="Backtest progress">Replaying ${progress.phase === 'history' ? 'the history before the window' : 'the window'}: run ${progress.runs + 1} of ${progress.of} <progress max=${progress.of} value=${progress.runs}></progress></p>` : null}
      ${notice ? html`<div class=${notice.error ? 'error' : 'ok'} role=${notice.error ? 'alert' : 'status'}>${notice.error ?? notice.ok}${notice.errors?.length ? html`<ul>${notice.errors.map((e) => html`<li><code>${e.path}</code>: ${e.message}</li>`)}</ul>` : null}</div>` : null}
      ${result ? html`<${BacktestResult} result=${result} />` : null}
      ${readOnly || !count ? null : html`<div class="actions"><${Field} label="Publish comment" value=${comment} onChange=${(v) => setComment(v ?? '')} placeholder="why this change" />
        <button class="primary" onClick=${publish}>Publish ${count} change${count > 1 ? 's' : ''}</button></div>`}
    </section>
  </div>`
}
