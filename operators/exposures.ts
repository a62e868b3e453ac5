/**
 * The exposure log: one record per candidate that reached a decision, whatever it was (sent,
 * suppressed, held out), with its experiment and arm, on the `exposures` topic (key: userId).
 * Per-arm reports (`hermes report experiments`) count users and pushes from it; the feedback
 * topology learns the click model from its `sent` records, which carry the model's features.
 */
import type { Processor, ProcessorContext, Record } from '../pipeline/api/index.ts'
import type { TaskConfig } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { ingestConfig } from './config-ingest.ts'
import { effectiveTask } from './experiments.ts'
import type { Decision, DecisionOut, Suppression } from './types.ts'

/** What became of a candidate. */
export type ExposureStatus = 'sent' | 'suppressed' | 'held_out'

/** One candidate's exposure (schemas/exposure.avsc). */
export interface Exposure {
  userId: string
  taskId: string
  /** Null for a candidate suppressed before the Matching Center (e.g. `cancelled.unless`). */
  decisionId: string | null
  materialId: string | null
  experimentId: string | null
  arm: string | null
  status: ExposureStatus
  /** The suppression reason; null when sent. */
  reason: string | null
  /** The send time when sent, else the time of the suppression. */
  ts: number
  /** The click model's expected click rate of a sent push. */
  expectedCtr: number | null
  /** Hashed feature indices of a sent push (operators/ctr-model.ts): what the model learns from. */
  features: number[] | null
  /** Hashed indices of the level features of a sent push (bias, material), learned apart (operators/ctr-model.ts). */
  level: number[] | null
  /** Logit offset of a sent push: the material's configured prior mean. */
  offset: number | null
  /** When the push's impression counts: at decision, or on `push_delivered`. */
  impressions: 'decided' | 'delivered' | null
}

/** The public decision: what push gateways read (the learning record stays internal). */
export function publicDecision(d: DecisionOut): Decision {
  const { learn: _internal, ...rest } = d
  return rest
}

/** A sent decision as an exposure. */
export function exposureOfDecision(d: DecisionOut): Exposure {
  return {
    userId: d.userId,
    taskId: d.taskId,
    decisionId: d.decisionId,
    materialId: d.materialId,
    experimentId: d.experimentId,
    arm: d.arm,
    status: 'sent',
    reason: null,
    ts: d.sendAt,
    expectedCtr: d.expectedCtr ?? null,
    features: d.learn?.features ?? null,
    level: d.learn?.level ?? null,
    offset: d.learn?.offset ?? null,
    impressions: d.learn?.impressions ?? 'decided',
  }
}

/** A suppression as an exposure: `held_out` for a holdout arm, else `suppressed` with its reason. */
export function exposureOfSuppression(s: Suppression): Exposure {
  return {
    userId: s.userId,
    taskId: s.taskId,
    decisionId: s.decisionId ?? null,
    materialId: s.materialId,
    experimentId: s.experimentId ?? null,
    arm: s.arm ?? null,
    status: s.reason === 'holdout' ? 'held_out' : 'suppressed',
    reason: s.reason,
    ts: s.ts,
    expectedCtr: null,
    features: null,
    level: null,
    offset: null,
    impressions: null,
  }
}

/**
 * Fills in the experiment and arm of exposures whose operator did not know them (the Task
 * Center's suppressions come before arm assignment), from the task as it is now: the arm is a
 * pure function of experiment and user, so it is the arm the candidate would have had.
 */
export function exposureArms(options: { topics: ConfigTopics }): Processor<Exposure, Exposure> {
  let ctx!: ProcessorContext<Exposure>
  return {
    init(c) {
      ctx = c
    },
    processBroadcast(record) {
      // The Task Center reports bad task records; this node only keeps the good ones.
      ingestConfig(ctx, options.topics, { tasks: ctx.broadcastStore<TaskConfig>('tasks') }, record, { deadLetter: false })
    },
    process(record: Record<Exposure>) {
      const e = record.value
      if (e.experimentId !== null) return ctx.forward(record)
      const task = ctx.broadcastStore<TaskConfig>('tasks').get(e.taskId)
      if (!task?.experiment) return ctx.forward(record)
      const eff = effectiveTask(task, e.userId)
      ctx.forward(record.withValue({ ...e, experimentId: eff.experimentId, arm: eff.arm }))
    },
  }
}
