import type { HermesConfig } from './schema.ts'

/**
 * Partitions of a topic when Hermes creates it: its `topics.overrides` entry, else
 * `topics.defaultPartitions`.
 */
export function topicPartitions(config: Pick<HermesConfig, 'topics'>, topic: string): number {
  return config.topics.overrides[topic]?.partitions ?? config.topics.defaultPartitions
}
