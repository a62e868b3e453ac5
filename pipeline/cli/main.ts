import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { SingleBar } from 'cli-progress'
import { HermesError, describeError } from '../api/errors.ts'
import type { Topology } from '../api/topology.ts'
import { ConfigError, loadConfig } from '../config/load.ts'
import type { HermesConfig } from '../config/schema.ts'
import { topicPartitions } from '../config/topic-partitions.ts'
import { EmbeddedLog } from '../embedded/log.ts'
import { parseTopicFile, readTopicSince, writeLines } from '../embedded/files.ts'
import { createLogger } from '../observability/logger.ts'
import { describeMermaid, describeText } from '../runtime/describe.ts'
import { compilePlan } from '../runtime/plan.ts'
import { PACKAGE_ROOT, loadTopology } from './topologies.ts'
import { addConsoleCommand } from './console.ts'
import { addDlqCommands } from './dlq.ts'
import { produceEmbedded, produceFields } from './produce.ts'
import { runEmbedded } from './run.ts'
import { addReportCommands } from './report.ts'
import { addSchemaCommands } from './schemas.ts'

/** How long a `hermes run` on Kafka stopped by a signal may take to exit once the run has returned. */
const STOPPED_EXIT_GRACE_MS = 2000

const collect = (value: string, previous: string[]): string[] => [...previous, value]

interface ConfigFlags {
  config: string[]
  env?: string
  stateDir?: string
  backend?: string
  metricsPort?: string
  logLevel?: string
}

function configFrom(flags: ConfigFlags): HermesConfig {
  const runtime: { [k: string]: unknown } = {}
  if (flags.stateDir) runtime.stateDir = flags.stateDir
  if (flags.backend) runtime.stateBackend = flags.backend
  const overrides: { [k: string]: unknown } = {}
  if (Object.keys(runtime).length) overrides.runtime = runtime
  const observability: { [k: string]: unknown } = {}
  if (flags.metricsPort !== undefined) {
    const port = Number(flags.metricsPort)
    observability.http = port < 0 ? { enabled: false } : { port, enabled: true }
  }
  if (flags.logLevel) observability.log = { level: flags.logLevel }
  if (Object.keys(observability).length) overrides.observability = observability
  const dir = resolve('config')
  return loadConfig({ dir: existsSync(join(dir, 'default.yaml')) ? dir : join(PACKAGE_ROOT, 'config'), env: flags.env, files: flags.config, overrides })
}

async function topologiesFrom(names: string[], config: HermesConfig): Promise<Topology[]> {
  const out: Topology[] = []
  for (const name of names) out.push(await loadTopology(name, { settings: config.hermes }))
  const seen = new Set<string>()
  for (const t of out) {
    if (seen.has(t.name)) throw new HermesError('USAGE', `topology name "${t.name}" is given twice`)
    seen.add(t.name)
  }
  return out
}

/** The configuration topics of topologies: their broadcast inputs and inputs with a cleanup policy (compacted or kept forever). */
function configurationTopics(topologies: readonly Topology[], config: HermesConfig): string[] {
  const topics = new Set<string>()
  for (const t of topologies) {
    for (const n of t.nodes) {
      if (n.kind !== 'source') continue
      const cleanup = (config.topics.overrides[n.topic] as { cleanup?: string } | undefined)?.cleanup
      if (n.broadcast || cleanup !== undefined) topics.add(n.topic)
    }
  }
  return [...topics].sort()
}

function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'extra YAML config file (repeatable)', collect, [])
    .option('--env <name>', 'environment: merges config/<name>.yaml (default $HERMES_ENV)')
    .option('--state-dir <dir>', 'embedded log and state directory (default .hermes)')
    .addOption(new Option('--backend <kind>', 'state backend').choices(['rocksdb', 'memory']))
    .option('--metrics-port <port>', 'metrics/health port on 127.0.0.1 (0 = any free port, -1 = off)')
    .option('--log-level <level>', 'log level (trace, debug, info, warn, error, silent)')
}

