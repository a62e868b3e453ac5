/**
 * Session, configuration CRUD, versions, diff, rollback, audit, validation and the rule checker
 * (console/API.md). Writes are attributed to the token's user.
 */
import { createTwoFilesPatch } from 'diff'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { checkRule, evaluateRule } from '../../../operators/rules.ts'
import { ChangeError, changeRecord, currentRecords, listRecords, recordDetail, rollback, setPaused } from '../config-service.ts'
import type { ConsoleContext } from '../context.ts'
import { issuesToErrors, isKind, validateRecord } from '../kinds.ts'
import type { Kind } from '../kinds.ts'
import { VersionConflict } from '../store.ts'

/** Sends a zod failure of a request body as 400 with the fields named. */
export function badRequest(reply: FastifyReply, what: string, error: z.ZodError): FastifyReply {
  return reply.code(400).send({ error: `invalid request body: ${what}`, errors: issuesToErrors(error.issues) })
}

/** Turns a thrown change error into its status. */
export function sendChangeError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof ChangeError) return reply.code(err.status).send({ error: err.message, ...(err.errors ? { errors: err.errors } : {}) })
  if (err instanceof VersionConflict) return reply.code(409).send({ error: err.message, current: err.current })
  throw err
}

// record is checked after parsing, so its absence is named plainly.
const putBody = z.object({ record: z.unknown().optional(), comment: z.string().default(''), baseVersion: z.number().int().positive().optional() })
const commentBody = z.object({ comment: z.string().default('') }).prefault({})
const rollbackBody = z.object({ version: z.number().int().positive(), comment: z.string().default('') })
const ruleBody = z.object({ rule: z.unknown(), data: z.unknown().optional() })

type KindParams = { kind: string }
type IdParams = { kind: string; id: string }

export function configRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  const kindOf = (reply: FastifyReply, k: string): Kind | null => {
    if (isKind(k)) return k
    void reply.code(404).send({ error: `unknown kind "${k}": use tasks, materials, audiences or experiments` })
    return null
  }

  api.get('/session', async (req) => ({ user: req.principal?.user, role: req.principal?.role, mode: ctx.world.mode }))

  api.get<{ Params: KindParams }>('/config/:kind', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    return kind ? listRecords(ctx, kind) : reply
  })

  api.get<{ Params: IdParams }>('/config/:kind/:id', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const d = recordDetail(ctx, kind, req.params.id)
    return d ?? reply.code(404).send({ error: `no ${kind.replace(/s$/, '')} "${req.params.id}"` })
  })

  api.post<{ Params: KindParams }>('/validate/:kind', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const body = z.object({ record: z.unknown() }).safeParse(req.body)
    if (!body.success) return badRequest(reply, '{record}', body.error)
    const r = validateRecord(kind, body.data.record)
    return r.ok ? { ok: true } : { ok: false, errors: r.errors }
  })

  api.post('/rules/check', async (req, reply) => {
    const body = ruleBody.safeParse(req.body)
    if (!body.success) return badRequest(reply, '{rule, data?}', body.error)
    const problem = checkRule(body.data.rule, 'rule')
    if (problem) return { ok: false, error: problem }
    if (body.data.data === undefined) return { ok: true }
    const r = evaluateRule(body.data.rule, body.data.data)
    return r.error !== undefined ? { ok: false, error: r.error } : { ok: true, value: r.result }
  })

  api.put<{ Params: IdParams }>('/config/:kind/:id', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const body = putBody.safeParse(req.body)
    if (!body.success) return badRequest(reply, '{record, comment, baseVersion?}', body.error)
    if (body.data.record === undefined || body.data.record === null) return reply.code(400).send({ error: 'record is required (use DELETE to delete)', errors: [{ path: 'record', message: 'required: the whole record (use DELETE to delete it)' }] })
    const exists = currentRecords(ctx, kind).has(req.params.id)
    try {
      const version = await changeRecord(ctx, { kind, id: req.params.id, user: req.principal?.user ?? '?', action: exists ? 'update' : 'create', comment: body.data.comment, record: body.data.record, ...(body.data.baseVersion !== undefined ? { baseVersion: body.data.baseVersion } : {}) })
      return { version }
    } catch (err) {
      return sendChangeError(reply, err)
    }
  })

  for (const action of ['pause', 'resume'] as const) {
    api.post<{ Params: IdParams }>(`/config/:kind/:id/${action}`, async (req, reply) => {
      const kind = kindOf(reply, req.params.kind)
      if (!kind) return reply
      const body = commentBody.safeParse(req.body ?? {})
      if (!body.success) return badRequest(reply, '{comment}', body.error)
      try {
        return { version: await setPaused(ctx, { kind, id: req.params.id, user: req.principal?.user ?? '?', comment: body.data.comment, paused: action === 'pause' }) }
      } catch (err) {
        return sendChangeError(reply, err)
      }
    })
  }

  api.delete<{ Params: IdParams }>('/config/:kind/:id', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const body = commentBody.safeParse(req.body ?? {})
    if (!body.success) return badRequest(reply, '{comment}', body.error)
    try {
      return { version: await changeRecord(ctx, { kind, id: req.params.id, user: req.principal?.user ?? '?', action: 'delete', comment: body.data.comment, record: null }) }
    } catch (err) {
      return sendChangeError(reply, err)
    }
  })

  api.post<{ Params: IdParams }>('/config/:kind/:id/rollback', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const body = rollbackBody.safeParse(req.body)
    if (!body.success) return badRequest(reply, '{version, comment}', body.error)
    try {
      return { version: await rollback(ctx, { kind, id: req.params.id, user: req.principal?.user ?? '?', comment: body.data.comment, version: body.data.version }) }
    } catch (err) {
      return sendChangeError(reply, err)
    }
  })

  api.get<{ Params: IdParams; Querystring: { from?: string; to?: string } }>('/config/:kind/:id/diff', async (req, reply) => {
    const kind = kindOf(reply, req.params.kind)
    if (!kind) return reply
    const versions = ctx.store.versions(kind, req.params.id, currentRecords(ctx, kind).get(req.params.id))
    if (!versions.length) return reply.code(404).send({ error: `no ${kind.replace(/s$/, '')} "${req.params.id}"` })
    const last = versions.at(-1)?.version as number
    const to = req.query.to === undefined ? last : Number(req.query.to)
    const from = req.query.from === undefined ? Math.max(1, to - 1) : Number(req.query.from)
    const a = versions.find((v) => v.version === from)
    const b = versions.find((v) => v.version === to)
    if (!a || !b) return reply.code(404).send({ error: `versions ${from} and ${to} must both exist (versions: ${versions.map((v) => v.version).join(', ')})` })
    const text = (r: unknown): string => (r === null ? '' : `${JSON.stringify(r, null, 2)}\n`)
    const patch = createTwoFilesPatch(`${kind}/${req.params.id}@v${from}`, `${kind}/${req.params.id}@v${to}`, text(a.record), text(b.record))
    return { from, to, patch }
  })

  api.get<{ Querystring: { limit?: string } }>('/audit', async (req) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 10_000)
    return ctx.store.audit(limit).map(({ record: _r, ...e }) => e)
  })
}
