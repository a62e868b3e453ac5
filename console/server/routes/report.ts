/** GET /report (per task and arm, Wilson intervals) and GET /metrics/live. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ConsoleContext } from '../context.ts'
import { buildReport } from '../report.ts'
import { badRequest } from './config.ts'

const query = z.object({
  task: z.string().min(1).optional(),
  experiment: z.string().min(1).optional(),
  from: z.coerce.number().int().optional(),
  to: z.coerce.number().int().optional(),
  bucket: z.enum(['hour', 'day']).default('hour'),
})

export function reportRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/report', async (req, reply) => {
    const q = query.safeParse(req.query)
    if (!q.success) return badRequest(reply, 'query ?task=&experiment=&from=&to=&bucket=hour|day', q.error)
    const { task, experiment, from, to, bucket } = q.data
    return buildReport({
      decisions: ctx.world.decisions(),
      exposures: ctx.world.exposures(),
      suppressions: ctx.world.suppressions(),
      events: ctx.world.events(),
      query: { bucket, ...(task !== undefined ? { task } : {}), ...(experiment !== undefined ? { experiment } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) },
    })
  })

  api.get('/metrics/live', async () => ctx.world.live())
}
