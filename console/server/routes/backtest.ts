/** POST /backtest: the current configuration against proposed changes over recorded events. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Changes } from '../backtest.ts'
import { CurrentCache, backtest } from '../backtest.ts'
import type { ConsoleContext } from '../context.ts'
import type { FieldError, Kind } from '../kinds.ts'
import { validateRecord } from '../kinds.ts'
import { badRequest } from './config.ts'

const DAY = 86_400_000

const body = z.object({
  changes: z
    .object({ tasks: z.array(z.unknown()).optional(), materials: z.array(z.unknown()).optional(), audiences: z.array(z.unknown()).optional(), experiments: z.array(z.unknown()).optional() })
    .strict()
    .prefault({}),
  from: z.number().int().optional(),
  to: z.number().int().optional(),
  /** Events this long before `from` run first, to build counts and fatigue history (not counted). */
  warmupMs: z.number().int().nonnegative().max(30 * DAY).default(0),
})

export function backtestRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  const cache = new CurrentCache()
  api.post('/backtest', async (req, reply) => {
    const b = body.safeParse(req.body ?? {})
    if (!b.success) return badRequest(reply, '{changes: {tasks?, materials?, audiences?, experiments?}, from?, to?}', b.error)
    const errors: FieldError[] = []
    const changes: Changes = {}
    for (const kind of ['tasks', 'materials', 'audiences', 'experiments'] as const) {
      const list = b.data.changes[kind]
      if (!list) continue
      changes[kind] = list
      list.forEach((record, i) => {
        // A deletion needs only its id.
        if (record && typeof record === 'object' && (record as { status?: unknown }).status === 'deleted') return
        const v = validateRecord(kind as Kind, record)
        if (!v.ok) for (const e of v.errors) errors.push({ path: `changes.${kind}.${i}${e.path ? `.${e.path}` : ''}`, message: e.message })
      })
    }
    if (errors.length) return reply.code(400).send({ error: 'invalid proposed changes', errors })
    const events = ctx.world.events()
    if (!events.length) return reply.code(400).send({ error: 'no recorded behavior events to backtest over (run `npm start` first, or produce events)' })
    const last = (events[events.length - 1] as { ts: number }).ts
    const to = b.data.to ?? last + 1
    const from = b.data.from ?? to - DAY
    if (from >= to) return reply.code(400).send({ error: 'from must be before to', errors: [{ path: 'from', message: 'must be before to' }] })
    const snapshot = { tasks: ctx.world.current('tasks'), materials: ctx.world.current('materials'), users: ctx.world.profiles(), audiences: ctx.world.memberships(), stats: ctx.world.statsBefore(from) }
    // The in-memory runs log only what is wrong, not their start-up.
    return backtest({ config: ctx.world.config, logger: ctx.logger.child({ component: 'backtest' }, { level: 'warn' }), snapshot, changes, events, window: { from, to }, warmupMs: b.data.warmupMs, cache, recorded: { decisions: [...ctx.world.decisions()], suppressions: [...ctx.world.suppressions()] } })
  })
}
