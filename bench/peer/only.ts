/** `--only` of bench/peer/compare.ts: which guarantees, engines and measurements to run. */
import { MEASUREMENTS } from './result.ts'
import type { Engine, Guarantee, Measurement } from './result.ts'

const GUARANTEES: readonly Guarantee[] = ['at_least_once', 'exactly_once', 'exactly_once_v2']
const ENGINES: readonly Engine[] = ['hermes', 'kafka-streams']

/** What a side-by-side run covers, each list in table order. */
export interface Selection {
  guarantees: Guarantee[]
  engines: Engine[]
  measurements: Measurement[]
}

/**
 * Parses a comma-separated list of guarantees, engines and measurements. A kind not named is run
 * in full (`exactly_once` runs both engines and all three measurements under exactly-once only);
 * `restore` brings `throughput` along, since it restores the state that run built.
 * @throws Error naming the unknown word and the accepted ones.
 */
export function parseOnly(text: string): Selection {
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)
  const known = [...GUARANTEES, ...ENGINES, ...MEASUREMENTS] as string[]
  for (const w of words) {
    if (!known.includes(w)) throw new Error(`--only: unknown "${w}"; use a comma-separated list of ${known.join(', ')}`)
  }
  const pick = <T extends string>(all: readonly T[]): T[] => {
    const named = all.filter((x) => words.includes(x))
    return named.length ? named : [...all]
  }
  const measurements = pick(MEASUREMENTS)
  if (measurements.includes('restore') && !measurements.includes('throughput')) measurements.unshift('throughput')
  return { guarantees: pick(GUARANTEES), engines: pick(ENGINES), measurements }
}
