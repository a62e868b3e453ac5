import type { Topology } from '../api/topology.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import type { HermesMetrics } from '../observability/metrics.ts'
import type { StateLocation } from '../runtime/app.ts'
import type { ErrorPolicy } from '../runtime/task.ts'
import type { ConsumerTimings } from './client.ts'

/** Options of {@link KafkaRunner.open}; everything but the first five has a default. */
export interface KafkaRunnerOptions {
  topologies: Topology[]
  config: HermesConfig
  state: StateLocation
  logger: HermesLogger
  metrics?: HermesMetrics
  clock?: () => number
  errorPolicy?: Partial<ErrorPolicy>
  /** Consumer timings (tests use shorter ones). */
  timings?: Partial<ConsumerTimings>
  /**
   * How long processing waits for an empty input partition that is known to hold more records,
   * so that records are taken in timestamp order across partitions (Kafka Streams'
   * `max.task.idle.ms`). Partitions that are behind since their assignment are always waited for.
   */
  maxTaskIdleMs?: number
  /**
   * Records buffered per input partition before it is paused (resumed at half). With at most
   * `maxBytesPerPartition` more arriving from a fetch already under way, this bounds the memory
   * of the input side; `maxInFlightBatches` (at-least-once) and `maxPendingOutputs`
   * (exactly-once) bound the output side. Default 5000.
   */
  maxBufferedPerPartition?: number
  /** Bytes fetched per partition and request. Default 1 MiB. */
  maxBytesPerPartition?: number
  /** Output records waiting for a commit (exactly-once) before a commit is forced. */
  maxPendingOutputs?: number
  /** Output batches in flight (at-least-once) before processing waits. */
  maxInFlightBatches?: number
  /**
   * How far (event time) processing may run ahead of the earliest record this process wrote to a
   * repartition topic it also reads and has not read back yet. The embedded log hands such a
   * record over at once; on Kafka it takes a round trip (with transactions, a commit). While it
   * is on its way the watermark is held at its time, so timers and lateness match embedded mode
   * to within this bound (0: exactly, at the cost of a round trip per repartitioned record
   * when replaying a backlog). Default `time.maxOutOfOrdernessMs`.
   */
  maxAheadMs?: number
  /** How long Kafka may keep failing (broker down) before the run gives up. Default 5 minutes. */
  maxOutageMs?: number
}

/** Progress of a Kafka run. */
export interface KafkaRunStats {
  records: number
  timersFired: number
  commits: number
  elapsedMs: number
}

