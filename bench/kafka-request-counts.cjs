/**
 * Counts a process' Kafka requests by API (kafkajs `Connection.prototype.send`), and for fetches
 * the partitions listed, those with records and the records: docs/performance.md, "Decision flow
 * on Kafka, fifth round". Preloaded; writes DIR/<pid>-<threadId>.json every second and at exit:
 *
 *   COUNT_DIR=DIR NODE_OPTIONS="--require $PWD/bench/kafka-request-counts.cjs" npx tsx bench/decisions-kafka.bench.ts ...
 *
 * Only threads that inherit the preload are counted: the producer thread's worker is started
 * with an execArgv of its own, so produce requests are counted with `kafka.producer.thread` off.
 */
const { threadId } = require('node:worker_threads')
const { writeFileSync } = require('node:fs')

const dir = process.env.COUNT_DIR
if (dir) {
  const counts = {}
  const add = (k, n) => void (counts[k] = (counts[k] ?? 0) + n)
  let wrapped = false
  // kafkajs is resolved from the working directory, once it can be (the preload runs first).
  const wrap = () => {
    if (wrapped) return
    let Connection
    try {
      Connection = require(require.resolve('kafkajs/src/network/connection.js', { paths: [process.cwd()] }))
    } catch {
      return
    }
    wrapped = true
    const send = Connection.prototype.send
    Connection.prototype.send = async function (args) {
      add(args.request.apiName, 1)
      const res = await send.call(this, args)
      if (args.request.apiName === 'Fetch' && res?.responses) {
        for (const t of res.responses) {
          for (const p of t.partitions) {
            const n = p.messages?.length ?? 0
            add('FetchPartitions', 1)
            add('FetchPartitionsNonEmpty', n > 0 ? 1 : 0)
            add('FetchRecords', n)
          }
        }
      }
      return res
    }
  }
  wrap()
  const dump = () => {
    wrap()
    writeFileSync(`${dir}/${process.pid}-${threadId}.json`, JSON.stringify(counts))
  }
  setInterval(dump, 1000).unref()
  process.on('exit', dump)
}
