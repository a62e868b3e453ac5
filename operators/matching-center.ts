/**
 * Matching Center: decides *what* to send. For each candidate: the task must still be live and
 * the user in its audience; candidate materials are the task's active materials that target the
 * user's segments; each is scored from its Beta posterior (prior plus decayed impressions and
 * clicks from material-stats) under the policy of the user's experiment arm (or the task's
 * policy); the best is rendered with the triggering event's fields.
 */
import type { Processor, ProcessorContext, Record } from '../pipeline/api/index.ts'
import type { MaterialConfig, MaterialStats, TaskConfig } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { inAudience, ingestConfig, taskLive } from './config-ingest.ts'
import { decisionId } from './ids.ts'
import { assignArm, betaMean, posterior, score } from './scoring.ts'
import type { Settings } from './settings.ts'
import type { Candidate, MaterialChoice, ScoredCandidate, Suppression } from './types.ts'
import { forwardSuppression } from './types.ts'

export interface MatchingCenterOptions {
  topics: ConfigTopics
  settings: Settings
}

/** Fills `{{event.itemId}}`-style placeholders from the candidate; unknown ones become empty. */
export function render(template: string, data: { event: unknown; user: unknown; task: unknown }): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g, (_, path: string) => {
    let cur: unknown = data
    for (const part of path.split('.')) {
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return ''
      cur = (cur as { [k: string]: unknown })[part]
    }
    return cur === null || cur === undefined || typeof cur === 'object' ? '' : String(cur)
  })
}

/** Whether a material may go to a user: active, and targeting one of the user's segments (or everyone). */
export function materialTargets(m: MaterialConfig | undefined, segments: readonly string[]): m is MaterialConfig {
  return !!m && m.status === 'active' && (m.segments.length === 0 || m.segments.some((s) => segments.includes(s)))
}

export function matchingCenter(options: MatchingCenterOptions): Processor<Candidate, ScoredCandidate> {
  const { topics, settings } = options
  let ctx!: ProcessorContext<ScoredCandidate>

  const suppress = (s: Suppression): void => forwardSuppression(ctx, s)

  return {
    init(c) {
      ctx = c
    },
    processBroadcast(record) {
      // Tasks and materials are also ingested by the Task Center, which dead-letters bad ones;
      // only the stats are this node's to report.
      ingestConfig(ctx, topics, {
        tasks: ctx.broadcastStore<TaskConfig>('tasks'),
        materials: ctx.broadcastStore<MaterialConfig>('materials'),
        stats: ctx.broadcastStore<MaterialStats>('stats'),
      }, record, { deadLetter: record.topic === topics.stats })
    },
    process(record: Record<Candidate>) {
      const c = record.value
      const tasks = ctx.broadcastStore<TaskConfig>('tasks')
      const materials = ctx.broadcastStore<MaterialConfig>('materials')
      const stats = ctx.broadcastStore<MaterialStats>('stats')
      const task = tasks.get(c.taskId)
      const base = { userId: c.userId, taskId: c.taskId, ts: record.timestamp, triggerEventId: c.triggerEventId }
      if (!taskLive(task, record.timestamp)) return suppress({ ...base, materialId: null, reason: 'expired' })
      if (!inAudience(task, c.user.segments)) return suppress({ ...base, materialId: null, reason: 'excluded' })
      const candidates = task.materials.map((id) => materials.get(id)).filter((m): m is MaterialConfig => materialTargets(m, c.user.segments))
      if (candidates.length === 0) return suppress({ ...base, materialId: null, reason: 'no_material' })
      const id = decisionId(c.userId, c.taskId, c.trigger)
      let policy = task.policy
      let experimentId: string | null = null
      let arm: string | null = null
      if (task.experiment) {
        const a = assignArm(task.experiment.id, c.userId, task.experiment.arms)
        policy = a.policy
        experimentId = task.experiment.id
        arm = a.name
      }
      const withStats = candidates.map((m) => {
        const s = stats.get(m.materialId)
        return { m, impressions: s?.impressions ?? 0, p: posterior(m.prior, s?.impressions ?? 0, s?.clicks ?? 0) }
      })
      const total = withStats.reduce((sum, x) => sum + x.impressions, 0)
      // Rank every candidate material; ties keep the task's order (a stable sort).
      const ranked = withStats
        .map((x) => ({ ...x, score: score(policy, x.p, `${id}\u0000${x.m.materialId}`, total, settings.scoring.ucbC) }))
        .sort((a, b) => b.score - a.score)
      const data = { event: c.event, user: c.user, task: { taskId: task.taskId } }
      const choice = (r: (typeof ranked)[number]): MaterialChoice => ({
        materialId: r.m.materialId,
        title: render(r.m.title, data),
        body: render(r.m.body, data),
        deeplink: r.m.deeplink === null ? null : render(r.m.deeplink, data),
        score: r.score,
        expectedCtr: betaMean(r.p),
      })
      const [first, ...rest] = ranked
      ctx.forward(
        record.withValue<ScoredCandidate>({
          ...c,
          decisionId: id,
          priority: task.priority,
          channel: task.channel,
          ...choice(first as (typeof ranked)[number]),
          alternatives: rest.map(choice),
          policy,
          experimentId,
          arm,
          minExpectedCtr: task.minExpectedCtr,
          fatigueCost: task.fatigueCost ?? null,
          quietHours: task.quietHours,
          taskFatigue: task.fatigue ?? null,
          rateLimit: task.rateLimit ?? null,
        }),
      )
    },
  }
}
