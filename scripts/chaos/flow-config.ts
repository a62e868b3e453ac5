/**
 * The configuration of one chaos phase: scripts/chaos/config.yaml over config/default.yaml, plus
 * what differs per phase (broker, state dir, topic and application names).
 */
import { join } from 'node:path'
import { loadConfig } from '../../pipeline/config/load.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { TOPICS } from '../../topologies/push-decisions.ts'

/** The chaos configuration file (the one place its settings live). */
export const CHAOS_CONFIG_FILE = join('scripts', 'chaos', 'config.yaml')

/** The decision flow's topic names of one phase: `<default name>-<phase>`. */
export function phaseTopics(phase: string): { [k in keyof typeof TOPICS]: string } {
  return Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [k, `${v}-${phase}`])) as { [k in keyof typeof TOPICS]: string }
}

/** The applications (consumer groups, state and changelog prefixes) of one phase. */
export function phaseApplications(phase: string): { decisions: string; stats: string } {
  return { decisions: `push-decisions-${phase}`, stats: `material-stats-${phase}` }
}

/** What one instance of a phase needs to know. */
export interface PhaseOptions {
  phase: string
  brokers: string[]
  stateDir: string
  logLevel?: string
  /** `runtime.guarantee` over the chaos config's (exactly_once): `--guarantee exactly_once_v2`. */
  guarantee?: 'exactly_once' | 'exactly_once_v2'
}

/**
 * The validated configuration of a phase, as `hermes run --config scripts/chaos/config.yaml`
 * builds it (environment variables are not read: a run must not depend on the shell).
 */
export function phaseConfig(o: PhaseOptions): HermesConfig {
  return loadConfig({
    dir: 'config',
    files: [CHAOS_CONFIG_FILE],
    environment: {},
    overrides: {
      kafka: { brokers: o.brokers },
      runtime: { stateDir: o.stateDir, ...(o.guarantee ? { guarantee: o.guarantee } : {}) },
      ...(o.logLevel ? { observability: { log: { level: o.logLevel } } } : {}),
      hermes: { topics: phaseTopics(o.phase), applications: phaseApplications(o.phase) },
    },
  })
}
