/**
 * What one hop of a record between two readers costs in the embedded runtime: parsing its JSON
 * bytes (what every reader did before) against copying a value already decoded
 * (pipeline/runtime/shared-json.ts), for the decision flow's typical values. Figures only.
 *
 *   npx tsx bench/json-hop.bench.ts [--rounds N]
 */
import { parseArgs } from 'node:util'
import { jsonClone } from '../pipeline/runtime/shared-json.ts'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '200000' } } })
const ROUNDS = Number(args.rounds)

const values: { [name: string]: unknown } = {
  'behavior event': { eventId: 'e-000123456', userId: 'u-0001234', type: 'view', ts: 1_793_577_600_000, itemId: 'i-00042', category: 'shoes', attrs: { price: 129.5, dropPct: 12, source: 'search' } },
  exposure: {
    decisionId: 'd-4f9a1c2e7b',
    userId: 'u-0001234',
    taskId: 'price-drop',
    materialId: 'm1',
    experimentId: 'exp-1',
    arm: 'greedy',
    policy: 'greedy',
    outcome: 'sent',
    reason: null,
    ts: 1_793_577_600_000,
    features: { hour: 13, fresh: 0.4, pushes24h: 1, segments: ['new', 'shoes'] },
  },
  'material stats': { materialId: 'm1', impressions: 1234.5, clicks: 56.25, alpha: 57.25, beta: 1198.25, ts: 1_793_577_600_000 },
}

function time(fn: () => unknown): number {
  for (let i = 0; i < ROUNDS / 10; i++) fn() // warm up
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < ROUNDS; i++) fn()
  return Number(process.hrtime.bigint() - t0) / ROUNDS / 1000
}

const rows: Array<{ value: string; bytes: number; parseUs: number; copyUs: number; serializeUs: number }> = []
for (const [name, v] of Object.entries(values)) {
  const bytes = Buffer.from(JSON.stringify(v), 'utf8')
  rows.push({
    value: name,
    bytes: bytes.length,
    parseUs: +time(() => JSON.parse(bytes.toString('utf8'))).toFixed(3),
    copyUs: +time(() => jsonClone(v)).toFixed(3),
    serializeUs: +time(() => Buffer.from(JSON.stringify(v), 'utf8')).toFixed(3),
  })
}
process.stdout.write(`${JSON.stringify({ benchmark: 'one record hop: parse bytes vs copy decoded value (µs per record)', rounds: ROUNDS, rows, node: process.version }, null, 2)}\n`)
