/**
 * Delivery and click feedback per user (topologies/material-stats.ts): joins each sent exposure
 * with the gateway's `push_delivered` / `push_failed` events and the user's `push_click` /
 * `push_open` events (all naming the decision in `attrs.decisionId`), and emits
 * - the material's impression: at the decision (`impressions: "decided"`, the default) or on
 *   delivery (`"delivered"`: a failed or never-delivered push is no impression; a click proves
 *   delivery);
 * - the material's click: once per decision, however many clicks and opens arrive;
 * - on the side output {@link EXAMPLES}, once `attributionWindowMs` after the send has passed,
 *   a labelled training example for the click model (clicked or not; operators/ctr-model.ts),
 *   unless the push failed or, counted on delivery, was never delivered. A later click still
 *   counts for its material.
 */
import type { Processor, ProcessorContext, Record, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor } from '../pipeline/api/index.ts'
import { CLICK_EVENTS } from './ctr-stats.ts'
import type { Feedback } from './ctr-stats.ts'
import type { Exposure } from './exposures.ts'
import type { BehaviorEvent } from './types.ts'

/** Side output of training examples for the click model. */
export const EXAMPLES = 'examples'

/** Event types a push gateway reports delivery with. */
export const DELIVERY_EVENTS = new Set(['push_delivered', 'push_failed'])

/** A labelled example for the click model (operators/ctr-learner.ts). */
export interface TrainingExample {
  features: number[]
  /** Level features (bias, material): learned with a wider prior, left out of predictions. */
  level: number[]
  offset: number
  clicked: boolean
}

/** What reaches the join: a sent exposure, or a feedback event naming its decision. */
export type FeedbackInput =
  | { kind: 'exposure'; exposure: Exposure }
  | { kind: 'click' | 'delivered' | 'failed'; decisionId: string; materialId: string | null }

/** A sent exposure as input of the join; other exposures carry no feedback. */
export function exposureInput(e: Exposure): FeedbackInput[] {
  return e.status === 'sent' && e.decisionId !== null && e.materialId !== null ? [{ kind: 'exposure', exposure: e }] : []
}

/** A click, open, delivery or failure event naming its decision, as input of the join. */
export function eventInput(e: BehaviorEvent): FeedbackInput[] {
  const decisionId = e.attrs?.decisionId
  if (typeof decisionId !== 'string' || decisionId === '') return []
  const materialId = typeof e.attrs?.materialId === 'string' ? e.attrs.materialId : null
  if (CLICK_EVENTS.has(e.type)) return [{ kind: 'click', decisionId, materialId }]
  if (e.type === 'push_delivered') return [{ kind: 'delivered', decisionId, materialId }]
  if (e.type === 'push_failed') return [{ kind: 'failed', decisionId, materialId }]
  return []
}

/** A sent push waiting for its feedback, per user and decision. */
interface Pending {
  materialId: string
  features: number[] | null
  level: number[]
  offset: number
  impressions: 'decided' | 'delivered'
  delivered: boolean
  failed: boolean
  clicked: boolean
}

const TIMER = 'a:'

/** The join; stores `pending` (map by decision id) and `clicked` (window store of clicked decisions). */
export function feedbackJoin(options: { attributionWindowMs: number }): Processor<FeedbackInput, Feedback> {
  let ctx!: ProcessorContext<Feedback>
  /** The impression of a push, for its material's counts. */
  const impression = (p: Pending, decisionId: string, ts: number): void =>
    ctx.forward(new RecordCtor<Feedback>({ key: ctx.currentKey(), value: { materialId: p.materialId, decisionId, kind: 'impression' }, timestamp: ts }))
  return {
    init(c) {
      ctx = c
    },
    process(record: Record<FeedbackInput>) {
      const v = record.value
      const ts = record.timestamp
      const pending = ctx.mapStore<Pending>('pending')
      if (v.kind === 'exposure') {
        const e = v.exposure
        const id = e.decisionId as string
        // A redelivered exposure: its push is already waiting (or was already counted).
        if (pending.has(id) || ctx.windowStore('exposed').latest(id) !== undefined) return
        ctx.windowStore('exposed').add(ts, 1, id)
        const p: Pending = { materialId: e.materialId as string, features: e.features, level: e.level ?? [], offset: e.offset ?? 0, impressions: e.impressions ?? 'decided', delivered: false, failed: false, clicked: false }
        pending.put(id, p)
        ctx.timers.registerEventTime(e.ts + options.attributionWindowMs, `${TIMER}${id}`)
        if (p.impressions === 'decided') impression(p, id, ts)
        return
      }
      const p = pending.get(v.decisionId)
      if (v.kind === 'click') {
        const seen = ctx.windowStore('clicked')
        if (seen.latest(v.decisionId) !== undefined) return
        seen.add(ts, 1, v.decisionId)
        const materialId = p?.materialId ?? v.materialId
        if (materialId === null) return
        if (p) {
          // Counted on delivery but not reported delivered: a click proves it was.
          if (p.impressions === 'delivered' && !p.delivered) impression(p, v.decisionId, ts)
          pending.put(v.decisionId, { ...p, delivered: true, clicked: true })
        }
        ctx.forward(new RecordCtor<Feedback>({ key: ctx.currentKey(), value: { materialId, decisionId: v.decisionId, kind: 'click' }, timestamp: ts }))
        return
      }
      if (!p || p.delivered || p.failed) return
      if (v.kind === 'failed') return pending.put(v.decisionId, { ...p, failed: true })
      pending.put(v.decisionId, { ...p, delivered: true })
      if (p.impressions === 'delivered') impression(p, v.decisionId, ts)
    },
    onTimer(timer: Timer) {
      if (!timer.name.startsWith(TIMER)) return
      // The attribution window is over: the label is known.
      const id = timer.name.slice(TIMER.length)
      const pending = ctx.mapStore<Pending>('pending')
      const p = pending.get(id)
      if (!p) return
      pending.delete(id)
      if (p.features === null || p.failed || (p.impressions === 'delivered' && !p.delivered)) return
      const example: TrainingExample = { features: p.features, level: p.level, offset: p.offset, clicked: p.clicked }
      ctx.forwardTo(EXAMPLES, new RecordCtor<TrainingExample>({ key: timer.key, value: example, timestamp: timer.time }))
    },
  }
}
