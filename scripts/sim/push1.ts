/**
 * Push 1.0, the baseline Hermes is measured against (issue 12): one push per opted-in user per
 * day at a fixed local hour (20:00 by default: the evening peak of the world's rhythms, which is
 * in the baseline's favour), all users getting the same scene, and no learning.
 *
 * The scene is the globally best one, chosen with hindsight in the baseline's favour: every
 * candidate scene is judged in the same world for every send (same users, same moments, same
 * random numbers), and the report uses the scene with the best average true click rate. A scene
 * is a material that targets everyone: generic copy as it is, or price-drop copy as "deal of the
 * day" (the item with the biggest price drop of the last 24 hours, the same for every user).
 */
import { localMs } from '../../operators/clock.ts'
import type { ClickDraw, ClickFactors, Push } from './clicks.ts'
import { clickProbability, drawClick, PushLedger } from './clicks.ts'
import type { SampleMaterial } from './sample-config.ts'
import type { World } from './world.ts'
import { DAY, HOUR } from './world.ts'

/** One sent push of a system, judged by the world. */
export interface JudgedPush {
  userId: string
  decisionId: string
  taskId: string
  materialId: string
  itemId: string | null
  sendAt: number
  p: number
  delivered: boolean
  clicked: boolean
  /** The click model's factors, when kept. */
  factors?: ClickFactors
  /** Event time of the push's trigger (behavior or item event), when it had one: the send's delay is `sendAt - triggerTs`. */
  triggerTs?: number
}

/** A scene's results over the run. */
export interface SceneResult {
  scene: string
  materialId: string
  pushes: JudgedPush[]
  /** Sum of the true click probabilities of its pushes. */
  expectedClicks: number
}

/** Options of {@link Push1}. */
export interface Push1Options {
  /** Local hour of the daily push (0..23); default 20. */
  hour?: number
  materials: SampleMaterial[]
}

/** The baseline, advanced hour by hour beside the world. */
export class Push1 {
  readonly hour: number
  private readonly scenes: Array<{ result: SceneResult; ledger: PushLedger; material: SampleMaterial; deal: boolean }>
  private readonly dealCache = new Map<number, number>()

  constructor(
    private readonly world: World,
    o: Push1Options,
  ) {
    this.hour = o.hour ?? 20
    this.scenes = o.materials
      .filter((m) => m.segments.length === 0 && (m.kind === 'generic' || m.kind === 'price_drop'))
      .map((m) => {
        const deal = m.kind === 'price_drop'
        return { material: m, deal, ledger: new PushLedger(), result: { scene: deal ? `deal of the day (${m.materialId})` : `${m.materialId} to everyone`, materialId: m.materialId, pushes: [], expectedClicks: 0 } }
      })
  }

  /** The instant in `[hourStart, hourStart + 1 h)` when it is `hour`:00 for the user, or null. */
  static sendTime(hourStart: number, timezone: string, hour: number): number | null {
    const minuteOfDay = Math.floor((((localMs(hourStart, timezone) % DAY) + DAY) % DAY) / 60_000)
    const wait = (((hour * 60 - minuteOfDay) % 1440) + 1440) % 1440
    return wait * 60_000 < HOUR ? hourStart + wait * 60_000 : null
  }

  /** Sends the pushes due in the hour starting at `hourStart` (call after the world advanced past it). */
  step(hourStart: number): void {
    for (const u of this.world.users) {
      if (!u.pushEnabled) continue
      const at = Push1.sendTime(hourStart, u.timezone, this.hour)
      if (at === null) continue
      const day = Math.floor((at - this.world.start) / DAY)
      // One decision id per user and day for every scene: the scenes are compared on the same draws.
      const decisionId = `push1-${u.userId}-${day}`
      for (const s of this.scenes) {
        let itemId: string | null = null
        if (s.deal) itemId = this.world.itemIds[this.deal(at)] as string
        const push: Push = { userId: u.userId, decisionId, sendAt: at, materialId: s.material.materialId, itemId }
        const { p } = clickProbability(this.world, push, s.material.appeal, s.ledger)
        s.ledger.add(u.userId, at, itemId)
        const draw: ClickDraw = drawClick(this.world.seed, push, p)
        s.result.pushes.push({ ...push, taskId: 'push1', p, delivered: draw.delivered, clicked: draw.clicked })
        s.result.expectedClicks += p
      }
    }
  }

  /**
   * The deal of the day at `at`: the item with the biggest drop in the last 24 hours (of the
   * last week when there was none; the most popular item when the world has had no drop yet),
   * so the baseline always sends.
   */
  private deal(at: number): number {
    let best = this.dealCache.get(at)
    if (best === undefined) {
      best = this.world.biggestDrop(at, DAY)
      if (best < 0) best = this.world.biggestDrop(at, 7 * DAY)
      if (best < 0) best = 0
      this.dealCache.set(at, best)
    }
    return best
  }

  /** Every scene's results, best average true click rate first (ties: scene name). */
  results(): SceneResult[] {
    const rate = (r: SceneResult): number => (r.pushes.length ? r.expectedClicks / r.pushes.length : 0)
    return this.scenes.map((s) => s.result).sort((a, b) => rate(b) - rate(a) || a.scene.localeCompare(b.scene))
  }

  /** The globally best scene (see the file's comment). */
  best(): SceneResult {
    return this.results()[0] as SceneResult
  }
}
