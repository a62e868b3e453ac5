/**
 * CTR feedback (topologies/material-stats.ts): impressions and clicks per material (from the
 * per-user feedback join, operators/feedback.ts, which counts each click once per decision),
 * decayed exponentially and published per material at most once per interval to the compacted
 * material-stats topic.
 */
import type { Processor, ProcessorContext, Record, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor } from '../pipeline/api/index.ts'
import type { MaterialStats } from './config.ts'

/** One feedback signal for a material's counts, keyed by user before the re-keying and by material after. */
export interface Feedback {
  materialId: string
  decisionId: string
  kind: 'impression' | 'click'
}

/** Event types that count as a click on a push. */
export const CLICK_EVENTS = new Set(['push_click', 'push_open'])

/** Decays counts from `from` to `to` with the given half-life. */
export function decay(value: number, from: number, to: number, halfLifeMs: number): number {
  return to > from ? value * 2 ** (-(to - from) / halfLifeMs) : value
}

/** Per material: decayed impression and click counts, published at most once per interval. */
export function ctrStats(options: { halfLifeMs: number; publishIntervalMs: number }): Processor<Feedback, MaterialStats> {
  let ctx!: ProcessorContext<MaterialStats>
  const current = (at: number): MaterialStats | undefined => {
    const s = ctx.valueStore<MaterialStats>('stats').get()
    if (!s) return undefined
    return {
      materialId: s.materialId,
      impressions: decay(s.impressions, s.ts, at, options.halfLifeMs),
      clicks: decay(s.clicks, s.ts, at, options.halfLifeMs),
      ts: Math.max(at, s.ts),
    }
  }
  return {
    init(c) {
      ctx = c
    },
    process(record: Record<Feedback>) {
      const f = record.value
      const ts = record.timestamp
      const s = current(ts) ?? { materialId: f.materialId, impressions: 0, clicks: 0, ts }
      if (f.kind === 'impression') s.impressions += 1
      else s.clicks += 1
      ctx.valueStore<MaterialStats>('stats').put(s)
      const pending = ctx.valueStore<number>('publishAt')
      if (pending.get() === undefined) {
        const at = ts + options.publishIntervalMs
        pending.put(at)
        ctx.timers.registerEventTime(at, 'publish')
      }
    },
    onTimer(timer: Timer) {
      ctx.valueStore<number>('publishAt').delete()
      const s = current(timer.time)
      if (!s) return
      const rounded = { ...s, impressions: round(s.impressions), clicks: round(s.clicks) }
      ctx.forward(new RecordCtor<MaterialStats>({ key: s.materialId, value: rounded, timestamp: timer.time }))
    },
  }
}

/** Six decimals: enough for rates, and stable text in outputs. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6
}
