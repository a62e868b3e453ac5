// Report: per task and per experiment arm (holdouts included), exposed users, pushes,
// suppressions by reason, clicks and CTR with its 95% interval, over time as charts; and the live
// rates, polled from the metrics.
import { html } from './html.js'
import { useEffect, useState } from 'preact/hooks'
import { api, messageOf } from './api.js'
import { Field } from './form.js'
import { Chart, hourLabel } from './chart.js'

const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(2)}%`)
const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0)

/** Live rates from GET /api/v1/metrics/live, every two seconds while the page is open. */
function LiveRates() {
  const [live, setLive] = useState(null)
  useEffect(() => {
    let stop = false
    let timer
    const poll = async () => {
      try {
        const r = await api('GET', '/api/v1/metrics/live')
        if (!stop) setLive(r)
      } catch (err) {
        if (!stop) setLive({ error: messageOf(err) })
      }
      if (!stop) timer = setTimeout(poll, 2000)
    }
    poll()
    return () => {
      stop = true
      clearTimeout(timer)
    }
  }, [])
  const rate = (n) => (typeof n === 'number' ? n.toFixed(1) : '–')
  return html`<section class="panel live" aria-label="Live rates"><h3>Live</h3>
    ${live === null ? html`<p>…</p>` : live.error ? html`<p class="error">${live.error}</p>` : html`<dl class="inline">
      <dt>events/s</dt><dd>${rate(live.ratePerSec?.events)}</dd><dt>decisions/s</dt><dd>${rate(live.ratePerSec?.decisions)}</dd>
      <dt>suppressions/s</dt><dd>${rate(live.ratePerSec?.suppressions)}</dd>
      ${live.lag !== undefined ? html`<dt>lag</dt><dd>${typeof live.lag === 'object' ? JSON.stringify(live.lag) : live.lag}</dd>` : null}
      ${live.watermark !== undefined && live.watermark !== null ? html`<dt>watermark</dt><dd>${typeof live.watermark === 'number' ? new Date(live.watermark).toISOString() : String(live.watermark)}</dd>` : null}</dl>`}
  </section>`
}

/** The union of the series' times, sorted, and each series' values on it. */
function align(items, field) {
  const times = [...new Set(items.flatMap((x) => (x.series ?? []).map((p) => p.t)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return { labels: times.map(hourLabel), values: (x) => times.map((t) => (x.series ?? []).find((p) => p.t === t)?.[field] ?? 0) }
}

/** The Report page. */
export function ReportPage() {
  const [filter, setFilter] = useState({ task: '', experiment: '', bucket: 'hour' })
  const [out, setOut] = useState(null)
  const load = async () => {
    try {
      const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v))
      setOut(await api('GET', `/api/v1/report?${q}`))
    } catch (err) {
      setOut({ error: messageOf(err) })
    }
  }
  useEffect(() => {
    load()
  }, [])
  const set = (k) => (v) => setFilter({ ...filter, [k]: v ?? '' })
  let body = html`<p>Loading…</p>`
  if (out?.error) body = html`<p class="error" role="alert">${out.error}</p>`
  else if (out) {
    const tasks = out.tasks ?? []
    const arms = out.arms ?? []
    const reasons = [...new Set(tasks.flatMap((t) => Object.keys(t.suppressions ?? {})))].sort()
    const tp = align(tasks, 'pushes')
    const ac = align(arms, 'clicks')
    const ap = align(arms, 'pushes')
    const ar = align(arms, 'ctr')
    const au = align(arms, 'users')
    const armName = (a) => `${a.experiment}/${a.arm}`
    body = html`
      <h3>Tasks</h3>
      <table class="list numbers" aria-label="Tasks report"><thead><tr><th>task</th><th>users</th><th>pushes</th><th>suppressions</th><th>clicks</th><th>CTR</th><th>95% interval</th></tr></thead>
        <tbody>${tasks.map((t) => html`<tr><td>${t.taskId}</td><td>${t.users}</td><td>${t.pushes}</td><td title=${JSON.stringify(t.suppressions)}>${sum(t.suppressions)}</td><td>${t.clicks}</td><td>${pct(t.ctr)}</td><td>${pct(t.ctrLow)} – ${pct(t.ctrHigh)}</td></tr>`)}</tbody></table>
      <div class="charts">
        <${Chart} label="Pushes per task over time" type="line" labels=${tp.labels} datasets=${tasks.map((t) => ({ label: t.taskId, data: tp.values(t) }))} />
        <${Chart} label="Suppressions by reason per task" stacked=${true} labels=${tasks.map((t) => t.taskId)} datasets=${reasons.map((r) => ({ label: r, data: tasks.map((t) => t.suppressions?.[r] ?? 0) }))} />
      </div>
      <h3>Experiment arms</h3>
      <p class="hint">Users: every user exposed in the arm (sent, suppressed or held out), from the exposures; a holdout arm has users and no pushes. Differences are against the experiment's control arm (Newcombe's interval for CTR, Welch's for clicks per user), as <code>hermes report experiments</code> gives them.</p>
      <table class="list numbers" aria-label="Arms report"><thead><tr><th>experiment</th><th>arm</th><th>users</th><th>held out</th><th>pushes</th><th>suppressions</th><th>clicks</th><th>CTR</th><th>95% interval</th><th>clicks/user</th><th>CTR vs control</th></tr></thead>
        <tbody>${arms.map((a) => html`<tr><td>${a.experiment}</td><td class="text">${a.arm}</td><td>${a.users}</td><td>${a.heldOut}</td><td>${a.pushes}</td><td title=${JSON.stringify(a.suppressions)}>${sum(a.suppressions)}</td><td>${a.clicks}</td><td>${pct(a.ctr)}</td><td>${pct(a.ctrLow)} – ${pct(a.ctrHigh)}</td><td>${a.clicksPerUser === null ? '–' : a.clicksPerUser.toFixed(4)}</td><td>${a.vsControl ? html`${pct(a.vsControl.ctr)}${a.vsControl.ctrInterval ? ` [${pct(a.vsControl.ctrInterval[0])}, ${pct(a.vsControl.ctrInterval[1])}]` : ''}` : 'control'}</td></tr>`)}</tbody></table>
      <div class="charts">
        <${Chart} label="CTR by arm (with 95% interval bounds)" labels=${arms.map(armName)} datasets=${[
          { label: 'CTR low', data: arms.map((a) => a.ctrLow ?? 0) },
          { label: 'CTR', data: arms.map((a) => a.ctr ?? 0) },
          { label: 'CTR high', data: arms.map((a) => a.ctrHigh ?? 0) },
        ]} />
        <${Chart} label="CTR per arm over time" type="line" labels=${ar.labels} datasets=${arms.map((a) => ({ label: armName(a), data: ar.values(a) }))} />
        <${Chart} label="Users exposed per arm over time" type="line" labels=${au.labels} datasets=${arms.map((a) => ({ label: armName(a), data: au.values(a) }))} />
        <${Chart} label="Clicks per arm over time" type="line" labels=${ac.labels} datasets=${arms.map((a) => ({ label: armName(a), data: ac.values(a) }))} />
        <${Chart} label="Pushes per arm over time" type="line" labels=${ap.labels} datasets=${arms.map((a) => ({ label: armName(a), data: ap.values(a) }))} />
      </div>`
  }
  return html`<div class="report">
    <${LiveRates} />
    <form class="row" onSubmit=${(e) => { e.preventDefault(); load() }}>
      <${Field} label="Task filter" value=${filter.task} onChange=${set('task')} placeholder="all tasks" />
      <${Field} label="Experiment filter" value=${filter.experiment} onChange=${set('experiment')} placeholder="all experiments" />
      <${Field} label="Bucket" kind="select" options=${['hour', 'day']} value=${filter.bucket} onChange=${set('bucket')} />
      <button type="submit">Refresh</button>
    </form>
    ${body}
  </div>`
}
