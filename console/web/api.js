// The console's API client. The token arrives once in the URL fragment (#token=...), is kept in
// sessionStorage (gone when the tab closes) and removed from the address bar, so it is never in
// the history, a bookmark or a Referer. It travels as a header, never as a cookie: a foreign
// page cannot make the browser send it, which keeps writes CSRF-safe.

const KEY = 'hermes.console.token'

/** Moves a `#token=` fragment into sessionStorage and strips it from the address bar. */
export function adoptToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]))
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(KEY)
}

/** Keeps a token typed in by hand (configured tokens are not in any URL). */
export function setToken(token) {
  if (token) sessionStorage.setItem(KEY, token)
  else sessionStorage.removeItem(KEY)
}

/** An API error: the HTTP status, the message and the field errors ({path, message}) if any. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`)
    this.status = status
    this.errors = Array.isArray(body?.errors) ? body.errors : []
  }
}

/** Calls the API; resolves with the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = { error: text }
  }
  if (!res.ok) throw new ApiError(res.status, data)
  return data
}

/** A short message for any error (API or network). */
export const messageOf = (err) => (err instanceof Error ? err.message : String(err))
