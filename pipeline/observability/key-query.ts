/**
 * Interactive queries (Kafka Streams' `KafkaStreams#store` + `queryMetadataForKey`): the keyed
 * state and timers one key has in the tasks of this process, read-only. Used by the console
 * (embedded) and by the `/query/users/:id` route of the observability server on running
 * instances. Values are the stores' raw form (a window store's list of `[ts, amount, tag]`).
 */
import type { AppRuntime } from '../runtime/app.ts'
import { partitionFor } from '../runtime/partitioner.ts'
import { PREFIX } from '../state/task-state.ts'

/** One timer a key has pending. */
export interface KeyTimer {
  node: string
  domain: 'event' | 'processing'
  time: number
  name: string
  payload: unknown
}

/** The state one key holds in one task. */
export interface KeyState {
  app: string
  partition: number
  /** Keyed stores by full name (`<node>.<store>`); only stores with a value. */
  stores: { [store: string]: unknown }
  timers: KeyTimer[]
}

/** What this process holds of a key: one entry per task that owns it here (none: not owned). */
export interface KeyQueryResult {
  key: string
  owned: KeyState[]
  /** The instance asked, when it was found as the owner of the key's partition (Kafka). */
  owner?: string
}

/**
 * Reads the keyed state and timers of `key` from every task of these apps that owns its
 * partition. Call it between records (the embedded runner is single-threaded; on Kafka the
 * state is read between batches), never from inside an operator.
 */
export async function queryKey(apps: readonly AppRuntime[], key: string): Promise<KeyQueryResult> {
  const owned: KeyState[] = []
  for (const app of apps) {
    for (const task of app.tasks) {
      const keyed = task.sub.sources.filter((s) => !s.broadcast)
      if (keyed.length === 0 || task.state.keyedStores.size === 0) continue
      const partitions = app.partitionsOf(task.sub)
      if (partitionFor(key, partitions) !== task.partition) continue
      const stores: { [store: string]: unknown } = {}
      for (const name of task.state.keyedStores.keys()) {
        const v = task.state.get(name, key)
        if (v !== undefined) stores[name] = v
      }
      const timers: KeyTimer[] = []
      for await (const [, buf] of task.state.backend.scan(PREFIX.timer)) {
        const t = JSON.parse(buf.toString('utf8')) as { node: string; key: string | null; time: number; domain: 'event' | 'processing'; name: string; payload: unknown }
        if (t.key === key) timers.push({ node: t.node, domain: t.domain, time: t.time, name: t.name, payload: t.payload })
      }
      timers.sort((a, b) => a.time - b.time)
      if (Object.keys(stores).length || timers.length) owned.push({ app: app.name, partition: task.partition, stores, timers })
    }
  }
  return { key, owned }
}
