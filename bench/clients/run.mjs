/**
 * Kafka client comparison on one broker (issue 9, "Kafka client choice" in docs/performance.md):
 *   cd bench/clients && npm install && npm run bench -- [--runs 3] [--count 500000] [--eos-count 200000]
 *     [--clients kafkajs,platformatic] [--brokers 127.0.0.1:9092]
 * `npm run` puts node_modules/.bin first on PATH, so the pinned `node` package (22.x) runs it:
 * @platformatic/kafka needs Node >= 22.22. Every run is a fresh process (one.mjs); clients alternate
 * within each run. Measurements, all on 4-partition topics created here with unique names:
 *   produce   records/s, acks=all, idempotent, 5,000 records per send, one send at a time
 *   produce4  the same with 4 sends queued at once (only clients that keep order when doing so)
 *   consume   records/s reading a backlog of --count records with a new group
 *   eos       records/s of a consume-transform-produce loop, transactional, offsets in the
 *             transaction, a commit every 100 ms, over a backlog of --eos-count records
 * Prints each run, then a table of medians. Nothing is asserted; the figures go in the doc.
 */
import { execFileSync } from 'node:child_process'
import { Kafka, logLevel } from 'kafkajs'
import { PARTITIONS, unique } from './workload.mjs'

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}
const RUNS = Number(arg('runs', '3'))
const COUNT = Number(arg('count', '500000'))
const EOS_COUNT = Number(arg('eos-count', '200000'))
const BROKERS = arg('brokers', '127.0.0.1:9092')
const CLIENTS = arg('clients', 'kafkajs,platformatic').split(',')
const MEASURES = arg('measures', 'produce,produce4,consume,eos').split(',')
// kafkajs cannot keep an idempotent producer's order with several sends pending (see kafkajs-client.mjs).
const supports = (client, measure) => !(client === 'kafkajs' && measure === 'produce4')

const admin = new Kafka({ clientId: unique('admin'), brokers: BROKERS.split(','), logLevel: logLevel.NOTHING }).admin()
await admin.connect()
const created = []
const topic = async (what) => {
  const name = unique(what)
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: name, numPartitions: PARTITIONS, replicationFactor: 1 }] })
  created.push(name)
  return name
}
const one = (args) => JSON.parse(execFileSync(process.execPath, ['one.mjs', '--brokers', BROKERS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop())

/** Sum of the committed offsets of `groupId` on `t` and of the topic's end offsets (for the EOS check). */
async function offsetsOf(groupId, t) {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [t] })
  const ends = await admin.fetchTopicOffsets(t)
  return { committed: committed.partitions.reduce((a, p) => a + Number(p.offset), 0), end: ends.reduce((a, p) => a + Number(p.high), 0) }
}

console.log(`node ${process.version}; ${RUNS} runs; ${COUNT} records (produce, consume), ${EOS_COUNT} (eos); clients ${CLIENTS.join(', ')}`)
// The backlogs are written once, by the first client, and read by all.
// A failed attempt leaves a partial backlog, so a retry writes a fresh topic: on the shared broker,
// a topic just created is sometimes refused for a while (UNKNOWN_TOPIC_OR_PARTITION) under load.
async function filled(what, count) {
  for (let attempt = 1; ; attempt++) {
    const name = await topic(what)
    try {
      one(['--client', CLIENTS[0], '--measure', 'produce', '--topic', name, '--count', String(count)])
      return name
    } catch (err) {
      if (attempt === 3) throw err
      console.log(`writing the ${what} backlog failed (attempt ${attempt}), again on a new topic`)
    }
  }
}
const backlog = await filled('backlog', COUNT)
const eosInput = await filled('eos-in', EOS_COUNT)

const results = []
try {
  for (let run = 0; run < RUNS; run++) {
    // Alternate which client goes first from one run to the next.
    const order = run % 2 === 0 ? CLIENTS : [...CLIENTS].reverse()
    for (const measure of MEASURES) {
      for (const client of order) {
        if (!supports(client, measure)) continue
        let r
        if (measure === 'produce' || measure === 'produce4') r = one(['--client', client, '--measure', measure, '--topic', await topic('p'), '--count', String(COUNT)])
        else if (measure === 'consume') r = one(['--client', client, '--measure', measure, '--topic', backlog, '--count', String(COUNT)])
        else {
          r = one(['--client', client, '--measure', 'eos', '--topic', eosInput, '--output', await topic('eos-out'), '--count', String(EOS_COUNT)])
          const o = await offsetsOf(r.groupId, eosInput)
          // Every input record's offset must be committed by the last transaction.
          if (o.committed !== o.end) throw new Error(`${client} eos: committed offsets sum to ${o.committed}, the input ends at ${o.end}`)
        }
        results.push({ ...r, run })
        console.log(`run ${run + 1} ${measure.padEnd(8)} ${client.padEnd(12)} ${Math.round(r.rate).toLocaleString('en-US').padStart(9)} records/s  cpu ${(r.cpuShare * 100).toFixed(0)}%${r.commits ? `  ${r.commits} transactions` : ''}`)
      }
    }
  }
} finally {
  await admin.deleteTopics({ topics: created }).catch(() => {})
  await admin.disconnect()
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (n) => (n === undefined ? 'n/a' : `${(n / 1000).toFixed(1)}k`)
const range = (xs) => (xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : '')
// On a shared machine the load moves between runs: the ratio within each run (both clients
// measured back to back) says more than the ratio of the medians, so both are printed.
const pairedRatios = (c, measure) => {
  const of = (client, run) => results.find((r) => r.client === client && r.measure === measure && r.run === run)?.rate
  return Array.from({ length: RUNS }, (_, run) => of(c, run) / of(CLIENTS[0], run)).filter((x) => Number.isFinite(x))
}
console.log(`\nmedians of ${RUNS} runs (min–max), records/s (node ${process.version})`)
console.log(`| measurement | ${CLIENTS.join(' | ')} | ${CLIENTS.slice(1).map((c) => `${c} / ${CLIENTS[0]}, median of the runs' ratios (min–max)`).join(' | ')} |`)
console.log(`|---|${CLIENTS.map(() => '---:').join('|')}|${CLIENTS.slice(1).map(() => '---:').join('|')}|`)
for (const measure of MEASURES) {
  const cells = CLIENTS.map((c) => {
    const rs = results.filter((r) => r.client === c && r.measure === measure).map((r) => r.rate)
    return rs.length ? `${fmt(median(rs))} (${range(rs)})` : 'n/a'
  })
  const ratios = CLIENTS.slice(1).map((c) => {
    const xs = pairedRatios(c, measure)
    return xs.length ? `${median(xs).toFixed(2)}x (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : 'n/a'
  })
  console.log(`| ${measure} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`)
}
