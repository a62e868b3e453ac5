/**
 * Matching Center: decides *what* to send. For each candidate: the task must still be live and
 * the user in its audience; candidate materials are the task's active materials that target the
 * user's segments; each is scored from its Beta posterior (prior plus decayed impressions and
 * clicks from material-stats) under the policy of the user's experiment arm (or the task's
 * policy); the best material whose templates render completely (operators/templates.ts) is
 * chosen, the others that render stay as alternatives, and a candidate none of whose materials
 * renders is suppressed as `template_incomplete`, never sent with a hole in its text.
 */
import type { Processor, ProcessorContext, Record } from '../pipeline/api/index.ts'
import type { MaterialConfig, MaterialStats, TaskConfig } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { inAudience, ingestConfig, taskLive } from './config-ingest.ts'
import { decisionId } from './ids.ts'
import { assignArm, betaMean, posterior, score } from './scoring.ts'
import type { Settings } from './settings.ts'
import type { TemplateData } from './templates.ts'
import { renderTemplate } from './templates.ts'
import type { Candidate, MaterialChoice, ScoredCandidate, Suppression } from './types.ts'
import { forwardSuppression } from './types.ts'

export interface MatchingCenterOptions {
  topics: ConfigTopics
  settings: Settings
}

/**
 * Renders a material's title, body and deeplink for a candidate: the texts, or the first
 * placeholder (as `title: {{event.itemId}}`) that has neither a value nor a fallback.
 */
export function renderMaterial(m: MaterialConfig, data: TemplateData): { ok: true; title: string; body: string; deeplink: string | null } | { ok: false; missing: string } {
  const title = renderTemplate(m.title, data, m.fallbacks)
  if (!title.ok) return { ok: false, missing: `title: {{${title.missing}}}` }
  const body = renderTemplate(m.body, data, m.fallbacks)
  if (!body.ok) return { ok: false, missing: `body: {{${body.missing}}}` }
  if (m.deeplink === null) return { ok: true, title: title.text, body: body.text, deeplink: null }
  const deeplink = renderTemplate(m.deeplink, data, m.fallbacks)
  if (!deeplink.ok) return { ok: false, missing: `deeplink: {{${deeplink.missing}}}` }
  return { ok: true, title: title.text, body: body.text, deeplink: deeplink.text }
}

/** Whether a material may go to a user: active, and targeting one of the user's segments (or everyone). */
export function materialTargets(m: MaterialConfig | undefined, segments: readonly string[]): m is MaterialConfig {
  return !!m && m.status === 'active' && (m.segments.length === 0 || m.segments.some((s) => segments.includes(s)))
}

export function matchingCenter(options: MatchingCenterOptions): Processor<Candidate, ScoredCandidate> {
  const { topics, settings } = options
  let ctx!: ProcessorContext<ScoredCandidate>

  const suppress = (s: Suppression): void => forwardSuppression(ctx, s)
  // (material, placeholder) pairs already logged as missing by this instance: a material that
  // cannot render for many candidates is logged once, and counted for each.
  const missingLogged = new Set<string>()

  /** Counts a material skipped for a missing placeholder, and logs it once per material and field. */
  const incomplete = (materialId: string, taskId: string, missing: string): void => {
    ctx.count('template_incomplete', { reason: materialId })
    const key = `${materialId}\u0000${missing}`
    if (missingLogged.has(key)) return
    missingLogged.add(key)
    ctx.log.warn({ materialId, taskId, placeholder: missing }, `material ${materialId} has no value and no fallback for ${missing}; it is skipped for such candidates (add it to the material's "fallbacks" to send them)`)
  }

  return {
    init(c) {
      ctx = c
    },
    processBroadcast(record) {
      // Tasks and materials are also ingested by the Task Center, which dead-letters bad ones;
      // only the stats are this node's to report.
      const result = ingestConfig(ctx, topics, {
        tasks: ctx.broadcastStore<TaskConfig>('tasks'),
        materials: ctx.broadcastStore<MaterialConfig>('materials'),
        stats: ctx.broadcastStore<MaterialStats>('stats'),
      }, record, { deadLetter: record.topic === topics.stats, materialWaitMs: settings.materialWaitMs })
      // A changed material (new fallbacks, new text) gets its first miss logged again.
      if (result.kind === 'material') for (const key of missingLogged) if (key.startsWith(`${result.id}\u0000`)) missingLogged.delete(key)
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
      const data: TemplateData = { event: c.event, user: c.user, task: { taskId: task.taskId } }
      // Best first, only the materials whose templates render completely for this candidate.
      const choices: MaterialChoice[] = []
      for (const r of ranked) {
        const text = renderMaterial(r.m, data)
        if (!text.ok) incomplete(r.m.materialId, task.taskId, text.missing)
        else choices.push({ materialId: r.m.materialId, title: text.title, body: text.body, deeplink: text.deeplink, score: r.score, expectedCtr: betaMean(r.p) })
      }
      const [first, ...rest] = choices
      if (first === undefined) return suppress({ ...base, materialId: (ranked[0] as (typeof ranked)[number]).m.materialId, reason: 'template_incomplete' })
      ctx.forward(
        record.withValue<ScoredCandidate>({
          ...c,
          decisionId: id,
          priority: task.priority,
          channel: task.channel,
          ...first,
          alternatives: rest,
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
