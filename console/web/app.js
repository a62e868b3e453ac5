// The console's shell: the session (who, which role), the pages, and the drafts carried from
// Configure to Preview.
import { html } from './html.js'
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { adoptToken, api, messageOf, setToken } from './api.js'
import { ConfigurePage } from './configure.js'
import { PreviewPage } from './preview.js'
import { ExplainPage } from './explain.js'
import { ReportPage } from './report.js'
import { SimulatePage } from './simulate.js'
import { AuditPage } from './audit.js'

const PAGES = ['Configure', 'Preview', 'Explain', 'Report', 'Simulate', 'Audit']

/**
 * Sign-in with a token typed in: tokens from console.tokens or HERMES_CONSOLE_TOKENS are handed
 * to users apart, not in a URL. The token goes to sessionStorage only, like a #token= one.
 */
function SignIn({ message, onToken }) {
  const [token, set] = useState('')
  return html`<main class="login"><h1>Hermes console</h1>
    ${message ? html`<p class="error" role="alert">${message}</p>` : null}
    <form onSubmit=${(e) => { e.preventDefault(); onToken(token.trim()) }}>
      <label>Token <input type="password" autocomplete="off" value=${token} onInput=${(e) => set(e.currentTarget.value)} /></label>
      <button class="primary" type="submit" disabled=${!token.trim()}>Sign in</button>
    </form>
    <p class="muted">Or open the URL that <code>hermes console</code> printed (it ends in #token=...).</p></main>`
}

function App() {
  const [session, setSession] = useState(null)
  const [error, setError] = useState(null)
  const [signIn, setSignIn] = useState(false)
  const [page, setPage] = useState('Configure')
  const [draft, setDraft] = useState(null)
  const [explainUser, setExplainUser] = useState(null)
  const load = () => {
    setError(null)
    api('GET', '/api/v1/session').then(
      (s) => {
        setSession(s)
        setSignIn(false)
      },
      (err) => {
        if (err.status === 401) {
          setToken(null)
          setSignIn(true)
          setError('That token was refused (401).')
        } else setError(messageOf(err))
      },
    )
  }
  useEffect(() => {
    if (adoptToken()) load()
    else setSignIn(true)
  }, [])
  if (signIn) return html`<${SignIn} message=${error} onToken=${(t) => { setToken(t); load() }} />`
  if (error) return html`<main class="login"><h1>Hermes console</h1><p class="error" role="alert">${error}</p></main>`
  if (!session) return html`<main><p>Loading…</p></main>`
  const onPreview = (kind, record) => {
    // Drafts of several records add up (a task and its new material), one per id.
    const idField = kind === 'tasks' ? 'taskId' : 'materialId'
    const list = (draft?.[kind] ?? []).filter((r) => r[idField] !== record[idField])
    setDraft({ ...(draft ?? {}), [kind]: [...list, record] })
    setPage('Preview')
  }
  return html`<header class="top">
      <h1>Hermes console</h1>
      <nav aria-label="Pages">${PAGES.map((p) => html`<button class=${p === page ? 'active' : ''} aria-current=${p === page ? 'page' : undefined} onClick=${() => setPage(p)}>${p}</button>`)}</nav>
      <p class="session" aria-label="Session"><span>${session.user}</span> <span class=${`role role-${session.role}`}>${session.role}</span> <span class="muted">${session.mode}</span>
        <button class="link" onClick=${() => { setToken(null); setSession(null); setSignIn(true) }}>Sign out</button></p>
    </header>
    <main>
      ${page === 'Configure' ? html`<${ConfigurePage} session=${session} onPreview=${onPreview} />` : null}
      ${page === 'Preview' ? html`<${PreviewPage} session=${session} draft=${draft} onPublished=${() => setDraft(null)} />` : null}
      ${page === 'Explain' ? html`<${ExplainPage} userId=${explainUser} />` : null}
      ${page === 'Report' ? html`<${ReportPage} />` : null}
      ${page === 'Simulate' ? html`<${SimulatePage} session=${session} onExplain=${(u) => { setExplainUser(u); setPage('Explain') }} />` : null}
      ${page === 'Audit' ? html`<${AuditPage} />` : null}
    </main>`
}

render(html`<${App} />`, document.getElementById('app'))
