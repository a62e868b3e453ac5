// A Chart.js chart as a Preact component. Chart.js comes from its UMD build (window.Chart,
// loaded by index.html from /vendor/chart.js/), which needs no import map for its own imports.
import { html } from './html.js'
import { useEffect, useRef } from 'preact/hooks'

/** Colors of the datasets, in order (current, proposed / arm after arm). */
export const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7']

/**
 * One chart. `type` is a Chart.js type (bar, line); `labels` the x values; `datasets` Chart.js
 * datasets (colors filled in). The canvas is labelled for tests and screen readers,
 * `data-points` says how many points it draws and `data-drawn` is set once it has drawn them.
 */
export function Chart({ label, type = 'bar', labels, datasets, stacked = false, height = 220 }) {
  const canvas = useRef(null)
  useEffect(() => {
    const colored = datasets.map((d, i) => ({ backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length], borderWidth: type === 'line' ? 2 : 0, pointRadius: 0, ...d }))
    const chart = new window.Chart(canvas.current, {
      type,
      data: { labels, datasets: colored },
      options: {
        animation: false, // charts are drawn once, at once: screenshots and tests see the final picture
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: { x: { stacked }, y: { stacked, beginAtZero: true } },
        plugins: { legend: { position: 'bottom' } },
      },
    })
    // Drawn (animation off): say so, so a test or a screenshot waits for the picture, not a time.
    canvas.current.dataset.drawn = 'true'
    return () => {
      chart.destroy()
      if (canvas.current) delete canvas.current.dataset.drawn
    }
  }, [type, JSON.stringify(labels), JSON.stringify(datasets), stacked])
  const points = datasets.reduce((n, d) => n + (d.data?.length ?? 0), 0)
  return html`<figure class="chart"><figcaption>${label}</figcaption><div style=${`height:${height}px;position:relative`}><canvas ref=${canvas} role="img" aria-label=${label} data-points=${points}></canvas></div></figure>`
}

/** An hour label for an epoch-ms or ISO time: "11-02 13:00" (UTC). */
export function hourLabel(t) {
  const d = new Date(typeof t === 'number' ? t : Date.parse(t))
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().slice(5, 16).replace('T', ' ')
}
