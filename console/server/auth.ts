/**
 * Access: bearer tokens with a role. No cookies, so a page on another site cannot make the
 * browser send a write on the user's behalf (the token lives in the console page's
 * sessionStorage and is sent as a header); writes also need `content-type: application/json`
 * and, when the browser sends an Origin, the console's own.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** What a token may do: read everything, or also change configuration and simulate events. */
export type Role = 'viewer' | 'editor'

/** A token holder. */
export interface Principal {
  user: string
  role: Role
}

/** A configured token: its user, role and secret. */
export interface TokenEntry extends Principal {
  token: string
}

/** Tokens from the config (`console.tokens`, each read from its env var) and `HERMES_CONSOLE_TOKENS`. */
export function tokensFrom(o: { configured: ReadonlyArray<{ user: string; role: Role; tokenEnv: string }>; env: { [k: string]: string | undefined } }): TokenEntry[] {
  const out: TokenEntry[] = []
  for (const t of o.configured) {
    const token = o.env[t.tokenEnv]
    if (!token) throw new Error(`console.tokens: the token of user "${t.user}" is read from the environment variable ${t.tokenEnv}, which is not set (set it, or remove the entry)`)
    out.push({ user: t.user, role: t.role, token })
  }
  const list = o.env.HERMES_CONSOLE_TOKENS
  if (list) {
    for (const [i, item] of list.split(',').entries()) {
      const [user, role, ...rest] = item.trim().split(':')
      const token = rest.join(':')
      if (!user || (role !== 'viewer' && role !== 'editor') || token.length < 8) {
        throw new Error(`HERMES_CONSOLE_TOKENS: entry ${i + 1} must be user:role:token with role viewer or editor and a token of 8 characters or more`)
      }
      out.push({ user, role, token })
    }
  }
  return out
}

/** A random editor token for `admin`, used when none is configured. */
export function generatedToken(): TokenEntry {
  return { user: 'admin', role: 'editor', token: randomBytes(24).toString('base64url') }
}

/** Finds the holder of a token, comparing in constant time. */
export function authenticate(tokens: readonly TokenEntry[], header: string | undefined): Principal | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  if (!m) return null
  const given = Buffer.from(m[1] as string)
  let found: Principal | null = null
  for (const t of tokens) {
    const want = Buffer.from(t.token)
    if (want.length === given.length && timingSafeEqual(want, given)) found = { user: t.user, role: t.role }
  }
  return found
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
}

const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
/** Reads that go through POST (they change nothing), open to viewers. */
const READ_POSTS = [/^\/api\/v1\/validate\//, /^\/api\/v1\/rules\/check$/, /^\/api\/v1\/preview\//, /^\/api\/v1\/backtest$/]

/**
 * The onRequest hook of /api routes: 401 without a known token, 403 for a foreign Origin or a
 * write by a viewer, 415 for a write that is not JSON.
 */
export function accessHook(tokens: readonly TokenEntry[], ownOrigins: () => readonly string[]) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const url = req.url.split('?')[0] ?? ''
    if (!url.startsWith('/api/')) return
    const p = authenticate(tokens, req.headers.authorization)
    if (!p) return reply.code(401).send({ error: 'missing or unknown token: send Authorization: Bearer <token> (printed by `hermes console` at start)' })
    req.principal = p
    if (!WRITE.has(req.method)) return
    const origin = req.headers.origin
    if (origin !== undefined && !ownOrigins().includes(origin)) return reply.code(403).send({ error: `origin ${origin} may not write to this console` })
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') return reply.code(415).send({ error: 'writes must be sent as content-type: application/json' })
    if (p.role !== 'editor' && !READ_POSTS.some((r) => r.test(url))) return reply.code(403).send({ error: `user ${p.user} is a viewer: changes need an editor token` })
  }
}
