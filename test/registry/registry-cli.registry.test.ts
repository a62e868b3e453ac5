import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { freePort } from '../local-service.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { RegistryError, SchemaRegistryClient } from '../../pipeline/registry/client.ts'
import { registeredSchema, withTopicFormats } from '../../pipeline/registry/formats.ts'
import { TopologyBuilder, jsonObjectSerde, jsonSerde } from '../../pipeline/api/index.ts'
import { runHermes } from '../hermes-cli.ts'
import { runId, silent } from '../kafka/helpers.ts'
import { REGISTRY_URL, schemasWith } from './helpers.ts'

/** `hermes …` as a user runs it, with the test environment's config. */
const hermes = (args: string[], env: { [k: string]: string } = {}) => runHermes(args, { HERMES_ENV: 'test', ...env })

/** A TCP relay on `port` to the real registry: a registry that comes up while Hermes waits for it. */
function relay(port: number, upstreamPort: number): { close: () => Promise<void> } {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort })
    for (const x of [client, upstream]) {
      sockets.add(x)
      x.on('close', () => sockets.delete(x))
    }
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  }).listen(port, '127.0.0.1')
  return {
    // The client's kept-alive connections are cut too, or close would wait for them.
    close: () => new Promise<void>((r) => {
      for (const x of sockets) x.destroy()
      server.close(() => r())
    }),
  }
}


