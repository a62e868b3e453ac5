/**
 * `hermes report experiments`: per experiment and arm, from decisions, exposures and click
 * events (JSONL files, or topics read as `hermes consume` reads them): users, pushes, clicks,
 * click-through rate with its 95 % Wilson score interval, clicks per user with a 95 % normal
 * (Welch) interval, and each arm's difference to the control arm with its interval (Newcombe's
 * hybrid score interval for the CTR difference, Welch's for clicks per user).
 *
 * Counting. Users: distinct users with an exposure (or a decision) in the arm, whatever became
 * of it (sent, suppressed, held out). Pushes: decisions of the arm. Clicks: distinct decisions of
 * the arm with a `push_click` or `push_open` event naming them in `attrs.decisionId` (a repeated
 * click counts once). Clicks per user: a user's clicks in the arm, over the arm's users (holdout
 * users have none, by construction).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { HermesError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import { readTopicSince } from '../embedded/files.ts'
import type { HermesLogger } from '../observability/logger.ts'

const Z = 1.959963984540054
const CLICKS = new Set(['push_click', 'push_open'])

/** An interval, or null when there is no data to make one from. */
export type Interval = [number, number] | null

/** One arm's figures. */
export interface ArmReport {
  arm: string
  users: number
  pushes: number
  clicks: number
  ctr: number | null
  ctrInterval: Interval
  clicksPerUser: number | null
  clicksPerUserInterval: Interval
  /** Against the control arm; null for the control itself. */
  vsControl: { ctr: number | null; ctrInterval: Interval; clicksPerUser: number | null; clicksPerUserInterval: Interval } | null
}

/** One experiment's arms, the control first. */
export interface ExperimentReport {
  experimentId: string
  control: string
  arms: ArmReport[]
}

type Row = { [k: string]: unknown }

/** The 95 % Wilson score interval of a proportion k / n. */
export function wilson(k: number, n: number): Interval {
  if (n === 0) return null
  const p = k / n
  const z2 = Z * Z
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  const half = (Z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n)
  return [centre - half, centre + half]
}

/** Newcombe's (1998, method 10) interval of p1 - p2 from the two Wilson intervals. */
export function newcombe(k1: number, n1: number, k2: number, n2: number): Interval {
  const w1 = wilson(k1, n1)
  const w2 = wilson(k2, n2)
  if (!w1 || !w2) return null
  const p1 = k1 / n1
  const p2 = k2 / n2
  const d = p1 - p2
  return [d - Math.sqrt((p1 - w1[0]) ** 2 + (w2[1] - p2) ** 2), d + Math.sqrt((w1[1] - p1) ** 2 + (p2 - w2[0]) ** 2)]
}

/** Mean and sample variance. */
function moments(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length
  const variance = xs.length > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1) : 0
  return { mean, variance }
}

/** The 95 % normal interval of a mean. */
export function meanInterval(xs: readonly number[]): Interval {
  if (xs.length < 2) return null
  const { mean, variance } = moments(xs)
  const half = Z * Math.sqrt(variance / xs.length)
  return [mean - half, mean + half]
}

/** The 95 % Welch (unequal variances, normal quantile) interval of mean(a) - mean(b). */
export function welch(a: readonly number[], b: readonly number[]): Interval {
  if (a.length < 2 || b.length < 2) return null
  const x = moments(a)
  const y = moments(b)
  const d = x.mean - y.mean
  const half = Z * Math.sqrt(x.variance / a.length + y.variance / b.length)
  return [d - half, d + half]
}

/**
 * The report of every experiment found in the inputs. `control` names the control arm (default:
 * an arm named `control`, else the first arm by name).
 */
