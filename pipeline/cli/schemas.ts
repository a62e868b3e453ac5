import type { Command } from 'commander'
import { HermesError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'
import type { HermesLogger } from '../observability/logger.ts'
import { SchemaRegistryClient } from '../registry/client.ts'
import { formatReports, registerSchemas } from '../registry/register.ts'
import { schemaTopics, valueSubject } from '../registry/formats.ts'

/** `hermes schemas register|list`: the Avro schemas of `schemas/` and the registry's subjects. */
export function addSchemaCommands(program: Command, setup: (cmd: Command) => Command, context: (flags: object) => { config: HermesConfig; logger: HermesLogger }): void {
  const schemas = program.command('schemas').description('Avro schemas (schemas/*.avsc) in the schema registry')

  setup(
    schemas
      .command('register')
      .description(`register every topic's schema under <topic>-value with the configured compatibility (default BACKWARD); incompatible changes are refused with the registry's reason`)
      .option('--dry-run', 'only ask the registry whether the changes are compatible')
      .option('--topic <topic>', 'only this topic (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[]),
  ).action(async (flags: { dryRun?: boolean; topic: string[] }) => {
    const { config, logger } = context(flags)
    const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
    await registry.untilAvailable('listing subjects', () => registry.subjects())
    const reports = await registerSchemas(config, registry, { dryRun: flags.dryRun === true, topics: flags.topic })
    if (reports.length === 0) throw new HermesError('USAGE', `no topic has a schema${flags.topic.length ? ` among ${flags.topic.join(', ')}` : ''} (topics.overrides.<topic>.schema)`)
    for (const line of formatReports(reports, flags.dryRun === true)) process.stdout.write(`${line}\n`)
    const refused = reports.filter((r) => r.status === 'refused')
    if (refused.length) throw new HermesError('SCHEMA_INCOMPATIBLE', `${refused.length} schema change(s) refused by ${registry.url}: ${refused.map((r) => r.subject).join(', ')}`)
  })

  setup(schemas.command('list').description('the topics with a schema: subject, format, and the latest registered version')).action(async (flags: object) => {
    const { config, logger } = context(flags)
    const registry = new SchemaRegistryClient(config.schemaRegistry, logger)
    for (const t of schemaTopics(config)) {
      const latest = await registry.untilAvailable(`reading ${valueSubject(t.topic)}`, () => registry.latest(valueSubject(t.topic)))
      process.stdout.write(`${t.topic}\t${t.format}\t${valueSubject(t.topic)}\t${t.schema}.avsc\t${latest ? `version ${latest.version}, id ${latest.id}` : 'not registered'}\n`)
    }
  })
}
