/**
 * One measurement of one client in a fresh process, printed as one JSON line on stdout:
 *   node one.mjs --client kafkajs|platformatic --measure produce|produce4|consume|eos --topic T
 *     [--output T] [--count N] [--commit-ms 100] [--brokers 127.0.0.1:9092]
 * run.mjs starts it once per run, alternating clients, so no client warms up another's JIT or
 * connections.
 */
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}
const client = arg('client')
const measure = arg('measure')
const brokers = arg('brokers', '127.0.0.1:9092').split(',')
const count = Number(arg('count', '500000'))
const impl = await import(client === 'kafkajs' ? './kafkajs-client.mjs' : client === 'platformatic' ? './platformatic-client.mjs' : '--client must be kafkajs or platformatic')

const cpu0 = process.cpuUsage()
const wall0 = performance.now()
let result
if (measure === 'produce') result = { rate: await impl.produce({ brokers, topic: arg('topic'), count }) }
else if (measure === 'produce4') result = { rate: await impl.produce({ brokers, topic: arg('topic'), count, window: 4 }) }
else if (measure === 'consume') result = { rate: await impl.consume({ brokers, topic: arg('topic'), count }) }
else if (measure === 'eos') result = await impl.eos({ brokers, input: arg('topic'), output: arg('output'), count, commitMs: Number(arg('commit-ms', '100')) })
else throw new Error(`--measure must be produce, produce4, consume or eos, not ${measure}`)
const cpu = process.cpuUsage(cpu0)
// CPU over the whole process life (connect and group join included), as a share of one core.
const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0)
console.log(JSON.stringify({ client, measure, node: process.version, ...result, cpuShare }))
process.exit(0)