export function buildCli(): Command {
  const program = new Command('hermes')
    .description('Hermes: real-time push decisions as a dataflow of TypeScript operators over Kafka')
    .showHelpAfterError()
    .version((JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version)

  withConfigOptions(
    program
      .command('run')
      .description('run topologies embedded over JSONL inputs; exits when inputs are drained and due timers have fired')
      .argument('<topologies...>', 'topology names (topologies/<name>.ts) or module paths')
      .option('-i, --input <topic=file>', 'load a JSONL file into a topic (repeatable)', collect, [])
      .option('-o, --output <topic=file>', 'write what a topic received during the run as JSONL (repeatable)', collect, [])
      .option('--no-progress', 'no progress bar'),
  ).action(async (names: string[], flags: ConfigFlags & { input: string[]; output: string[]; progress: boolean }) => {
    const config = configFrom(flags)
    const logger = createLogger({ level: config.observability.log.level })
    const topologies = await topologiesFrom(names, config)
    if (config.runtime.mode === 'kafka') {
      if (flags.input.length || flags.output.length) {
        throw new HermesError('USAGE', '--input/--output are for embedded runs; on Kafka, produce to and consume from the topics themselves')
      }
      const { runKafka } = await import('../kafka/run.ts')
      const controller = new AbortController()
      process.once('SIGINT', () => controller.abort())
      process.once('SIGTERM', () => controller.abort())
      const stats = await runKafka({ topologies, config, logger, signal: controller.signal })
      process.stdout.write(`hermes run (kafka): ${JSON.stringify(stats)}\n`)
      // A stop during start-up returns at once, but the start attempt it leaves behind (kafkajs
      // connections waiting on a broker that does not answer, retried for up to
      // kafka.maxOutageMs) keeps the process alive until it settles: a stopped run exits anyway
      // after a short grace (unref'd: a process with nothing left exits sooner on its own).
      if (controller.signal.aborted) setTimeout(() => process.exit(process.exitCode ?? 0), STOPPED_EXIT_GRACE_MS).unref()
      return
    }
    const inputs = flags.input.map((s) => parseTopicFile('--input', s))
    const outputs = flags.output.map((s) => parseTopicFile('--output', s))
    const showBar = flags.progress && process.stderr.isTTY && !process.env.CI
    const bar = showBar ? new SingleBar({ format: 'processing |{bar}| {value}/{total} records | {rate} rec/s | {eta_formatted} left', hideCursor: true }) : null
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let started = false
    const summary = await runEmbedded({
      topologies,
      config,
      inputs,
      outputs,
      logger,
      signal: controller.signal,
      onProgress: (s, pending) => {
        if (!bar) return
        if (!started) {
          bar.start(Math.max(pending, 1), 0, { rate: '0' })
          started = true
        }
        bar.setTotal(Math.max(pending, s.records))
        bar.update(s.records, { rate: Math.round(s.records / Math.max(s.elapsedMs / 1000, 1e-3)).toLocaleString('en-US') })
      },
    })
    bar?.stop()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    const s = summary.stats
    const out = process.stdout
    out.write(`hermes run: ${topologies.map((t) => t.name).join(', ')}\n`)
    out.write(`  loaded     ${Object.entries(summary.loaded).map(([t, n]) => `${t}=${n}`).join(', ') || 'nothing'}\n`)
    out.write(`  processed  ${s.records} records in ${(s.elapsedMs / 1000).toFixed(2)} s (${Math.round(s.records / Math.max(s.elapsedMs / 1000, 1e-3))} records/s), ${s.timersFired} timers fired\n`)
    out.write(`  produced   ${Object.entries(summary.produced).map(([t, n]) => `${t}=${n}`).join(', ') || 'nothing'}\n`)
    out.write(`  dead letters ${s.deadLetters}\n`)
    for (const o of outputs) out.write(`  wrote      ${o.file} (${summary.written[o.topic] ?? 0} records of ${o.topic})\n`)
    out.write(`  state      ${summary.stateDir}\n`)
    if (controller.signal.aborted) process.exitCode = 130
  })

  program
    .command('describe')
    .description('print a topology graph as text and as a Mermaid flowchart')
    .argument('<topology>', 'topology name or module path')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'mermaid', 'both']).default('both'))
    .option('-c, --config <file>', 'extra YAML config file (repeatable)', collect, [])
    .option('--env <name>', 'environment name')
    .action(async (name: string, flags: ConfigFlags & { format: string }) => {
      const config = configFrom(flags)
      const [topology] = await topologiesFrom([name], config)
      const t = topology as Topology
      const plan = compilePlan(t)
      if (flags.format !== 'mermaid') process.stdout.write(describeText(t, plan))
      if (flags.format === 'both') process.stdout.write('\n')
      if (flags.format !== 'text') process.stdout.write(`\`\`\`mermaid\n${describeMermaid(t, plan)}\`\`\`\n`)
    })

  withConfigOptions(
    program
      .command('validate')
      .description('validate configuration and topologies (graph, stores, serdes, co-partitioning), and records of configuration files or topics, without running')
      .argument('[topologies...]', 'topology names or module paths')
      .option('-i, --input <topic=file>', 'check a JSONL file as that topic\'s records, as `hermes run --input` loads it (repeatable)', collect, [])
      .option('--from-kafka', 'check the configuration topics on the cluster of the kafka section (broadcast topics and topics with a cleanup policy)')
      .option('--topic <topic>', 'with --from-kafka: check this topic instead (repeatable)', collect, []),
  ).action(async (names: string[], flags: ConfigFlags & { input: string[]; fromKafka?: boolean; topic: string[] }) => {
    const config = configFrom(flags)
    const topologies = await topologiesFrom(names, config)
    for (const t of topologies) {
      const plan = compilePlan(t)
      for (const sub of plan.subtopologies) {
        const keyed = sub.sources.filter((s) => !s.broadcast && !s.internal)
        const counts = new Set(keyed.map((s) => topicPartitions(config, s.topic)))
        if (counts.size > 1) {
          throw new HermesError('TOPOLOGY_INVALID', `topology ${t.name}: topics ${keyed.map((s) => `${s.topic} (${topicPartitions(config, s.topic)})`).join(', ')} must have the same partition count (topics.overrides.<topic>.partitions)`)
        }
      }
      process.stdout.write(`ok: topology ${t.name} (${t.nodes.length} nodes, ${plan.subtopologies.length} sub-topologies)\n`)
    }
    process.stdout.write('ok: configuration\n')
    if (flags.input.length === 0 && !flags.fromKafka) return
    if (topologies.length === 0) throw new HermesError('USAGE', 'name the topologies whose code checks the records, e.g. hermes validate push-decisions --input config.tasks=tasks.jsonl')
    const { describeValidation, validateFiles, validateTopicRecords } = await import('./validate.ts')
    const logger = createLogger({ level: 'silent' })
    // Checked in memory: nothing of the run's state or log is kept.
    const memory = { ...config, runtime: { ...config.runtime, stateBackend: 'memory' as const } }
    let lines: string[]
    let bad: number
    if (flags.input.length) {
      const inputs = flags.input.map((s) => parseTopicFile('--input', s))
      for (const i of inputs) if (!existsSync(i.file)) throw new HermesError('USAGE', `--input ${i.topic}=${i.file}: file not found`)
      const report = await validateFiles({ topologies, config: memory, logger, inputs })
      lines = describeValidation(report, inputs.map((i) => i.file).join(', '))
      bad = report.problems.length
    } else {
      const { readTopicFromKafka } = await import('../kafka/topic-io.ts')
      const topics = flags.topic.length ? flags.topic : configurationTopics(topologies, config)
      if (topics.length === 0) throw new HermesError('USAGE', 'the topologies read no broadcast topic and no topic with topics.overrides.<topic>.cleanup; name topics with --topic')
      const kafkaLogger = createLogger({ level: config.observability.log.level })
      const records = []
      for (const topic of topics) for (const r of await readTopicFromKafka({ config, logger: kafkaLogger, topic, missingOk: true })) records.push({ ...r, topic })
      const report = await validateTopicRecords({ topologies, config: memory, logger, records, partitions: (t) => topicPartitions(config, t) })
      lines = describeValidation(report, `${topics.join(', ')} on ${config.kafka.brokers.join(',')}`)
      bad = report.problems.length
    }
    for (const l of lines) process.stdout.write(`${l}\n`)
    if (bad) process.exitCode = 1
  })

  withConfigOptions(
    program
      .command('produce')
      .description('append JSONL records to a topic: the embedded log, or Kafka with runtime.mode kafka (Avro for avro topics)')
      .argument('<topic>', 'topic name')
      .requiredOption('-f, --file <file>', 'JSONL file')
      .option('--key-field <field>', 'value field holding the key (default: as the topologies read the topic, e.g. taskId for config.tasks; else userId)')
      .option('--time-field <field>', 'value field holding the event time (default: as the topologies read the topic; else ts)')
      .option('--partitions <n>', 'partitions if the topic is new (default: topics config)'),
  ).action(async (topic: string, flags: ConfigFlags & { file: string; keyField?: string; timeField?: string; partitions?: string }) => {
    const config = configFrom(flags)
    const lines = readFileSync(flags.file, 'utf8').split('\n')
    const partitions = flags.partitions === undefined ? topicPartitions(config, topic) : Number(flags.partitions)
    if (!Number.isInteger(partitions) || partitions < 1) throw new HermesError('USAGE', `--partitions must be a positive integer, got ${flags.partitions}`)
    const fields = await produceFields(config, topic, flags)
    if (config.runtime.mode === 'kafka') {
      const { produceToKafka } = await import('../kafka/topic-io.ts')
      const logger = createLogger({ level: config.observability.log.level })
      const r = await produceToKafka({ config, logger, topic, lines, ...fields, partitions })
      for (const x of r.rejected) process.stderr.write(`${flags.file}:${x.line}: ${x.reason}\n`)
      process.stdout.write(`produced ${r.produced} records to ${topic} on ${config.kafka.brokers.join(',')}${r.rejected.length ? `; ${r.rejected.length} lines rejected` : ''}\n`)
      if (r.rejected.length) process.exitCode = 1
      return
    }
    const n = produceEmbedded(config, topic, lines, fields, partitions)
    process.stdout.write(`produced ${n} records to ${topic}\n`)
  })

  withConfigOptions(
    program
      .command('consume')
      .description('print a topic as JSONL (dead letters as envelopes): the embedded log, or Kafka with runtime.mode kafka (Avro decoded)')
      .argument('<topic>', 'topic name')
      .option('-o, --output <file>', 'write to a file instead of stdout'),
  ).action(async (topic: string, flags: ConfigFlags & { output?: string }) => {
    const config = configFrom(flags)
    let lines: string[] = []
    if (config.runtime.mode === 'kafka') {
      const { consumeFromKafka } = await import('../kafka/topic-io.ts')
      const logger = createLogger({ level: config.observability.log.level })
      await consumeFromKafka({ config, logger, topic, onLine: (l) => lines.push(l) })
    } else {
      const log = EmbeddedLog.open(join(resolve(config.runtime.stateDir), 'log'))
      if (!log.hasTopic(topic)) throw new HermesError('USAGE', `no topic "${topic}" in ${config.runtime.stateDir} (topics: ${log.topicNames().join(', ') || 'none'})`)
      lines = readTopicSince(log, topic, [])
    }
    if (flags.output) await writeLines(flags.output, lines)
    else for (const l of lines) process.stdout.write(`${l}\n`)
  })

  const context = (flags: object): { config: HermesConfig; logger: ReturnType<typeof createLogger> } => {
    const config = configFrom(flags as ConfigFlags)
    return { config, logger: createLogger({ level: config.observability.log.level }) }
  }
  addSchemaCommands(program, withConfigOptions, context)
  addDlqCommands(program, withConfigOptions, context)
  addConsoleCommand(program)
  addReportCommands(program, withConfigOptions, context)

  return program
}

/** Entry point: runs the CLI and turns errors into a clear message and exit code. */
export async function main(argv = process.argv): Promise<void> {
  // `hermes consume x | head`: a closed stdout ends the command quietly, as in other CLIs.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  try {
    await buildCli().parseAsync(argv)
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`hermes: ${err.message}\n`)
    else if (err instanceof HermesError) process.stderr.write(`hermes: ${err.code}: ${err.message}\n`)
    else process.stderr.write(`hermes: ${describeError(err)}\n${err instanceof Error && err.stack ? err.stack : ''}\n`)
    process.exitCode = err instanceof HermesError && (err.code === 'USAGE' || err.code === 'CONFIG_INVALID' || err.code === 'TOPOLOGY_INVALID' || err.code === 'SCHEMA_INVALID') ? 2 : 1
  }
}

