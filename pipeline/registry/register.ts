import { describeError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { SchemaRegistryClient } from './client.ts'
import { RegistryError } from './client.ts'
import { loadSchema, schemaTopics, valueSubject } from './formats.ts'

/** What `hermes schemas register` did (or, dry, would do) with one subject. */
export interface SubjectReport {
  topic: string
  subject: string
  schema: string
  status: 'new' | 'unchanged' | 'changed' | 'refused'
  /** Registry id of the current schema (absent when refused or dry). */
  id?: number
  /** Latest version before this run. */
  previousVersion?: number
  /** Field-level differences from the latest registered version. */
  changes: string[]
  /** The registry's words when refused. */
  reason?: string
}

interface Field {
  name: string
  type: unknown
  default?: unknown
}

/** Differences between two record schemas, by top-level field (e.g. `+ channel: ["null","string"] = null`). */
export function diffSchemas(before: string, after: string): string[] {
  const fieldsOf = (text: string): Map<string, Field> | null => {
    const s = JSON.parse(text) as { type?: unknown; fields?: Field[] }
    return s.type === 'record' && Array.isArray(s.fields) ? new Map(s.fields.map((f) => [f.name, f])) : null
  }
  const a = fieldsOf(before)
  const b = fieldsOf(after)
  if (!a || !b) return JSON.stringify(JSON.parse(before)) === JSON.stringify(JSON.parse(after)) ? [] : ['schema changed']
  const show = (f: Field): string => `${f.name}: ${JSON.stringify(f.type)}${'default' in f ? ` = ${JSON.stringify(f.default)}` : ' (no default)'}`
  const out: string[] = []
  for (const [name, f] of b) {
    const old = a.get(name)
    if (!old) out.push(`+ ${show(f)}`)
    else if (JSON.stringify(old.type) !== JSON.stringify(f.type)) out.push(`~ ${name}: type ${JSON.stringify(old.type)} -> ${JSON.stringify(f.type)}`)
    else if (JSON.stringify(old.default) !== JSON.stringify(f.default) || 'default' in old !== 'default' in f) out.push(`~ ${name}: default ${'default' in old ? JSON.stringify(old.default) : '(none)'} -> ${'default' in f ? JSON.stringify(f.default) : '(none)'}`)
  }
  for (const [name, f] of a) if (!b.has(name)) out.push(`- ${show(f)}`)
  if (out.length === 0) out.push('docs or attributes changed')
  return out
}

/**
 * Registers the schema of every topic that has one (`topics.overrides.<t>.schema`) under
 * `<topic>-value`, setting the subject's compatibility to `schemaRegistry.compatibility`.
 * Schemas the registry already holds are left alone; changes are listed field by field; a change
 * the compatibility rule refuses is reported with the registry's reason and registers nothing.
 * `dryRun` asks the registry whether each change would be accepted and registers nothing.
 */
export async function registerSchemas(config: HermesConfig, registry: SchemaRegistryClient, options: { dryRun?: boolean; topics?: string[] } = {}): Promise<SubjectReport[]> {
  const level = config.schemaRegistry.compatibility
  const reports: SubjectReport[] = []
  const wanted = options.topics?.length ? new Set(options.topics) : null
  for (const { topic, schema: name } of schemaTopics(config)) {
    if (wanted && !wanted.has(topic)) continue
    const schema = loadSchema(config, name, `topics.overrides.${topic}.schema`)
    const subject = valueSubject(topic)
    const report: SubjectReport = { topic, subject, schema: name, status: 'new', changes: [] }
    reports.push(report)
    const latest = await registry.latest(subject)
    if (latest) {
      report.previousVersion = latest.version
      const same = await registry.idOf(subject, schema.text)
      if (same !== null) {
        report.status = 'unchanged'
        report.id = same
        // The subject may lack the rule (created by a producer's serializer, or a run interrupted
        // between registering and setting it): every subject ends up with it.
        if (!options.dryRun) await registry.setCompatibility(subject, level)
        continue
      }
      report.status = 'changed'
      report.changes = diffSchemas(latest.schema, schema.text)
    }
    try {
      if (options.dryRun) {
        if (latest && !(await registry.compatible(subject, schema.text))) throw new RegistryError('incompatible', `not ${level}-compatible with version ${latest.version}`, 409)
        continue
      }
      if (latest) await registry.setCompatibility(subject, level)
      report.id = await registry.register(subject, schema.text)
      if (!latest) await registry.setCompatibility(subject, level)
    } catch (err) {
      if (!(err instanceof RegistryError) || (err.failure !== 'incompatible' && err.failure !== 'invalid')) throw err
      report.status = 'refused'
      report.reason = describeError(err).replace(/^registering [^:]+: /, '')
    }
  }
  return reports
}

/** The report as lines for the terminal. */
export function formatReports(reports: readonly SubjectReport[], dryRun = false): string[] {
  const lines: string[] = []
  for (const r of reports) {
    const head = `${r.subject} (${r.schema}.avsc)`
    if (r.status === 'unchanged') lines.push(`${head}: unchanged, version ${r.previousVersion}, id ${r.id}`)
    else if (r.status === 'new') lines.push(`${head}: ${dryRun ? 'would be registered' : `registered, id ${r.id}`} (new subject)`)
    else if (r.status === 'changed') lines.push(`${head}: ${dryRun ? 'compatible change' : `registered, id ${r.id}`} (was version ${r.previousVersion})`)
    else lines.push(`${head}: REFUSED: ${r.reason}`)
    for (const c of r.changes) lines.push(`    ${c}`)
  }
  return lines
}
