import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { closest, distance } from 'fastest-levenshtein'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { HermesError } from '../api/errors.ts'
import type { HermesConfig } from './schema.ts'
import { configSchema } from './schema.ts'

/** Raised when configuration is invalid; `problems` lists one line per field. */
export class ConfigError extends HermesError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export interface LoadConfigOptions {
  /** Folder with `default.yaml` and environment files. Default `config` in the working directory. */
  dir?: string
  /** Environment name: `<dir>/<env>.yaml` is merged over the defaults. Default `HERMES_ENV`. */
  env?: string
  /** More YAML files, merged in order. */
  files?: string[]
  /** Environment variables; `HERMES__section__field=value` overrides a field. Default `process.env`. */
  environment?: { [name: string]: string | undefined }
  /** Last word, e.g. from CLI flags: `{ runtime: { stateDir: 'x' } }`. */
  overrides?: object
}

type Plain = { [k: string]: unknown }

/**
 * Loads and validates configuration: `default.yaml`, then `<env>.yaml`, then extra files, then
 * `HERMES__a__b` environment variables, then overrides. Each wrong value is reported with its
 * field path, what is allowed, and where the value came from.
 * @throws ConfigError
 */
export function loadConfig(options: LoadConfigOptions = {}): HermesConfig {
  const dir = resolve(options.dir ?? 'config')
  const environment = options.environment ?? process.env
  const env = options.env ?? environment.HERMES_ENV
  const origin = new Map<string, string>()
  let merged: Plain = {}
  const layer = (value: unknown, source: string): void => {
    if (value === undefined || value === null) return
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError([`${source}: the top level must be a mapping of sections (runtime, time, errors, ...), got ${Array.isArray(value) ? 'a list' : typeof value}`])
    }
    merged = deepMerge(merged, value as Plain, source, '', origin)
  }
  const defaults = join(dir, 'default.yaml')
  if (existsSync(defaults)) layer(readYaml(defaults), defaults)
  if (env) {
    const file = join(dir, `${env}.yaml`)
    if (!existsSync(file)) throw new ConfigError([`environment "${env}" has no file ${file}; create it or unset HERMES_ENV`])
    layer(readYaml(file), file)
  }
  for (const f of options.files ?? []) {
    if (!existsSync(f)) throw new ConfigError([`config file ${f} does not exist`])
    layer(readYaml(f), f)
  }
  for (const [name, raw] of Object.entries(environment)) {
    if (!name.startsWith('HERMES__') || raw === undefined) continue
    const path = name.slice('HERMES__'.length).split('__').filter(Boolean)
    if (path.length === 0) continue
    const value = parseEnvValue(raw)
    const obj: Plain = {}
    let cur = obj
    for (let i = 0; i < path.length - 1; i++) {
      const next: Plain = {}
      cur[path[i] as string] = next
      cur = next
    }
    cur[path[path.length - 1] as string] = value
    layer(obj, `environment variable ${name}`)
  }
  if (options.overrides) layer(options.overrides, 'command-line options')
  return validateConfig(merged, origin)
}

/** Validates an already merged config object. */
export function validateConfig(raw: unknown, origin: Map<string, string> = new Map()): HermesConfig {
  const result = configSchema.safeParse(raw)
  if (result.success) return result.data
  throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, raw, origin)))
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, origin: Map<string, string>): string {
  const path = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k))
    const allowed = allowedKeys(issue.path.map(String))
    const from = keys.map((k) => origin.get(k)).find(Boolean)
    const hints = issue.keys.map((k) => nearest(k, allowed)).filter((h): h is string => h !== null)
    return `unknown field ${keys.map((k) => `"${k}"`).join(', ')}${from ? ` (from ${from})` : ''}: remove it or fix its spelling${hints.length ? ` (did you mean ${hints.map((h) => `"${h}"`).join(', ')}?)` : ''}${allowed.length ? `; allowed here: ${allowed.join(', ')}` : ''}`
  }
  const got = valueAt(raw, issue.path.map(String))
  const from = origin.get(path)
  return `field "${path || '(root)'}": ${issue.message}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}${from ? ` (from ${from})` : ''}`
}

/** The allowed name nearest to a misspelt one, when it is close enough to be the one meant. */
function nearest(key: string, allowed: readonly string[]): string | null {
  if (allowed.length === 0) return null
  const near = closest(key, allowed as string[])
  return distance(key.toLowerCase(), near.toLowerCase()) <= Math.max(2, Math.floor(key.length / 3)) ? near : null
}

function allowedKeys(path: string[]): string[] {
  let schema: unknown = configSchema
  for (const p of path) {
    const shape = shapeOf(schema)
    if (!shape) return []
    schema = shape[p]
  }
  const shape = shapeOf(schema)
  return shape ? Object.keys(shape) : []
}

function shapeOf(schema: unknown): { [k: string]: unknown } | undefined {
  let s = schema as { shape?: { [k: string]: unknown }; def?: { innerType?: unknown } } | undefined
  // Unwrap defaults and optionals down to the object schema.
  for (let i = 0; i < 5 && s && !s.shape && s.def?.innerType; i++) s = s.def.innerType as typeof s
  return s?.shape
}

function valueAt(raw: unknown, path: string[]): unknown {
  let cur = raw
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Plain)[p]
  }
  return cur
}

function readYaml(file: string): unknown {
  try {
    return parseYaml(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ConfigError([`${file} is not valid YAML: ${(err as Error).message}`])
  }
}

function deepMerge(base: Plain, over: Plain, source: string, prefix: string, origin: Map<string, string>): Plain {
  const out: Plain = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue
    const path = prefix ? `${prefix}.${k}` : k
    const b = out[k]
    if (v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)) {
      out[k] = deepMerge(b as Plain, v as Plain, source, path, origin)
    } else {
      out[k] = v
      recordOrigin(v, path, source, origin)
    }
  }
  return out
}

/** Records the source of a value and of every field nested in it. */
function recordOrigin(value: unknown, path: string, source: string, origin: Map<string, string>): void {
  origin.set(path, source)
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) recordOrigin(v, `${path}.${k}`, source, origin)
  }
}

/**
 * An environment variable's value: booleans, null, numbers and flow lists or maps (`[a, b]`,
 * `{a: 1}`) and quoted strings are parsed as YAML; anything else stays the exact string, so a secret such as
 * `s3cret #1` or `a: b` is never cut or reshaped.
 */
export function parseEnvValue(raw: string): unknown {
  const t = raw.trim()
  if (/^(true|false|null|~|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(t) || /^\[.*\]$|^\{.*\}$|^".*"$|^'.*'$/s.test(t)) {
    try {
      return parseYaml(t)
    } catch {
      return raw
    }
  }
  return raw
}
