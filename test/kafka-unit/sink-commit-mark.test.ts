import { describe, expect, it } from 'vitest'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { KafkaSink } from '../../pipeline/kafka/sink.ts'
import type { OutRecord } from '../../pipeline/kafka/sink.ts'
import { fakeKafka } from './fake-producer.ts'
import type { PendingSend } from './fake-producer.ts'

// At-least-once, the loop processes while a commit is written (KafkaRunner.startCommit): a
// task's commit step waits for the outputs produced before it began, and no longer for those the
// loop produces meanwhile, which at a steady rate never stop (issue 9, latency at 10k events/s).
// A fake kafkajs producer whose sends the test acknowledges by hand; no broker.

const out = (v: string, owner = 'app/0_0'): OutRecord => ({ owner, topic: 'out', partition: 0, key: 'k', value: Buffer.from(v), timestamp: 1 })
const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

async function openSink(): Promise<{ sink: KafkaSink; sends: PendingSend[] }> {
  const { kafka, sends } = fakeKafka()
  const sink = new KafkaSink(kafka, { exactlyOnce: false, logger: createLogger({ level: 'silent' }), maxInFlight: 8 })
  await sink.start()
  return { sink, sends }
}

/** A task's commit step with one changelog record, and whether it has resolved. */
function commitTask(sink: KafkaSink, owner = 'app/0_0'): { done: () => boolean; promise: Promise<unknown> } {
  let done = false
  const promise = sink.commitTask('app', owner, 0, [{ topic: 'app-n-changelog', key: 'k', value: Buffer.from('state') }], { groupId: 'app', offsets: [] }).then((r) => {
    done = true
    return r
  })
  return { done: () => done, promise }
}

describe('KafkaSink at-least-once commit while the loop goes on', () => {
  it('waits for the outputs produced before the commit began, then sends the changelog, without waiting for outputs produced after', async () => {
    const { sink, sends } = await openSink()
    sink.push(out('a'))
    sink.dispatch('app')
    const commit = commitTask(sink)
    // The loop goes on: an output after the commit began, sent once 'a' is acknowledged.
    sink.push(out('b'))
    sink.dispatch('app')
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a']])
    expect(commit.done()).toBe(false)
    sends[0]?.ack()
    await tick()
    // 'b' is in flight, and the changelog goes out beside it.
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b'], ['state']])
    sends[2]?.ack()
    await tick()
    expect(commit.done()).toBe(true)
    expect(sink.pending()).toBe(1)
    sends[1]?.ack()
    await tick()
    expect(sink.pending()).toBe(0)
  })

  it('waits for an output queued before the commit began, even when it goes out with later ones', async () => {
    const { sink, sends } = await openSink()
    sink.push(out('a'))
    sink.dispatch('app')
    sink.push(out('b')) // queued behind the send in flight, before the commit
    const commit = commitTask(sink)
    sink.push(out('c'))
    sends[0]?.ack()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b', 'c']])
    expect(commit.done()).toBe(false)
    sends[1]?.ack()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b', 'c'], ['state']])
    sends[2]?.ack()
    await commit.promise
  })

  it('does not wait for the queued outputs of a task dropped before the commit, and still for the others', async () => {
    const { sink, sends } = await openSink()
    sink.push(out('a'))
    sink.dispatch('app')
    sink.push(out('x', 'app/0_1'))
    sink.push(out('b'))
    await sink.closeTask('app/0_1')
    const commit = commitTask(sink)
    sends[0]?.ack()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b']])
    expect(commit.done()).toBe(false)
    sends[1]?.ack()
    await tick()
    sends[2]?.ack()
    await commit.promise
  })

  it('fails when an output produced before it fails, and sends no changelog', async () => {
    const { sink, sends } = await openSink()
    sink.push(out('a'))
    sink.dispatch('app')
    const commit = commitTask(sink)
    sends[0]?.fail(new Error('broker gone'))
    await expect(commit.promise).rejects.toThrow(/broker gone/)
    expect(sends).toHaveLength(1)
  })
})
