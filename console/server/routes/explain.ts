/** Explain a user, and simulate a behavior event (console/API.md). */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { BehaviorEvent } from '../../../operators/types.ts'
import { checkBehaviorEvent } from '../../../operators/types.ts'
import type { ConsoleContext } from '../context.ts'
import { explainUser } from '../explain.ts'
import { badRequest } from './config.ts'

const eventBody = z.object({ event: z.record(z.string(), z.unknown()) })

export function explainRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get<{ Params: { id: string }; Querystring: { trace?: string } }>('/users/:id/explain', async (req) => {
    const trace = req.query.trace === '1' || req.query.trace === 'true'
    return explainUser(ctx.world, req.params.id, { trace })
  })

  api.post('/events', async (req, reply) => {
    const b = eventBody.safeParse(req.body)
    if (!b.success) return badRequest(reply, '{event}', b.error)
    const event: { [k: string]: unknown } = { eventId: `console-${randomUUID()}`, ts: ctx.world.nextEventTime(), ...b.data.event }
    const problem = checkBehaviorEvent(event)
    if (problem) {
      const field = /"(\w+)"/.exec(problem)?.[1] ?? ''
      return reply.code(400).send({ error: problem, errors: [{ path: `event.${field}`, message: problem }] })
    }
    const r = await ctx.world.simulate(event as unknown as BehaviorEvent)
    req.log.info({ user: req.principal?.user, eventId: event.eventId, type: event.type }, 'simulated behavior event')
    return { accepted: true, event, ...r }
  })
}
