/**
 * Settings of the click model, held pushes and delivery feedback: the `hermes.model` block of the
 * configuration (composed into operators/settings.ts). Kept apart so the decision flow's other
 * settings and these can change independently.
 */
import { z } from 'zod'

const H = 3_600_000
const positive = z.number().int().positive()

/** `hermes.model`: the online click model (operators/ctr-model.ts) and held pushes. */
export const modelSettingsSchema = z
  .object({
    /**
     * Hashed feature space: weights are indexed by a 32-bit hash of the feature name modulo this
     * power of two. 4096 keeps the published model small and collisions rare for a few hundred
     * distinct features.
     */
    dims: positive.refine((n) => (n & (n - 1)) === 0 && n <= 1 << 16, { message: 'a power of two up to 65536, e.g. 4096' }).default(4096),
    /** Prior variance of every weight (Gaussian, mean 0): how far one feature may move the logit before data. */
    priorVariance: z.number().positive().default(0.25),
    /** Precision shrink per training example towards the prior, 0..1 (1: no forgetting): lets old evidence fade. */
    forgetting: z.number().gt(0).max(1).default(1),
    /**
     * A push becomes a training example this long after its send, clicked or not (a later click
     * still counts for its material). Clicks later than this are missed by the model's labels;
     * the level features absorb that shortfall (operators/ctr-model.ts).
     */
    attributionWindowMs: positive.default(2 * H),
    /** The learned weights take a batch update and are published at most once per this interval (event time). */
    publishIntervalMs: positive.default(5 * 60_000),
    /** Exploration of the `ucb` policy on the model: standard deviations of the logit added. */
    ucbAlpha: z.number().nonnegative().default(1),
    /** Numeric event attributes the model sees (bucketed), e.g. `dropPct` of a price drop. */
    attributes: z.array(z.string().min(1)).max(16).default(['dropPct', 'discountPct']),
    /**
     * Exploration of the send decision under the `thompson` policy (operators/matching-center.ts):
     * the share of candidates below `minExpectedCtr` that may be retried, each when a draw of its
     * material's rate clears the threshold. Bounds what exploring costs; above 0 no task starves.
     */
    exploreShare: z.number().min(0).max(1).default(0.1),
    /** Held pushes (task or arm `maxHoldMs`): the relevance of a trigger halves every this long, unless the task sets `holdHalfLifeMs`. */
    holdHalfLifeMs: positive.default(6 * H),
    /**
     * Exploration of the hold (operators/matching-center.ts): the share of triggered candidates
     * (a coin seeded by the decision id) whose hold prices only what the model has learned about
     * the trigger's age, not the configured half-life of the rest, so some pushes wait and the
     * model sees what older triggers earn. Without it a hold needs a learned decay to happen and a
     * decay is learned only from holds: the prior half-life decides forever. 0 switches it off.
     */
    holdExploreShare: z.number().min(0).max(1).default(0),
    /**
     * What prices the hour of a held push (operators/hold.ts). `model`: the click model's
     * activity features at each hour. `presence`: the user's own presence at the hour, from the
     * activity histogram (smoothed over neighbouring hours, as a multiple of an average hour, plus
     * `holdPresenceFloor`), times the click model's rate of everything but the hour. Why
     * `presence`: a week of pushes teaches the model only a fraction of the hour effect (the
     * activity bucket is a noisy measure of presence, and a noisy regressor's weight is shrunk),
     * so held pushes picked hours no better than sending at once (docs/quality.md); the user's
     * own history says when they are around from their first week.
     */
    holdHour: z.enum(['model', 'presence']).default('model'),
    /**
     * `holdHour: presence`: the presence of an hour the user is never active at, as a multiple of
     * an average hour (a push waits on the lock screen and is still seen later). Smaller makes
     * waiting for the user's active hours worth more.
     */
    holdPresenceFloor: z.number().positive().default(0.5),
    /** Waiting pays only when the expected clicks of the best later hour exceed those of now by this fraction. */
    holdMargin: z.number().nonnegative().default(0.1),
    /**
     * The push budget (operators/push-budget.ts): a candidate goes on only when fewer than
     * `pushesPerUserDay × windowMs / day` of the user's candidates in the last `windowMs` had a
     * higher expected click rate (else `low_value`). 0 (the default) switches it off.
     */
    budget: z
      .object({
        pushesPerUserDay: z.number().nonnegative().default(0),
        windowMs: positive.max(31 * 24 * H).default(7 * 24 * H),
        maxCandidates: positive.max(1024).default(64),
      })
      .strict()
      .superRefine((b, ctx) => {
        // More slots than remembered candidates: the budget could never bind.
        const slots = (b.pushesPerUserDay * b.windowMs) / (24 * H)
        if (slots > b.maxCandidates) ctx.addIssue({ code: 'custom', path: ['maxCandidates'], message: `the window holds ${slots} pushes, more than the ${b.maxCandidates} candidates remembered; raise maxCandidates to at least ${Math.ceil(slots)} or shorten windowMs` })
      })
      .prefault({}),
  })
  .strict()

/** The validated `hermes.model` block. */
export type ModelSettings = z.infer<typeof modelSettingsSchema>
