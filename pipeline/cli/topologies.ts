import { existsSync, readdirSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { TopologyEnv } from '../api/define.ts'
import { HermesError } from '../api/errors.ts'
import type { Topology } from '../api/topology.ts'
import { sourceFields } from '../embedded/files.ts'

/** Root of the Hermes package (where the bundled topologies live). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * Resolves a topology argument: a path to a module, or a name looked up as
 * `topologies/<name>.ts` in the working directory, then in the Hermes package.
 */
export function resolveTopology(arg: string, cwd = process.cwd()): string {
  const candidates: string[] = []
  if (arg.includes('/') || arg.endsWith('.ts') || arg.endsWith('.js')) candidates.push(isAbsolute(arg) ? arg : resolve(cwd, arg))
  else {
    for (const root of [cwd, PACKAGE_ROOT]) for (const ext of ['.ts', '.js']) candidates.push(join(root, 'topologies', `${arg}${ext}`))
  }
  const found = candidates.find((c) => existsSync(c))
  if (!found) throw new HermesError('USAGE', `topology "${arg}" not found (looked at ${candidates.join(', ')}); give a name from topologies/ or a path to a module`)
  return found
}

/** Imports a topology module and builds its topology. */
export async function loadTopology(arg: string, env: TopologyEnv): Promise<Topology> {
  const file = resolveTopology(arg)
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown }
  const exported = mod.default
  if (typeof exported === 'function') {
    const t = (exported as (env: TopologyEnv) => Topology)(env)
    if (!isTopology(t)) throw new HermesError('USAGE', `${file}: the default export must return a built Topology (call builder.build())`)
    return t
  }
  if (isTopology(exported)) return exported
  throw new HermesError('USAGE', `${file} must default-export defineTopology((env) => builder.build())`)
}

function isTopology(t: unknown): t is Topology {
  return !!t && typeof t === 'object' && typeof (t as Topology).name === 'string' && Array.isArray((t as Topology).nodes)
}

/** Names of the topologies in `topologies/` of the working directory and of the Hermes package. */
export function topologyNames(cwd = process.cwd()): string[] {
  const names = new Set<string>()
  for (const root of [cwd, PACKAGE_ROOT]) {
    const dir = join(root, 'topologies')
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir)) if (/\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')) names.add(f.replace(/\.(ts|js)$/, ''))
  }
  return [...names].sort()
}

/**
 * The key and time fields of a topic as the known topologies read it (the `keyField` and
 * `timestampField` of their sources), so tools write a topic keyed as it is read: config.tasks
 * by taskId, config.materials by materialId. Null when no known topology reads the topic.
 * @throws HermesError when two topologies read the topic with different key fields.
 */
export async function topicFields(topic: string, env: TopologyEnv, names: readonly string[] = topologyNames()): Promise<{ keyField?: string; timestampField: string } | null> {
  const topologies: Topology[] = []
  for (const name of names) topologies.push(await loadTopology(name, env))
  if (!topologies.some((t) => t.nodes.some((n) => n.kind === 'source' && n.topic === topic))) return null
  return sourceFields(topologies, topic)
}