export function experimentReport(input: { decisions: Row[]; exposures: Row[]; events: Row[]; control?: string; experiment?: string }): ExperimentReport[] {
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
  // experiment → arm → { users, per-user clicks, pushes, clicks }
  const arms = new Map<string, Map<string, { users: Map<string, number>; pushes: number; clicks: number }>>()
  const armOf = (e: string, a: string) => {
    let byArm = arms.get(e)
    if (!byArm) arms.set(e, (byArm = new Map()))
    let s = byArm.get(a)
    if (!s) byArm.set(a, (s = { users: new Map(), pushes: 0, clicks: 0 }))
    return s
  }
  const wanted = (e: string): boolean => input.experiment === undefined || e === input.experiment
  for (const x of input.exposures) {
    const e = str(x.experimentId)
    const a = str(x.arm)
    const u = str(x.userId)
    if (e && a && u && wanted(e)) {
      const s = armOf(e, a)
      if (!s.users.has(u)) s.users.set(u, 0)
    }
  }
  // A decision is a push of its arm; its clicks belong to the arm and its user.
  const byDecision = new Map<string, { e: string; a: string; u: string }>()
  for (const d of input.decisions) {
    const e = str(d.experimentId)
    const a = str(d.arm)
    const u = str(d.userId)
    const id = str(d.decisionId)
    if (!e || !a || !u || !id || !wanted(e) || byDecision.has(id)) continue
    byDecision.set(id, { e, a, u })
    const s = armOf(e, a)
    s.pushes++
    if (!s.users.has(u)) s.users.set(u, 0)
  }
  const clicked = new Set<string>()
  for (const ev of input.events) {
    if (typeof ev.type !== 'string' || !CLICKS.has(ev.type)) continue
    const id = str((ev.attrs as Row | undefined)?.decisionId)
    const d = id === null ? undefined : byDecision.get(id)
    if (!d || clicked.has(id as string)) continue
    clicked.add(id as string)
    const s = armOf(d.e, d.a)
    s.clicks++
    s.users.set(d.u, (s.users.get(d.u) ?? 0) + 1)
  }
  const out: ExperimentReport[] = []
  for (const [experimentId, byArm] of [...arms].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const names = [...byArm.keys()].sort()
    const control = input.control !== undefined && byArm.has(input.control) ? input.control : byArm.has('control') ? 'control' : (names[0] as string)
    const c = byArm.get(control) as { users: Map<string, number>; pushes: number; clicks: number }
    const cPerUser = [...c.users.values()]
    const rows: ArmReport[] = []
    for (const arm of [control, ...names.filter((n) => n !== control)]) {
      const s = byArm.get(arm) as typeof c
      const perUser = [...s.users.values()]
      const ctr = s.pushes ? s.clicks / s.pushes : null
      const cpu = perUser.length ? s.clicks / perUser.length : null
      const cCtr = c.pushes ? c.clicks / c.pushes : null
      const cCpu = cPerUser.length ? c.clicks / cPerUser.length : null
      rows.push({
        arm,
        users: perUser.length,
        pushes: s.pushes,
        clicks: s.clicks,
        ctr,
        ctrInterval: wilson(s.clicks, s.pushes),
        clicksPerUser: cpu,
        clicksPerUserInterval: meanInterval(perUser),
        vsControl:
          arm === control
            ? null
            : {
                ctr: ctr !== null && cCtr !== null ? ctr - cCtr : null,
                ctrInterval: newcombe(s.clicks, s.pushes, c.clicks, c.pushes),
                clicksPerUser: cpu !== null && cCpu !== null ? cpu - cCpu : null,
                clicksPerUserInterval: welch(perUser, cPerUser),
              },
      })
    }
    out.push({ experimentId, control, arms: rows })
  }
  return out
}

