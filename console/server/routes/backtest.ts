/** POST /backtest: the current configuration against proposed changes over recorded events; GET /backtest/progress. */
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Changes } from '../backtest.ts'
import { ReplayClient } from '../replay-client.ts'
import { historyOfSnapshot } from '../replay-history.ts'
import type { WindowConfig } from '../replay.ts'
import { parseSettings } from '../../../operators/settings.ts'
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
  /** Only this much history before `from` is replayed (default: all of it, which reproduces the world). */
  warmupMs: z.number().int().nonnegative().max(30 * DAY).optional(),
})

export function backtestRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  // One worker: it keeps the snapshots of the history before the windows asked for, and the
  // current configuration's runs, across backtests.
  const replays = new ReplayClient({ config: ctx.world.config, logger: ctx.logger })
  api.addHook('onClose', async () => replays.close())
  const settings = parseSettings(ctx.world.config.hermes)
  const partitions = (): number => ctx.world.config.topics.defaultPartitions
  const current = (): WindowConfig => ({ tasks: ctx.world.current('tasks'), materials: ctx.world.current('materials'), audiences: ctx.world.current('audiences') })
  // Embedded, the recorded runs are known at start: the history before the default window (the
  // last day) and the day with the configuration in force are replayed in the background at
  // once, so the first backtest finds both ready and replays the day once, with its proposal.
  const history = ctx.world.history?.bind(ctx.world)
  const events = ctx.world.events()
  if (history && events.length) {
    const to = (events[events.length - 1] as { ts: number }).ts + 1
    replays.warm({ history: history(), current: current(), window: { from: to - DAY, to }, eventsTopic: settings.topics.events }).catch((err: unknown) => {
      if (!/closing/.test((err as Error).message)) ctx.logger.warn({ err: (err as Error).message }, 'the background replay of the last day failed; a backtest replays it when asked')
    })
  }
  api.get('/backtest/progress', async () => replays.progress)
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
    const config = current()
    const history = ctx.world.history?.() ?? historyOfSnapshot(settings, partitions, { ...config, tasks: config.tasks.values(), materials: config.materials.values(), audiences: ctx.world.memberships(), users: ctx.world.profiles(), events, items: ctx.world.itemEvents() })
    return replays.backtest({ history, current: config, changes, window: { from, to }, ...(b.data.warmupMs !== undefined ? { warmupMs: b.data.warmupMs } : {}), eventsTopic: settings.topics.events, recorded: { decisions: [...ctx.world.decisions()], suppressions: [...ctx.world.suppressions()] } })
  })
}
