// Configure: the lists of tasks, materials, audiences and experiments, and the editor of one
// record: validated by the server's ingest code as you save (errors at their fields), saved
// with a comment as a new version, paused, resumed, deleted, compared and rolled back.
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field } from './form.js'
import { ID_PATH, NEW_RECORD, PAUSABLE, RecordForm, recordId } from './record-forms.js'

export const KINDS = ['tasks', 'materials', 'audiences', 'experiments']
const SINGULAR = { tasks: 'task', materials: 'material', audiences: 'audience', experiments: 'experiment' }
const when = (at) => (at === undefined || at === null ? '' : new Date(at).toISOString().replace('T', ' ').slice(0, 19))

/** The list of one kind, newest change first. */
function ConfigList({ kind, rows, onOpen, onNew, readOnly }) {
  return html`<section aria-label=${`${kind} list`}>
    <div class="row"><h2>${kind[0].toUpperCase() + kind.slice(1)}</h2>${readOnly ? null : html`<button onClick=${onNew}>New ${SINGULAR[kind]}</button>`}</div>
    ${rows === null ? html`<p>Loading…</p>` : rows.length === 0 ? html`<p class="muted">No ${kind} yet.</p>` : html`
    <table class="list"><thead><tr><th>id</th><th>version</th><th>status</th><th>updated by</th><th>updated at</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr key=${r.id}>
        <td><a href="#" onClick=${(e) => { e.preventDefault(); onOpen(r.id) }}>${r.id}</a></td>
        <td>${r.version}</td><td><span class=${`status ${r.paused ? 'paused' : 'active'}`}>${r.paused ? 'paused' : 'active'}</span></td>
        <td>${r.updatedBy ?? ''}</td><td>${when(r.updatedAt)}</td></tr>`)}</tbody></table>`}
  </section>`
}

/** A unified patch, line by line, additions and removals marked. */
export function Patch({ patch }) {
  const cls = (l) => (l.startsWith('+++') || l.startsWith('---') ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '')
  return html`<pre class="patch" aria-label="Diff">${patch.split('\n').map((l) => html`<span class=${cls(l)}>${l}\n</span>`)}</pre>`
}

/** The versions of a record: who, when, what, why; diff between two; roll back to one. */
function Versions({ kind, id, detail, readOnly, comment, onChanged, setNotice }) {
  const versions = detail.versions ?? []
  const last = versions.length ? versions[versions.length - 1].version : 0
  const [from, setFrom] = useState(versions.length > 1 ? versions[versions.length - 2].version : last)
  const [to, setTo] = useState(last)
  const [patch, setPatch] = useState(null)
  const showDiff = async () => {
    try {
      setPatch((await api('GET', `/api/v1/config/${kind}/${encodeURIComponent(id)}/diff?from=${from}&to=${to}`)).patch)
    } catch (err) {
      setNotice({ error: messageOf(err) })
    }
  }
  const rollback = async (version) => {
    try {
      const r = await api('POST', `/api/v1/config/${kind}/${encodeURIComponent(id)}/rollback`, { version, comment: comment.trim() || `rollback to v${version}` })
      const msg = `Rolled back ${SINGULAR[kind]} ${id} to version ${version}: now version ${r.version}.`
      onChanged(msg)
    } catch (err) {
      setNotice({ error: messageOf(err) })
    }
  }
  const options = versions.map((v) => String(v.version))
  return html`<section aria-label="Versions" class="versions"><h3>Versions</h3>
    <table class="list"><thead><tr><th>version</th><th>action</th><th>by</th><th>at</th><th>comment</th>${readOnly ? null : html`<th></th>`}</tr></thead>
    <tbody>${[...versions].reverse().map((v) => html`<tr key=${v.version}><td>${v.version}</td><td>${v.action}</td><td>${v.by}</td><td>${when(v.at)}</td><td>${v.comment}</td>
      ${readOnly ? null : html`<td>${v.version === last ? '' : html`<button class="small" onClick=${() => rollback(v.version)}>Roll back to v${v.version}</button>`}</td>`}</tr>`)}</tbody></table>
    ${versions.length > 1 ? html`<div class="row">
      <${Field} label="From version" kind="select" options=${options} value=${String(from)} onChange=${(v) => setFrom(Number(v))} />
      <${Field} label="To version" kind="select" options=${options} value=${String(to)} onChange=${(v) => setTo(Number(v))} />
      <button onClick=${showDiff}>Show diff</button></div>` : null}
    ${patch === null ? null : html`<${Patch} patch=${patch} />`}
  </section>`
}

/**
 * The editor of one record (`id` null: a new one). Saving validates first (POST /validate) so
 * errors land at their fields before anything is written; a stale base version is a conflict.
 */
function Editor({ kind, id, readOnly, onSaved, onClose, onPreview }) {
  const [detail, setDetail] = useState(null)
  const [record, setRecord] = useState(id === null ? structuredClone(NEW_RECORD[kind]) : null)
  const [errors, setErrors] = useState([])
  const [comment, setComment] = useState('')
  const [notice, setNotice] = useState(null)
  const [busy, setBusy] = useState(false)
  const load = async () => {
    if (id === null) return
    try {
      const d = await api('GET', `/api/v1/config/${kind}/${encodeURIComponent(id)}`)
      setDetail(d)
      setRecord(structuredClone(d.current.record))
    } catch (err) {
      setNotice({ error: messageOf(err) })
    }
  }
  useEffect(() => {
    load()
  }, [kind, id])
  const idOf = () => id ?? recordId(kind, record)
  const validate = async () => {
    const r = await api('POST', `/api/v1/validate/${kind}`, { record })
    setErrors(r.ok ? [] : r.errors ?? [])
    return r.ok
  }
  const run = (fn) => async () => {
    setBusy(true)
    setNotice(null)
    try {
      await fn()
    } catch (err) {
      if (err.errors?.length) setErrors(err.errors)
      setNotice({ error: messageOf(err) })
    } finally {
      setBusy(false)
    }
  }
  const save = run(async () => {
    if (!(await validate())) return setNotice({ error: 'Not saved: fix the fields marked below.' })
    const target = idOf()
    if (!target) return setErrors([{ path: ID_PATH[kind], message: 'an id is required' }])
    if (!comment.trim()) return setNotice({ error: 'Not saved: say why in the comment.' })
    const r = await api('PUT', `/api/v1/config/${kind}/${encodeURIComponent(target)}`, { record, comment, baseVersion: detail?.current?.version })
    const msg = `Saved ${SINGULAR[kind]} ${target} as version ${r.version}.`
    setComment('')
    if (id !== null) await load()
    onSaved(target, msg)
  })
  const action = (verb) =>
    run(async () => {
      if (!comment.trim()) return setNotice({ error: `Say why in the comment before you ${verb}.` })
      const path = `/api/v1/config/${kind}/${encodeURIComponent(id)}`
      const r = verb === 'delete' ? await api('DELETE', path, { comment }) : await api('POST', `${path}/${verb}`, { comment })
      const msg = `${verb === 'pause' ? 'Paused' : verb === 'resume' ? 'Resumed' : 'Deleted'} ${SINGULAR[kind]} ${id}: version ${r.version}.`
      setComment('')
      if (verb !== 'delete') await load()
      onSaved(verb === 'delete' ? null : id, msg)
    })
  if (record === null) return html`<section class="editor"><p>Loading…</p>${notice?.error ? html`<p class="error" role="alert">${notice.error}</p>` : null}</section>`
  const paused = detail?.current?.paused
  return html`<section class="editor" aria-label=${`${SINGULAR[kind]} editor`}>
    <div class="row"><h2>${id === null ? `New ${SINGULAR[kind]}` : `${SINGULAR[kind]} ${id}`}</h2>
      ${detail ? html`<span class="muted">version ${detail.current.version}</span> <span class=${`status ${paused ? 'paused' : 'active'}`}>${paused ? 'paused' : 'active'}</span>` : null}
      <button class="link" onClick=${onClose}>Close</button></div>
    <${RecordForm} kind=${kind} record=${record} onChange=${(r) => setRecord(r)} errors=${errors} readOnly=${readOnly} />
    ${notice ? html`<p class=${notice.error ? 'error' : 'ok'} role=${notice.error ? 'alert' : 'status'}>${notice.error ?? notice.ok}</p>` : null}
    ${readOnly
      ? html`<p class="muted">Read-only: your role is viewer.</p>`
      : html`<div class="actions">
        <${Field} label="Comment" value=${comment} onChange=${(v) => setComment(v ?? '')} placeholder="why this change" />
        <button disabled=${busy} onClick=${run(async () => setNotice((await validate()) ? { ok: 'Valid.' } : { error: 'Invalid: see the fields marked.' }))}>Validate</button>
        <button class="primary" disabled=${busy} onClick=${save}>Save</button>
        ${(kind === 'tasks' || kind === 'materials') && onPreview ? html`<button disabled=${busy} onClick=${() => onPreview(kind, record)}>Preview & backtest</button>` : null}
        ${id !== null ? html`
          ${!PAUSABLE.includes(kind) ? null : paused ? html`<button disabled=${busy} onClick=${action('resume')}>Resume</button>` : html`<button disabled=${busy} onClick=${action('pause')}>Pause</button>`}
          <button class="danger" disabled=${busy} onClick=${action('delete')}>Delete</button>` : null}
      </div>`}
    ${detail ? html`<${Versions} key=${detail.current.version} kind=${kind} id=${id} detail=${detail} readOnly=${readOnly} comment=${comment} setNotice=${setNotice} onChanged=${async (msg) => { await load(); onSaved(id, msg) }} />` : null}
  </section>`
}

/**
 * The Configure page. `onPreview(kind, record)` opens a draft in Preview. A change's success is
 * told once, above the list (the editor may be replaced by the saved record's); errors stay in
 * the editor, next to what caused them.
 */
export function ConfigurePage({ session, onPreview }) {
  const readOnly = session.role !== 'editor'
  const [kind, setKind] = useState('tasks')
  const [rows, setRows] = useState(null)
  const [open, setOpen] = useState(undefined) // undefined: none, null: new, string: an id
  const [error, setError] = useState(null)
  const [flash, setFlash] = useState(null)
  const refresh = async (k = kind) => {
    try {
      setRows(await api('GET', `/api/v1/config/${k}`))
      setError(null)
    } catch (err) {
      setRows([])
      setError(messageOf(err))
    }
  }
  useEffect(() => {
    setRows(null)
    refresh(kind)
  }, [kind])
  return html`<div class="configure">
    <nav class="tabs" aria-label="Kinds">${KINDS.map((k) => html`<button role="tab" aria-selected=${k === kind} class=${k === kind ? 'active' : ''} onClick=${() => { setKind(k); setOpen(undefined); setFlash(null) }}>${k}</button>`)}</nav>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${flash ? html`<p class="ok flash" role="status">${flash}</p>` : null}
    <div class="split">
      <${ConfigList} kind=${kind} rows=${rows} readOnly=${readOnly} onOpen=${(id) => setOpen(id)} onNew=${() => setOpen(null)} />
      ${open === undefined ? null : html`<${Editor} key=${`${kind}/${open}`} kind=${kind} id=${open} readOnly=${readOnly} onPreview=${onPreview}
          onClose=${() => setOpen(undefined)} onSaved=${(savedId, msg) => { setFlash(msg); refresh(); setOpen(savedId === null ? undefined : savedId) }} />`}
    </div>
  </div>`
}
