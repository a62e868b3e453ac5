/**
 * The JSON one run of the Kafka bench writes with `--json-out`, the same from both sides:
 * scripts/kafka/bench.ts (Hermes) and bench/peer's PeerBench.java (Kafka Streams). A measurement
 * that was not run is null.
 */
import { z } from 'zod'

const count = z.number().int().nonnegative()

/** Step 1: one instance works through a backlog, from start-up to its last commit. */
export const throughputSchema = z.object({
  events: count,
  seconds: z.number().positive(),
  eventsPerSecond: count,
  commits: count,
  /** CPU time of the whole process over the run, in percent of one core. */
  cpuPercent: count,
})

/** Step 3: a new instance rebuilds the state of step 1 from the changelogs. */
export const restoreSchema = z.object({ records: count, ms: count, recordsPerSecond: count })

/** Step 2: events at a steady rate, time from producing an event to reading its output. */
export const latencySchema = z.object({
  rate: count,
  seconds: count,
  produced: count,
  received: count,
  /** -1 when no output was read. */
  p50Ms: z.number().int(),
  p99Ms: z.number().int(),
  maxMs: z.number().int(),
  /**
   * Seconds at the same rate, once the application was ready, whose events were not counted;
   * 0: the earlier bench (a fixed 3 s after starting it, counted from the first event). Absent
   * in results from before it was measured.
   */
  warmupSeconds: count.optional(),
  /** The length of the windows of {@link windowP99Ms}. */
  windowMs: count.optional(),
  /** The p99 of the events sent in each window of `windowMs` from the first counted one (-1: none read). */
  windowP99Ms: z.array(z.number().int()).optional(),
})

export const benchResultSchema = z.object({
  engine: z.enum(['hermes', 'kafka-streams']),
  /** Node's version for Hermes, Kafka Streams' for the peer. */
  version: z.string(),
  /** Hermes' `runtime.guarantee`; the peer runs Kafka Streams' exactly_once_v2 for both exactly-once rows. */
  guarantee: z.enum(['at_least_once', 'exactly_once', 'exactly_once_v2']),
  events: count,
  partitions: count,
  commitIntervalMs: count,
  id: z.string(),
  throughput: throughputSchema.nullable(),
  restore: restoreSchema.nullable(),
  latency: latencySchema.nullable(),
})

/** One run's figures. */
export type BenchResult = z.infer<typeof benchResultSchema>

/** The engines of a side-by-side run, in table order. */
export type Engine = BenchResult['engine']

/** The processing guarantees, in table order. */
export type Guarantee = BenchResult['guarantee']

/** The three measurements, in the order the benches run them (restore needs the throughput run). */
export const MEASUREMENTS = ['throughput', 'restore', 'latency'] as const

/** One of {@link MEASUREMENTS}. */
export type Measurement = (typeof MEASUREMENTS)[number]

/** Parses a result file's text; the error names the file and the field. */
export function parseBenchResult(text: string, source: string): BenchResult {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`)
  }
  const parsed = benchResultSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`${source}: not a bench result: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`)
  }
  return parsed.data
}
