/**
 * Previews before publishing: a material rendered for a sample user and event (the pipeline's
 * own template code), and how many users a task's audience reaches.
 */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { MaterialConfig, TaskConfig } from '../../../operators/config.ts'
import { inAudience } from '../../../operators/config-ingest.ts'
import { placeholderValue, placeholders, renderTemplate } from '../../../operators/templates.ts'
import type { BehaviorEvent, UserContext } from '../../../operators/types.ts'
import type { ConsoleContext } from '../context.ts'
import { validateRecord } from '../kinds.ts'
import { badRequest } from './config.ts'

const renderBody = z
  .object({ materialId: z.string().min(1).optional(), material: z.unknown().optional(), userId: z.string().min(1).optional(), event: z.record(z.string(), z.unknown()).optional(), taskId: z.string().optional() })
  .refine((b) => b.materialId !== undefined || b.material !== undefined, { message: 'give materialId or material', path: ['materialId'] })

const audienceBody = z.object({ task: z.union([z.string().min(1), z.record(z.string(), z.unknown())]) })

export function previewRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.post('/preview/render', async (req, reply) => {
    const body = renderBody.safeParse(req.body)
    if (!body.success) return badRequest(reply, '{materialId | material, userId?, event?}', body.error)
    const raw = body.data.material ?? ctx.world.current('materials').get(body.data.materialId as string)
    if (raw === undefined) return reply.code(404).send({ error: `no material "${body.data.materialId}"` })
    const v = validateRecord('materials', raw)
    if (!v.ok) return reply.code(400).send({ error: 'invalid material', errors: v.errors })
    const m = v.value as MaterialConfig
    const userId = body.data.userId ?? 'sample-user'
    const profile = ctx.world.users().get(userId)
    const user: UserContext = profile ?? { userId, timezone: 'UTC', pushEnabled: true, segments: [] }
    const event = (body.data.event ? { userId, ...body.data.event } : null) as BehaviorEvent | null
    const data = { event, user, task: { taskId: body.data.taskId ?? 'preview' } }
    const out: { [k: string]: unknown } = {}
    const fallbacks = new Set<string>()
    let incomplete = false
    const missing: string[] = []
    for (const field of ['title', 'body', 'deeplink'] as const) {
      const template = m[field]
      if (template === null) {
        out[field] = null
        continue
      }
      const r = renderTemplate(template, data, m.fallbacks)
      for (const p of placeholders(template)) if (placeholderValue(p, data) === undefined && m.fallbacks && Object.hasOwn(m.fallbacks, p)) fallbacks.add(p)
      if (r.ok) out[field] = r.text
      else {
        out[field] = template
        incomplete = true
        missing.push(r.missing)
      }
    }
    return { materialId: m.materialId, ...out, ...(fallbacks.size ? { fallbacks: [...fallbacks] } : {}), ...(incomplete ? { incomplete: true, missing, reason: `no value and no fallback for {{${missing.join('}}, {{')}}}: the pipeline would suppress this push as template_incomplete` } : {}) }
  })

  api.get('/segments', async () => {
    const counts = new Map<string, number>()
    for (const u of ctx.world.users().values()) for (const s of u.segments) counts.set(s, (counts.get(s) ?? 0) + 1)
    return [...counts].map(([segmentId, users]) => ({ segmentId, users })).sort((a, b) => a.segmentId.localeCompare(b.segmentId))
  })

  api.get<{ Querystring: { limit?: string; segment?: string } }>('/users', async (req) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 1000)
    const out: Array<{ userId: string; timezone: string; pushEnabled: boolean; segments: string[] }> = []
    for (const u of ctx.world.users().values()) {
      if (req.query.segment !== undefined && !u.segments.includes(req.query.segment)) continue
      out.push(u)
      if (out.length >= limit) break
    }
    return out
  })

  api.post('/preview/audience', async (req, reply) => {
    const body = audienceBody.safeParse(req.body)
    if (!body.success) return badRequest(reply, '{task}', body.error)
    const raw = typeof body.data.task === 'string' ? ctx.world.current('tasks').get(body.data.task) : body.data.task
    if (raw === undefined) return reply.code(404).send({ error: `no task "${body.data.task as string}"` })
    const v = validateRecord('tasks', raw)
    if (!v.ok) return reply.code(400).send({ error: 'invalid task', errors: v.errors })
    const task = v.value as TaskConfig
    let users = 0
    let optedOut = 0
    const all = ctx.world.users()
    for (const u of all.values()) {
      if (!inAudience(task, u.segments)) continue
      users++
      if (!u.pushEnabled) optedOut++
    }
    return { users, total: all.size, optedOut }
  })
}