describe('hermes schemas register (real registry)', () => {
  it('registers new subjects, leaves equal ones alone, lists compatible changes by field, and refuses incompatible ones with the reason', async () => {
    const id = runId()
    const [ev, dec] = [`ev-${id}`, `dec-${id}`]
    const dir = mkdtempSync(join(tmpdir(), 'hermes-reg-'))
    const configFile = (schemasDir: string): string => {
      const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`)
      writeFileSync(file, `topics:\n  overrides:\n    ${ev}: { schema: behavior-event, format: avro }\n    ${dec}: { schema: decision }\nschemaRegistry:\n  url: ${REGISTRY_URL}\n  schemasDir: ${schemasDir}\n`)
      return file
    }
    const only = ['--topic', ev, '--topic', dec]
    const first = await hermes(['schemas', 'register', '-c', configFile('schemas'), ...only])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(new RegExp(`${ev}-value \\(behavior-event\\.avsc\\): registered, id \\d+ \\(new subject\\)`))
    expect(first.stdout).toMatch(new RegExp(`${dec}-value \\(decision\\.avsc\\): registered, id \\d+ \\(new subject\\)`))

    const again = await hermes(['schemas', 'register', '-c', configFile('schemas'), ...only])
    expect(again.stdout).toMatch(new RegExp(`${ev}-value \\(behavior-event\\.avsc\\): unchanged, version 1`))

    const compatible = configFile(schemasWith('behavior-event', [{ name: 'channel', type: ['null', 'string'], default: null }]))
    const dry = await hermes(['schemas', 'register', '--dry-run', '-c', compatible, '--topic', ev])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain(`${ev}-value (behavior-event.avsc): compatible change (was version 1)\n    + channel: ["null","string"] = null`)
    const registry = new SchemaRegistryClient(validateConfig({ schemaRegistry: { url: REGISTRY_URL } }).schemaRegistry, silent)
    expect((await registry.latest(`${ev}-value`))?.version).toBe(1)
    const evolved = await hermes(['schemas', 'register', '-c', compatible, '--topic', ev])
    expect(evolved.stdout).toMatch(/registered, id \d+ \(was version 1\)/)
    expect((await registry.latest(`${ev}-value`))?.version).toBe(2)

    const breaking = configFile(schemasWith('behavior-event', [{ name: 'channel', type: ['null', 'string'], default: null }, { name: 'region', type: 'string' }]))
    const refused = await hermes(['schemas', 'register', '-c', breaking, '--topic', ev])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toContain(`${ev}-value (behavior-event.avsc): REFUSED:`)
    expect(refused.stdout).toMatch(/Incompatible artifact.*region/)
    expect(refused.stdout).toContain('+ region: "string" (no default)')
    expect(refused.stderr).toMatch(/SCHEMA_INCOMPATIBLE: 1 schema change\(s\) refused/)
    expect((await registry.latest(`${ev}-value`))?.version).toBe(2)
  })
})

describe('instances starting together', () => {
  it('register the same schema under a new subject at once and all get its one id', async () => {
    const topic = `together-${runId()}`
    const config = validateConfig({ topics: { overrides: { [topic]: { schema: 'behavior-event', format: 'avro' } } }, schemaRegistry: { url: REGISTRY_URL } })
    const starts = Array.from({ length: 8 }, () => registeredSchema(topic, config, new SchemaRegistryClient(config.schemaRegistry, silent)))
    const ids = new Set((await Promise.all(starts)).map((s) => s.id))
    expect(ids.size).toBe(1)
    const registry = new SchemaRegistryClient(config.schemaRegistry, silent)
    expect((await registry.latest(`${topic}-value`))?.id).toBe([...ids][0])
  })
})

describe('an unreachable registry at start-up', () => {
  const topology = (): ReturnType<TopologyBuilder['build']> => {
    const b = new TopologyBuilder(`down-${runId()}`)
    b.source('in', { topic: 'down-events', serde: jsonObjectSerde() }).to('out', { topic: 'down-out', serde: jsonSerde() })
    return b.build()
  }
  const configFor = (url: string, extra: object = {}) =>
    validateConfig({ topics: { overrides: { 'down-events': { format: 'avro', schema: 'behavior-event' } } }, schemaRegistry: { url, retryInitialMs: 200, retryMaxMs: 800, ...extra } })

  it('is waited for with growing delays, and the run goes on once it answers', async () => {
    const port = await freePort()
    const lines = new PassThrough()
    const logged: Array<{ msg: string; retryInMs?: number }> = []
    lines.on('data', (chunk: Buffer) => {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logged.push(JSON.parse(l) as { msg: string })
    })
    const logger = createLogger({ level: 'warn', destination: lines })
    let reopened: { close: () => Promise<void> } | undefined
    const later = setTimeout(() => (reopened = relay(port, 18081)), 2000)
    try {
      const started = Date.now()
      const [t] = await withTopicFormats([topology()], configFor(`http://127.0.0.1:${port}/apis/ccompat/v7`), logger)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
      expect((t?.node('in') as { serde: { name: string } }).serde.name).toBe('avro')
      const waits = logged.filter((l) => /schema registry unreachable/.test(l.msg))
      expect(waits.length).toBeGreaterThanOrEqual(3)
      expect(waits.map((w) => w.retryInMs)).toEqual(waits.map((_, i) => Math.min(200 * 2 ** i, 800)))
    } finally {
      clearTimeout(later)
      await reopened?.close()
    }
  })

  it('gives up after schemaRegistry.startupTimeoutMs with an error that says where and what to do', async () => {
    const port = await freePort()
    const err = await withTopicFormats([topology()], configFor(`http://127.0.0.1:${port}/apis/ccompat/v7`, { startupTimeoutMs: 1500, username: 'bob', password: 's3cret' }), silent).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect((err as RegistryError).code).toBe('REGISTRY_UNAVAILABLE')
    expect((err as Error).message).toMatch(new RegExp(`the schema registry at http://127\\.0\\.0\\.1:${port}/apis/ccompat/v7 did not answer for \\d+ s \\(\\d+ attempts; last: .*ECONNREFUSED.*\\)\\. Start it \\(scripts/registry/start\\.sh\\), or fix schemaRegistry\\.url`))
    expect((err as Error).message).not.toContain('s3cret')
  })

  it('hermes run exits with that message, not a stack trace or a crash loop', async () => {
    const port = await freePort()
    const r = await hermes(['run', 'push-decisions', '--metrics-port', '-1'], {
      HERMES__runtime__mode: 'kafka',
      HERMES__topics__defaultFormat: 'avro',
      HERMES__schemaRegistry__url: `http://127.0.0.1:${port}/apis/ccompat/v7`,
      HERMES__schemaRegistry__retryInitialMs: '200',
      HERMES__schemaRegistry__startupTimeoutMs: '1500',
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/hermes: REGISTRY_UNAVAILABLE: the schema registry at http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 did not answer/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})
