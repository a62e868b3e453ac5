// The audit log: every change, who made it, when and why (GET /api/v1/audit).
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Table } from './table.js'

/** The Audit page: the latest 100 changes, newest first as the server lists them. */
export function AuditPage() {
  const [rows, setRows] = useState(null)
  useEffect(() => {
    api('GET', '/api/v1/audit?limit=100').then(setRows, (err) => setRows({ error: messageOf(err) }))
  }, [])
  if (rows === null) return html`<p>Loading…</p>`
  if (rows.error) return html`<p class="error" role="alert">${rows.error}</p>`
  return html`<${Table} label="Audit log" rows=${rows} columns=${['at', 'user', 'action', 'kind', 'id', 'version', 'comment']} empty="no changes yet" />`
}
