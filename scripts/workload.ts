/**
 * Seeded synthetic behavior events: users in several time zones with daily rhythms, a few
 * malformed lines and late arrivals, so every path of the engine is exercised. The same seed
 * always gives the same file.
 */
import { mulberry32 } from '../operators/ids.ts'

export interface WorkloadOptions {
  seed?: number
  users?: number
  events?: number
  /** Start of the simulated period (epoch ms). */
  start?: number
  days?: number
  /** Share of malformed lines. */
  malformed?: number
  /** Share of events that arrive far too late (beyond any grace). */
  late?: number
}

const TYPES = ['app_open', 'view', 'view', 'view', 'search', 'add_to_cart', 'chat', 'purchase', 'price_drop', 'push_open']
const OFFSETS_H = [8, 0, -5, 1, 5.5, 9]

/** Generates the events as JSONL lines, in event-time order except for the late ones. */
export function generateEvents(options: WorkloadOptions = {}): string[] {
  const rand = mulberry32(options.seed ?? 42)
  const users = options.users ?? 5000
  const total = options.events ?? 200_000
  const start = options.start ?? Date.UTC(2026, 10, 2)
  const days = options.days ?? 3
  const span = days * 86_400_000
  const malformed = options.malformed ?? 0.001
  const late = options.late ?? 0.002
  const offsets = Array.from({ length: users }, () => OFFSETS_H[Math.floor(rand() * OFFSETS_H.length)] as number)
  const times: Array<[number, number]> = []
  for (let i = 0; i < total; i++) {
    // Daily rhythm: accept a candidate time with a probability that peaks in the local evening.
    for (;;) {
      const t = start + Math.floor(rand() * span)
      const u = Math.floor(rand() * users)
      const localHour = (((t / 3_600_000 + (offsets[u] as number)) % 24) + 24) % 24
      const weight = 0.15 + 0.85 * Math.exp(-((localHour - 20) ** 2) / 18) + 0.4 * Math.exp(-((localHour - 12) ** 2) / 8)
      if (rand() < weight / 1.2) {
        times.push([t, u])
        break
      }
    }
  }
  times.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const lines: string[] = []
  for (let i = 0; i < times.length; i++) {
    const [t0, u] = times[i] as [number, number]
    let ts = t0
    if (rand() < late) ts -= 6 * 3_600_000
    if (rand() < malformed) {
      lines.push(rand() < 0.5 ? `{"eventId":"e${i}","userId":"u${u}","type":` : JSON.stringify({ eventId: `e${i}`, type: 'view', ts }))
      continue
    }
    const type = TYPES[Math.floor(rand() * TYPES.length)] as string
    const ev: { [k: string]: unknown } = { eventId: `e${i}`, userId: `u${u}`, type, ts }
    if (type === 'view' || type === 'add_to_cart' || type === 'price_drop') ev.itemId = `item-${Math.floor(rand() * 500)}`
    if (type === 'price_drop') ev.attrs = { dropPct: Math.floor(rand() * 40) }
    lines.push(JSON.stringify(ev))
  }
  return lines
}
