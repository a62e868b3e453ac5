/**
 * Serde micro-benchmark: behavior events decoded and encoded as JSON (the topology's own serde)
 * and as Confluent-wire Avro (current schema, and an older writer schema resolved into the
 * current one). Writer schemas are handed over in memory, as after the first fetch from the
 * registry. Prints records/s per case and bytes per record as JSON. Figures only.
 *
 *   npx tsx bench/serde.bench.ts [--records N]
 */
import { parseArgs } from 'node:util'
import avro from 'avsc'
import { jsonObjectSerde } from '../pipeline/api/serde.ts'
import { validateConfig } from '../pipeline/config/load.ts'
import { confluentAvroSerde } from '../pipeline/registry/avro-serde.ts'
import { loadSchema } from '../pipeline/registry/formats.ts'
import { checkBehaviorEvent } from '../operators/types.ts'
import { trackPeakRss } from './harness.ts'

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '500000' } } })
const N = Number(args.records)
const peak = trackPeakRss()

const current = loadSchema(validateConfig({}), 'behavior-event').type
const old = avro.Type.forSchema({ type: 'record', name: 'BehaviorEvent', namespace: 'hermes', fields: [{ name: 'eventId', type: 'string' }, { name: 'userId', type: 'string' }, { name: 'type', type: 'string' }, { name: 'ts', type: 'long' }] })
const schemas = { writerType: async (id: number) => (id === 1 ? old : current) }
const own = jsonObjectSerde(checkBehaviorEvent)
const avroSerde = confluentAvroSerde({ subject: 'behavior-events-value', readerType: current, writerId: 2, schemas, fromValue: (v) => own.fromValue?.(v) })

const TYPES = ['view', 'search', 'add_to_cart', 'purchase', 'chat']
const events = Array.from({ length: 1000 }, (_, i) => ({ eventId: `e${i}`, userId: `u${i % 997}`, type: TYPES[i % TYPES.length] as string, ts: 1_790_000_000_000 + i * 1000, itemId: i % 3 ? `item-${i}` : null, category: i % 2 ? 'shoes' : null, attrs: i % 4 ? null : { price: 19.9, currency: 'EUR' } }))
const json = events.map((e) => own.serialize(e))
const wire = events.map((e) => avroSerde.serialize(e))
const header = Buffer.from([0, 0, 0, 0, 1])
const wireOld = events.map((e) => Buffer.concat([header, old.toBuffer({ eventId: e.eventId, userId: e.userId, type: e.type, ts: e.ts })]))
await avroSerde.prepare?.(wireOld)

function rate(run: (i: number) => unknown): number {
  for (let i = 0; i < 20_000; i++) run(i % 1000)
  const t0 = performance.now()
  for (let i = 0; i < N; i++) run(i % 1000)
  return Math.round(N / ((performance.now() - t0) / 1000))
}

const avg = (xs: Buffer[]): number => Math.round(xs.reduce((a, b) => a + b.length, 0) / xs.length)
console.log(
  JSON.stringify(
    {
      records: N,
      decodePerSec: { json: rate((i) => own.deserialize(json[i] as Buffer)), avro: rate((i) => avroSerde.deserialize(wire[i] as Buffer)), avroFromOlderSchema: rate((i) => avroSerde.deserialize(wireOld[i] as Buffer)) },
      encodePerSec: { json: rate((i) => own.serialize(events[i] as never)), avro: rate((i) => avroSerde.serialize(events[i])) },
      bytesPerRecord: { json: avg(json), avro: avg(wire) },
      peakRssMiB: peak(),
    },
    null,
    2,
  ),
)
