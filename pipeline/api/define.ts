import type { Topology } from './topology.ts'

/** What a topology module is given when it is built. */
export interface TopologyEnv {
  /** The `hermes` section of the validated configuration (operator settings such as fatigue caps). */
  readonly settings: { readonly [key: string]: unknown }
}

/** A deployable topology module's default export. */
export type TopologyFactory = (env: TopologyEnv) => Topology

/**
 * Marks a topology module's default export:
 * `export default defineTopology(({ settings }) => { const b = new TopologyBuilder('x'); ...; return b.build() })`.
 */
export function defineTopology(factory: TopologyFactory): TopologyFactory {
  return factory
}
