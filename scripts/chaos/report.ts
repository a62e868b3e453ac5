/** The printed verdict of a chaos run: counts of both runs, then every kind of difference. */
import type { ReadRecord, TopicComparison } from './compare.ts'
import { differenceCounts, suppressionReasons } from './compare.ts'

/** What one run wrote, read back with read_committed. */
export interface RunOutputs {
  decisions: readonly ReadRecord[]
  suppressions: readonly ReadRecord[]
  deadLetters: number
}

/** Examples of each kind of difference shown per topic (all of them are in the JSON report). */
const EXAMPLES = 5

/** The report's lines; `ok` is false when anything was lost, duplicated, different or extra. */
export function verdict(o: { seed: number; replay: string; reference: RunOutputs; fault: RunOutputs; decisions: TopicComparison; suppressions: TopicComparison; notes: readonly string[] }): { ok: boolean; lines: string[] } {
  const lines: string[] = []
  const reasons = { reference: suppressionReasons(o.reference.suppressions), fault: suppressionReasons(o.fault.suppressions) }
  const allReasons = [...new Set([...Object.keys(reasons.reference), ...Object.keys(reasons.fault)])].sort()
  lines.push(`chaos run, seed ${o.seed}`)
  lines.push(`                          reference   fault run`)
  const row = (name: string, a: number, b: number): string => `  ${name.padEnd(24)}${String(a).padStart(9)}${String(b).padStart(12)}${a === b ? '' : '   <-'}`
  lines.push(row('decisions', o.reference.decisions.length, o.fault.decisions.length))
  lines.push(row('suppressions', o.reference.suppressions.length, o.fault.suppressions.length))
  for (const r of allReasons) lines.push(row(`  ${r}`, reasons.reference[r] ?? 0, reasons.fault[r] ?? 0))
  lines.push(row('dead letters', o.reference.deadLetters, o.fault.deadLetters))
  let ok = o.reference.deadLetters === o.fault.deadLetters
  for (const [name, c] of [['decisions', o.decisions], ['suppressions', o.suppressions]] as const) {
    const n = differenceCounts(c)
    lines.push(`${name}: ${n.lost} lost, ${n.duplicated} duplicated, ${n.different} different, ${n.extra} extra`)
    if (c.differences.length) ok = false
    for (const kind of ['lost', 'duplicated', 'different', 'extra'] as const) {
      for (const d of c.differences.filter((x) => x.kind === kind).slice(0, EXAMPLES)) {
        lines.push(`  ${kind} ${d.id}`)
        if (d.reference) lines.push(`    reference: ${d.reference}`)
        if (d.fault) lines.push(`    fault run: ${d.fault}`)
      }
    }
  }
  for (const note of o.notes) lines.push(`note: ${note}`)
  lines.push(ok ? `OK: the fault run equals the crash-free run (${o.replay})` : `DIFFERENT: the fault run does not equal the crash-free run; replay with ${o.replay}`)
  return { ok, lines }
}
