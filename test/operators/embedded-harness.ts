/**
 * The decision flow on the embedded runner with what the test driver does not offer: a RocksDB
 * state directory (so a restart reads keys back from disk) and the log lines the operators write.
 */
import { Writable } from 'node:stream'
import type { Topology } from '../../pipeline/api/index.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { formatEntry } from '../../pipeline/embedded/files.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import type { StateLocation } from '../../pipeline/runtime/app.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import pushDecisions from '../../topologies/push-decisions.ts'

/** The field each input topic of the decision flow is keyed by. */
const KEY_FIELDS: { [topic: string]: string } = {
  'behavior-events': 'userId',
  'item-events': 'itemId',
  'config.users': 'userId',
  'config.audiences': 'userId',
  'config.tasks': 'taskId',
  'config.materials': 'materialId',
  'material-stats': 'materialId',
}

export interface Harness {
  readonly log: EmbeddedLog
  /** JSON log lines written by the run so far. */
  readonly lines: Array<{ [k: string]: unknown }>
  /** Appends values (keyed by the topic's key field unless `key` is given) and runs until idle. */
  pipe(topic: string, values: object[], options?: { key?: string }): Promise<void>
  /** Every value on a topic, parsed (dead letters as their envelope). */
  values<V>(topic: string): V[]
  /** Commits and closes the runner; the log and the state directory stay for a restart. */
  close(): Promise<void>
}

/** Opens the decision flow over `log` (new by default) with the given state location. */
export async function openFlow(options: { state: StateLocation; log?: EmbeddedLog; settings?: object; config?: { [section: string]: unknown }; topology?: Topology }): Promise<Harness> {
  const log = options.log ?? EmbeddedLog.inMemory()
  const lines: Array<{ [k: string]: unknown }> = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as { [k: string]: unknown })
      done()
    },
  })
  const settings = (options.settings ?? {}) as { [k: string]: unknown }
  // Test times and a clock at 0, as in TopologyTestDriver: the plausibility rules of event times are off.
  const config = validateConfig({ ...(options.config ?? {}), hermes: settings, time: { maxOutOfOrdernessMs: 0, maxFutureMs: null, minTimestampMs: null }, observability: { http: { enabled: false } } })
  const runner = await EmbeddedRunner.open({
    topologies: [options.topology ?? pushDecisions({ settings })],
    config,
    log,
    state: options.state,
    logger: createLogger({ level: 'info', destination }),
    clock: () => 0,
  })
  return {
    log,
    lines,
    async pipe(topic, values, opts = {}) {
      for (const v of values) {
        const field = KEY_FIELDS[topic]
        const key = opts.key ?? (field === undefined ? null : String((v as { [k: string]: unknown })[field]))
        const ts = (v as { ts?: unknown }).ts
        log.append(topic, key === null ? 0 : partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(v), 'utf8'), typeof ts === 'number' ? ts : 0)
      }
      await runner.run()
    },
    values<V>(topic: string): V[] {
      if (!log.hasTopic(topic)) return []
      const out: Array<{ v: V; seq: number }> = []
      for (let p = 0; p < log.partitions(topic); p++) {
        for (let o = 0; o < log.endOffset(topic, p); o++) {
          const e = log.read(topic, p, o)
          if (e) out.push({ v: JSON.parse(formatEntry(e)) as V, seq: e.seq })
        }
      }
      return out.sort((a, b) => a.seq - b.seq).map((x) => x.v)
    },
    async close() {
      await runner.commit()
      await runner.close()
    },
  }
}
