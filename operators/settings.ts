/**
 * Settings of the decision flow: the `hermes` section of the configuration. Validated when the
 * topology is built, so a wrong value stops start-up with the field named.
 */
import { z } from 'zod'
import { TopologyError } from '../pipeline/api/index.ts'
import { modelSettingsSchema } from './model-settings.ts'

const H = 3_600_000
const positive = z.number().int().positive()

/** Default of `hermes.materialWaitMs`: ten minutes of event time. */
export const DEFAULT_MATERIAL_WAIT_MS = 10 * 60_000

/**
 * Default of `hermes.relations`: favorites for 90 days, carts for 30. Views, the most frequent
 * events, are left to deployments that want them (`view: {events: [view], ttlMs: ...}`): every
 * relation event crosses to the item side.
 */
export const DEFAULT_RELATIONS = {
  fav: { events: ['favorite'], removedBy: ['unfavorite'], ttlMs: 90 * 24 * H },
  cart: { events: ['add_to_cart'], removedBy: ['cart_remove', 'purchase'], ttlMs: 30 * 24 * H },
}

/** A legal Kafka topic name. */
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: 1-249 of A-Z a-z 0-9 . _ -')

export const settingsSchema = z
  .object({
    /** Topic names of the flow (e.g. with an environment prefix); the operators route records by them. */
    topics: z
      .object({
        events: topicName.default('behavior-events'),
        audiences: topicName.default('config.audiences'),
        users: topicName.default('config.users'),
        tasks: topicName.default('config.tasks'),
        materials: topicName.default('config.materials'),
        stats: topicName.default('material-stats'),
        decisions: topicName.default('push-decisions'),
        suppressions: topicName.default('push-suppressions'),
        /** What happens to items (price drops, restocks), keyed by itemId: the input of item triggers. */
        items: topicName.default('item-events'),
        // Click model and experiments (operators/model-settings.ts): every candidate's exposure, the learned weights.
        exposures: topicName.default('exposures'),
        model: topicName.default('ctr-model'),
      })
      .strict()
      .prefault({}),
    /** Application ids: consumer groups, and prefixes of internal topics, changelogs and state. */
    applications: z
      .object({
        decisions: topicName.default('push-decisions'),
        stats: topicName.default('material-stats'),
      })
      .strict()
      .prefault({}),
    fatigue: z
      .object({
        /** Pushes per user per rolling window. */
        userMax: positive.default(3),
        userWindowMs: positive.default(24 * H),
        /** Pushes of one material to one user per rolling window. */
        materialMax: positive.default(1),
        materialWindowMs: positive.default(7 * 24 * H),
        /**
         * What the material cap counts: pushes of the `material` (its template, whatever it was
         * about), or of the `content`, the material about one item (the candidate's itemId), so
         * that a price drop on a second item is not capped by the first one's push.
         */
        materialPer: z.enum(['material', 'content']).default('material'),
        /** Minimum time between two pushes to a user. */
        minGapMs: z.number().int().nonnegative().default(30 * 60_000),
        /** Quiet hours in the user's local time: from `quietStartHour` up to (not including) `quietEndHour`. */
        quietStartHour: z.number().int().min(0).max(23).default(22),
        quietEndHour: z.number().int().min(0).max(23).default(8),
        /** Candidates for one user within this window compete; the best wins. */
        arbitrationWindowMs: z.number().int().nonnegative().default(1000),
        /** Threshold multiplier per push in the last 24 h for the whether-to-send check. */
        fatigueCost: z.number().nonnegative().default(0.5),
      })
      .strict()
      .prefault({}),
    scoring: z
      .object({
        /** Exploration weight of UCB. */
        ucbC: z.number().nonnegative().default(0.1),
      })
      .strict()
      .prefault({}),
    stats: z
      .object({
        /** Half-life of the decayed impression and click counts. */
        halfLifeMs: positive.default(7 * 24 * H),
        /** A material's stats are published at most once per this interval (event time). */
        publishIntervalMs: positive.default(60_000),
      })
      .strict()
      .prefault({}),
    /**
     * Idempotent decisions: the decision ids of each user's candidates (born in the Task Center,
     * sent or suppressed by fatigue) are remembered this long (event time), at most
     * `maxIdsPerUser` of them, so a redelivered or replayed trigger yields nothing a second time.
     */
    dedup: z
      .object({
        ttlMs: positive.default(31 * 24 * H),
        maxIdsPerUser: positive.default(256),
      })
      .strict()
      .prefault({}),
    /**
     * User-item relations by type (operators/relations.ts): the behavior event types that build
     * one (`events`), those that end it (`removedBy`) and how long it lasts after its latest
     * event (`ttlMs`). Setting it replaces the defaults as a whole.
     */
    relations: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a relation type: 1-64 of A-Z a-z 0-9 _ . -'),
        z
          .object({
            events: z.array(z.string().min(1)).min(1),
            removedBy: z.array(z.string().min(1)).default([]),
            ttlMs: positive,
          })
          .strict()
          .superRefine((r, ctx) => {
            const both = r.events.filter((e) => r.removedBy.includes(e))
            if (both.length) ctx.addIssue({ code: 'custom', path: ['removedBy'], message: `${both.join(', ')} both builds and removes the relation; list it in events or in removedBy` })
          }),
      )
      .default(DEFAULT_RELATIONS),
    /**
     * Relations kept per item (the most recent win): bounds an item's state, and so the users one
     * item event can reach.
     */
    maxRelationsPerItem: positive.default(10_000),
    /** The click model, held pushes and delivery feedback (operators/model-settings.ts). */
    model: modelSettingsSchema.prefault({}),
    /** Activity histogram decay per week (0..1): the weight old weeks keep. */
    histogramDecay: z.number().min(0).max(1).default(0.8),
    /**
     * A schedule fire or personalized send that the watermark passed by more than this (a gap in
     * the input) is skipped as missed; a later one still goes out.
     */
    missedFireToleranceMs: positive.default(24 * H),
    /**
     * A task naming a material not yet seen waits this long (event time, from the task record's
     * time or the watermark, whichever is later) for it, keeping its previous version in force,
     * then goes to the dead-letter topic with the missing materials named.
     */
    materialWaitMs: z.number().int().nonnegative().default(DEFAULT_MATERIAL_WAIT_MS),
  })
  .strict()

export type Settings = z.infer<typeof settingsSchema>

/**
 * Validates the `hermes` section.
 * @throws TopologyError naming each bad field (`hermes.<path>`) and what is allowed.
 */
export function parseSettings(raw: unknown): Settings {
  const r = settingsSchema.safeParse(raw ?? {})
  if (r.success) return r.data
  throw new TopologyError(`invalid settings: ${r.error.issues.map((i) => `hermes.${i.path.join('.')}: ${i.message}`).join('; ')}`)
}
