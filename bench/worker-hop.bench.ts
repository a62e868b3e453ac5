/**
 * What worker threads would cost the embedded decision flow per record and per synchronization
 * (docs/performance.md, "Worker threads: design and measured cost"): a batch of records sent to a
 * worker and back (structured clone of decoded values, or their JSON bytes in one transferred
 * buffer), and one round trip to a worker, by message or by a shared-memory flag (the barrier a
 * deterministic schedule across threads needs at every step). Figures only.
 *
 *   npx tsx bench/worker-hop.bench.ts [--records N] [--batch N] [--pings N]
 */
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'

const { values: args } = parseArgs({
  options: { records: { type: 'string', default: '200000' }, batch: { type: 'string', default: '1000' }, pings: { type: 'string', default: '20000' } },
})
const RECORDS = Number(args.records)
const BATCH = Number(args.batch)
const PINGS = Number(args.pings)

// The worker echoes batches (as received) and answers pings, by message or on a shared Int32Array.
const WORKER = `
const { parentPort } = require('node:worker_threads')
parentPort.on('message', (m) => {
  if (m.kind === 'flag') {
    const flag = new Int32Array(m.sab)
    for (let i = 0; i < m.n; i++) {
      while (Atomics.load(flag, 0) !== 1) Atomics.wait(flag, 0, 0)
      Atomics.store(flag, 0, 2)
      Atomics.notify(flag, 0)
    }
    return
  }
  if (m.kind === 'bytes') parentPort.postMessage(m, [m.buf])
  else parentPort.postMessage(m)
})
`

const event = (i: number): object => ({ eventId: `e-${i}`, userId: `u-${i % 20000}`, type: 'view', ts: 1_793_577_600_000 + i, itemId: `i-${i % 500}`, category: 'shoes', attrs: { price: 129.5, dropPct: 12, source: 'search' } })

const worker = new Worker(WORKER, { eval: true })
const reply = (): Promise<{ kind: string; buf?: ArrayBuffer }> => new Promise((resolve) => worker.once('message', resolve))

async function batches(kind: 'values' | 'bytes'): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let sent = 0; sent < RECORDS; sent += BATCH) {
    const values = Array.from({ length: BATCH }, (_, j) => event(sent + j))
    if (kind === 'values') {
      worker.postMessage({ kind, values })
      await reply()
    } else {
      // What the embedded log holds anyway: each record's JSON bytes, here in one buffer.
      const parts = values.map((v) => Buffer.from(JSON.stringify(v), 'utf8'))
      const joined = Buffer.concat(parts)
      const buf = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.length)
      worker.postMessage({ kind, buf }, [buf])
      await reply()
    }
  }
  return Number(process.hrtime.bigint() - t0) / RECORDS / 1000
}

async function pingMessages(): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < PINGS; i++) {
    worker.postMessage({ kind: 'ping' })
    await reply()
  }
  return Number(process.hrtime.bigint() - t0) / PINGS / 1000
}

function pingFlag(): number {
  const sab = new SharedArrayBuffer(4)
  const flag = new Int32Array(sab)
  worker.postMessage({ kind: 'flag', sab, n: PINGS })
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < PINGS; i++) {
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    while (Atomics.load(flag, 0) !== 2) Atomics.wait(flag, 0, 1)
    Atomics.store(flag, 0, 0)
  }
  return Number(process.hrtime.bigint() - t0) / PINGS / 1000
}

// Record creation alone, to subtract: what the hop adds is the rest.
const c0 = process.hrtime.bigint()
for (let i = 0; i < RECORDS; i++) event(i)
const createUs = Number(process.hrtime.bigint() - c0) / RECORDS / 1000
await batches('values') // warm up both paths
const valuesUs = await batches('values')
const bytesUs = await batches('bytes')
const messageRoundTripUs = await pingMessages()
const flagRoundTripUs = pingFlag()
await worker.terminate()
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'worker-thread hop: per record (batched) and per round trip, µs, main thread wall time',
      records: RECORDS,
      batch: BATCH,
      createRecordUs: +createUs.toFixed(3),
      batchOfValuesThereAndBackUsPerRecord: +(valuesUs - createUs).toFixed(3),
      batchOfJsonBytesThereAndBackUsPerRecord: +(bytesUs - createUs).toFixed(3),
      messageRoundTripUs: +messageRoundTripUs.toFixed(2),
      sharedFlagRoundTripUs: +flagRoundTripUs.toFixed(2),
      node: process.version,
    },
    null,
    2,
  )}\n`,
)