const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`)
const num = (x: number | null): string => (x === null ? '-' : x.toFixed(4))
const range = (i: Interval, f: (x: number) => string): string => (i === null ? '' : ` [${f(i[0])}, ${f(i[1])}]`)
const signed = (f: (x: number | null) => string) => (x: number | null): string => (x === null ? '-' : `${x >= 0 ? '+' : ''}${f(x)}`)

/** The report as text, one block per experiment. */
export function formatReport(reports: readonly ExperimentReport[]): string {
  if (reports.length === 0) return 'no experiment found in the inputs (decisions and exposures carry experimentId and arm)\n'
  const lines: string[] = []
  for (const r of reports) {
    lines.push(`experiment ${r.experimentId} (control: ${r.control}; 95% intervals: Wilson for CTR, normal/Welch for clicks per user, Newcombe for CTR differences)`)
    for (const a of r.arms) {
      lines.push(`  ${a.arm.padEnd(16)} users ${String(a.users).padStart(7)}  pushes ${String(a.pushes).padStart(7)}  clicks ${String(a.clicks).padStart(6)}  CTR ${pct(a.ctr)}${range(a.ctrInterval, (x) => pct(x))}  clicks/user ${num(a.clicksPerUser)}${range(a.clicksPerUserInterval, (x) => num(x))}`)
      if (a.vsControl) {
        const v = a.vsControl
        lines.push(`  ${''.padEnd(16)} vs ${r.control}: CTR ${signed(pct)(v.ctr)}${range(v.ctrInterval, (x) => signed(pct)(x))}  clicks/user ${signed(num)(v.clicksPerUser)}${range(v.clicksPerUserInterval, (x) => signed(num)(x))}`)
      }
    }
  }
  return `${lines.join('\n')}\n`
}

/**
 * Reads an input: a JSONL file when the path exists, else the topic of that name, from the
 * embedded log of the state dir or from Kafka (runtime.mode kafka), as `hermes consume` does.
 */
async function readInput(source: string, config: HermesConfig, logger: HermesLogger): Promise<Row[]> {
  let lines: string[]
  if (existsSync(source)) lines = readFileSync(source, 'utf8').split('\n')
  else if (config.runtime.mode === 'kafka') {
    const { consumeFromKafka } = await import('../kafka/topic-io.ts')
    lines = []
    await consumeFromKafka({ config, logger, topic: source, onLine: (l) => lines.push(l) })
  } else {
    const log = EmbeddedLog.open(join(resolve(config.runtime.stateDir), 'log'))
    if (!log.hasTopic(source)) throw new HermesError('USAGE', `"${source}" is neither a file nor a topic in ${config.runtime.stateDir} (topics: ${log.topicNames().join(', ') || 'none'})`)
    lines = readTopicSince(log, source, [])
  }
  const rows: Row[] = []
  lines.forEach((line, i) => {
    if (!line.trim()) return
    try {
      const v = JSON.parse(line) as unknown
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) rows.push(v as Row)
    } catch {
      throw new HermesError('USAGE', `${source}:${i + 1}: not JSON`)
    }
  })
  return rows
}

/** Registers `hermes report experiments`. */
export function addReportCommands(program: Command, setup: (cmd: Command) => Command, context: (flags: object) => { config: HermesConfig; logger: HermesLogger }): void {
  const report = program.command('report').description('reports over the decision flow\'s outputs')
  setup(
    report
      .command('experiments')
      .description('per experiment arm: users, pushes, clicks, CTR and clicks per user with 95% intervals, and the difference to the control arm')
      .option('--decisions <file|topic>', 'decisions: a JSONL file or a topic', 'push-decisions')
      .option('--exposures <file|topic>', 'exposures: a JSONL file or a topic', 'exposures')
      .option('--events <file|topic>', 'behavior events with push_click / push_open: a JSONL file or a topic', 'behavior-events')
      .option('--control <arm>', 'the control arm (default: "control", else the first arm by name)')
      .option('--experiment <id>', 'only this experiment')
      .option('--json', 'print the figures as JSON'),
  ).action(async (flags: { decisions: string; exposures: string; events: string; control?: string; experiment?: string; json?: boolean }) => {
    const { config, logger } = context(flags)
    const [decisions, exposures, events] = [await readInput(flags.decisions, config, logger), await readInput(flags.exposures, config, logger), await readInput(flags.events, config, logger)]
    const reports = experimentReport({ decisions, exposures, events, ...(flags.control !== undefined ? { control: flags.control } : {}), ...(flags.experiment !== undefined ? { experiment: flags.experiment } : {}) })
    process.stdout.write(flags.json ? `${JSON.stringify(reports, null, 2)}\n` : formatReport(reports))
  })
}
