import { describe, expect, it } from 'vitest'
import { createLogger } from '../../pipeline/observability/logger.ts'
import { KafkaSink, OUTPUTS_PER_BATCH } from '../../pipeline/kafka/sink.ts'
import type { OutRecord } from '../../pipeline/kafka/sink.ts'
import { fakeKafka } from './fake-producer.ts'
import type { PendingSend } from './fake-producer.ts'

// At-least-once outputs (issue 9): one send at a time, and what is queued while it is in flight
// goes out as one send once it is acknowledged. A fake kafkajs producer whose sends the test
// acknowledges by hand; no broker.

const out = (v: string): OutRecord => ({ owner: 'app/0_0', topic: 'out', partition: 0, key: 'k', value: Buffer.from(v), timestamp: 1 })
const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

/** A started at-least-once sink over a fake producer, and the sends the producer received. */
async function openSink(maxInFlight = 8): Promise<{ sink: KafkaSink; sends: PendingSend[] }> {
  const { kafka, sends } = fakeKafka()
  const sink = new KafkaSink(kafka, { exactlyOnce: false, logger: createLogger({ level: 'silent' }), maxInFlight })
  await sink.start()
  return { sink, sends }
}

describe('KafkaSink at-least-once sends', () => {
  it('sends one batch at a time and coalesces what was queued meanwhile, in order', async () => {
    const { sink, sends } = await openSink(8)
    sink.push(out('a'))
    sink.dispatch('app')
    sink.push(out('b'))
    sink.dispatch('app')
    sink.push(out('c'))
    sink.dispatch('app')
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a']])
    const flushed = sink.flush('app')
    sends[0]?.ack()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b', 'c']])
    expect(sink.pending()).toBe(2)
    sends[1]?.ack()
    await flushed
    expect(sink.pending()).toBe(0)
    expect(sends).toHaveLength(2)
  })

  it('sends at most OUTPUTS_PER_BATCH outputs at a time (kafkajs groups a send by partition in quadratic time)', async () => {
    const { sink, sends } = await openSink(8)
    for (let i = 0; i <= OUTPUTS_PER_BATCH; i++) sink.push(out(String(i)))
    const flushed = sink.flush('app')
    await tick()
    expect(sends[0]?.values).toHaveLength(OUTPUTS_PER_BATCH)
    sends[0]?.ack()
    await tick()
    expect(sends[1]?.values).toEqual([String(OUTPUTS_PER_BATCH)])
    sends[1]?.ack()
    await flushed
  })

  it('is saturated once maxInFlight batches of outputs wait for their acknowledgement', async () => {
    const { sink, sends } = await openSink(1)
    for (let i = 0; i < OUTPUTS_PER_BATCH; i++) sink.push(out(String(i)))
    expect(sink.saturated()).toBe(false) // nothing sent yet: the loop dispatches before it waits
    sink.dispatch('app')
    expect(sink.saturated()).toBe(true)
    const waited = sink.waitOne()
    sends[0]?.ack()
    await waited
    expect(sink.saturated()).toBe(false)
  })

  it('a failed send fails the flush, sends nothing more, and reset starts afresh', async () => {
    const { sink, sends } = await openSink(8)
    sink.push(out('a'))
    sink.dispatch('app')
    sink.push(out('b'))
    const flushed = sink.flush('app')
    await tick()
    sends[0]?.fail(new Error('broker gone'))
    await expect(flushed).rejects.toThrow(/broker gone/)
    expect(sends).toHaveLength(1)
    await sink.reset()
    expect(sink.pending()).toBe(0)
    sink.push(out('c'))
    const again = sink.flush('app')
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['c']])
    sends[1]?.ack()
    await again
  })
})
