/**
 * A tiny embedded world for the console's API tests: a few users, two tasks, three materials
 * and a handful of events, run once with the pipeline as `npm start` would, then opened by the
 * console (EmbeddedWorld) over the same state directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../pipeline/config/load.ts'
import type { HermesConfig } from '../../pipeline/config/schema.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'
import { EmbeddedRunner } from '../../pipeline/embedded/runner.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import materialStats from '../../topologies/material-stats.ts'
import pushDecisions from '../../topologies/push-decisions.ts'
import { buildConsole } from '../../console/server/app.ts'
import type { TokenEntry } from '../../console/server/auth.ts'
import { FileAuditSink } from '../../console/server/audit-file.ts'
import { EmbeddedWorld } from '../../console/server/embedded-world.ts'
import { KafkaWorld } from '../../console/server/kafka-world.ts'
import { ConfigStore } from '../../console/server/store.ts'

export const T0 = Date.UTC(2026, 10, 2, 10)
const MIN = 60_000

export const TASKS = [
  { taskId: 'price-drop', priority: 10, trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } }, audience: { include: [], exclude: ['churned'] }, materials: ['m1', 'm2'], experiment: { id: 'exp-1', arms: [{ name: 'greedy', weight: 50, policy: 'greedy' }, { name: 'ts', weight: 50, policy: 'thompson' }] }, quietHours: 'drop' },
  { taskId: 'welcome', priority: 5, trigger: { type: 'event', events: ['signup'] }, audience: { include: ['new'], exclude: [] }, materials: ['m3'], quietHours: 'drop' },
]
export const MATERIALS = [
  { materialId: 'm1', title: 'Price drop', body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper', deeplink: 'app://item/{{event.itemId}}' },
  { materialId: 'm2', title: 'Deal', body: 'Now cheaper: {{event.itemId}}', deeplink: null, fallbacks: { 'event.itemId': 'an item you like' } },
  { materialId: 'm3', title: 'Welcome', body: 'Hello {{user.userId}}', deeplink: null },
]
export const USERS = [
  { userId: 'u1', timezone: 'UTC', pushEnabled: true },
  { userId: 'u2', timezone: 'UTC', pushEnabled: true },
  { userId: 'u3', timezone: 'UTC', pushEnabled: false },
  { userId: 'u4', timezone: 'UTC', pushEnabled: true },
]
export const AUDIENCES = [
  { userId: 'u2', segmentId: 'churned', member: true },
  { userId: 'u4', segmentId: 'new', member: true },
]
/** u1: one push (dropPct 30), u1 again 1 min later (fatigue.gap), u2 excluded (churned), u3 opted out, u4 rule false (5%), u4 signup → welcome; a click on the first push. */
export const EVENTS = [
  { eventId: 'e1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'i1', attrs: { dropPct: 30 } },
  { eventId: 'e2', userId: 'u1', type: 'price_drop', ts: T0 + MIN, itemId: 'i2', attrs: { dropPct: 20 } },
  { eventId: 'e3', userId: 'u2', type: 'price_drop', ts: T0 + 2 * MIN, itemId: 'i1', attrs: { dropPct: 30 } },
  { eventId: 'e4', userId: 'u3', type: 'price_drop', ts: T0 + 3 * MIN, itemId: 'i1', attrs: { dropPct: 30 } },
  { eventId: 'e5', userId: 'u4', type: 'price_drop', ts: T0 + 4 * MIN, itemId: 'i1', attrs: { dropPct: 5 } },
  { eventId: 'e6', userId: 'u4', type: 'signup', ts: T0 + 5 * MIN },
  { eventId: 'e7', userId: 'u4', type: 'view', ts: T0 + 70 * MIN, itemId: 'i3' },
]

/** Configuration of the tests: memory-free RocksDB state in the directory, quiet logs, no metrics server. */
export function testConfig(stateDir: string): HermesConfig {
  return loadConfig({ environment: {}, overrides: { runtime: { stateDir }, observability: { http: { enabled: false }, log: { level: 'silent' } }, time: { maxFutureMs: null } } })
}

/** Appends configuration (at time 0) and events to an embedded log, as `npm start` does. */
export function appendWorld(log: EmbeddedLog, o: { tasks?: unknown[]; materials?: unknown[]; users?: unknown[]; audiences?: unknown[]; events?: unknown[] }): void {
  const put = (topic: string, key: string, value: unknown, ts: number): void => {
    if (!log.hasTopic(topic)) log.createTopic(topic, 4)
    log.append(topic, partitionFor(key, log.partitions(topic)), key, Buffer.from(JSON.stringify(value)), ts)
  }
  for (const m of o.materials ?? []) put('config.materials', (m as { materialId: string }).materialId, m, 0)
  for (const t of o.tasks ?? []) put('config.tasks', (t as { taskId: string }).taskId, t, 0)
  for (const u of o.users ?? []) put('config.users', (u as { userId: string }).userId, u, 0)
  for (const a of o.audiences ?? []) put('config.audiences', (a as { userId: string }).userId, a, 0)
  for (const e of o.events ?? []) put('behavior-events', (e as { userId: string }).userId, e, (e as { ts: number }).ts)
}

/** Runs the pipeline over a tiny world in `dir/state` and closes it, leaving what `npm start` leaves. */
export async function makeWorld(dir: string, o: Parameters<typeof appendWorld>[1] = { tasks: TASKS, materials: MATERIALS, users: USERS, audiences: AUDIENCES, events: EVENTS }): Promise<HermesConfig> {
  const config = testConfig(join(dir, 'state'))
  const log = EmbeddedLog.open(join(dir, 'state', 'log'))
  const env = { settings: config.hermes }
  const runner = await EmbeddedRunner.open({ topologies: [pushDecisions(env), materialStats(env)], config, log, state: { kind: 'rocksdb', dir: join(dir, 'state', 'state') }, logger: createLogger({ level: 'silent' }) })
  appendWorld(log, o)
  await runner.run()
  await runner.close()
  return config
}

export const EDITOR: TokenEntry = { user: 'alice', role: 'editor', token: 'alice-token-0123456789' }
export const VIEWER: TokenEntry = { user: 'bob', role: 'viewer', token: 'bob-token-0123456789' }
export const ORIGIN = 'http://127.0.0.1:8480'

/** A console over a fresh tiny world; `logs` collects its log lines. */
export async function openConsole(): Promise<{ app: FastifyInstance; world: EmbeddedWorld; dir: string; logs: string[]; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-console-'))
  const config = await makeWorld(dir)
  const logs: string[] = []
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    },
  })
  const logger = createLogger({ level: 'info', destination })
  const world = await EmbeddedWorld.open({ stateDir: dir, config, logger })
  const sink = new FileAuditSink(join(dir, 'console', 'audit.jsonl'))
  const store = new ConfigStore(sink, sink.load())
  const app = await buildConsole({ world, store, tokens: [EDITOR, VIEWER], logger, origins: () => [ORIGIN] })
  return {
    app,
    world,
    dir,
    logs,
    close: async () => {
      await app.close()
      await world.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Headers of a JSON request with a token. */
export const as = (t: TokenEntry, extra: { [k: string]: string } = {}): { [k: string]: string } => ({ authorization: `Bearer ${t.token}`, 'content-type': 'application/json', ...extra })

/**
 * A console on Kafka (KafkaWorld over the config's broker and topics), closed by `closers` in
 * reverse order (an afterAll of the test runs them).
 */
export async function openKafkaConsole(config: HermesConfig, logger: ReturnType<typeof createLogger>, closers: Array<() => Promise<void>>): Promise<{ world: KafkaWorld; app: FastifyInstance }> {
  const world = await KafkaWorld.open({ config, logger, simulateWaitMs: 200 })
  const app = await buildConsole({ world, store: world.store, tokens: [EDITOR, VIEWER], logger, origins: () => [] })
  closers.push(async () => {
    await app.close()
    await world.close()
  })
  return { world, app }
}
