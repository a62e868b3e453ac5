import { describe, expect, it } from 'vitest'
import { AppTransaction } from '../../pipeline/kafka/app-transaction.ts'
import type { ProduceAck, SinkProducer, SinkTransaction, TxnOffsets } from '../../pipeline/kafka/producer-port.ts'
import type { OutRecord } from '../../pipeline/kafka/sink.ts'
import { createLogger } from '../../pipeline/observability/logger.ts'

// exactly_once_v2's open transaction (issue 9, fifth round): outputs go out while the tasks go
// on processing, and the commit sends the rest, the offsets and the end of the transaction. A
// fake producer whose sends the test acknowledges by hand; no broker.

interface Send {
  txn: number
  values: string[]
  ack: () => void
  fail: (err: Error) => void
}

function fakeProducer(ordered: boolean): { producer: SinkProducer; sends: Send[]; log: string[] } {
  const sends: Send[] = []
  const log: string[] = []
  let txns = 0
  const producer: SinkProducer = {
    connect: async () => {},
    disconnect: async () => {},
    sendBatch: async () => [],
    transaction: async (): Promise<SinkTransaction> => {
      const txn = txns++
      log.push(`begin ${txn}`)
      return {
        ordered,
        sendBatch: (records) =>
          new Promise<ProduceAck[]>((resolve, reject) => {
            const values = records.map((r) => String(r.value))
            sends.push({ txn, values, ack: () => resolve([{ topicName: 'out', partition: 0, baseOffset: '10' }]), fail: reject })
          }),
        sendOffsets: async (o: TxnOffsets) => void log.push(`offsets ${txn} ${o.offsets.map((x) => x.offset).join(',')}`),
        commit: async () => void log.push(`commit ${txn}`),
        abort: async () => void log.push(`abort ${txn}`),
      }
    },
  }
  return { producer, sends, log }
}

const rec = (v: string, owner = 'app/0_0'): OutRecord => ({ owner, topic: 'out', partition: 0, key: 'k', value: Buffer.from(v), timestamp: 1 })
const tick = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}
/** Sends as the sink makes them: the acks say which offsets the records got. */
const sendAll = async (txn: SinkTransaction, records: readonly OutRecord[], offsets: boolean): Promise<Map<string, number>> => {
  if (records.length === 0) return new Map()
  if (!offsets) {
    await txn.sendBatch(records)
    return new Map()
  }
  const acks = await txn.sendBatch(records)
  return new Map(acks.map((a) => [`${a.topicName}:${a.partition}`, Number(a.baseOffset) + records.length]))
}
const offsets: TxnOffsets = { groupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 7 }] }

function open(ordered: boolean, batch = 2): { t: AppTransaction; sends: Send[]; log: string[] } {
  const { producer, sends, log } = fakeProducer(ordered)
  return { t: new AppTransaction('app', producer, 'app-p1', sendAll, batch, createLogger({ level: 'silent' })), sends, log }
}

describe('AppTransaction (exactly_once_v2 sends while processing)', () => {
  it('ordered: sends everything queued at once, in batches, before the commit', async () => {
    const { t, sends, log } = open(true)
    t.push(rec('a'))
    t.dispatch()
    await tick()
    // The first send learns that the producer is ordered; the next ones do not wait for it.
    expect(sends.map((s) => s.values)).toEqual([['a']])
    for (const v of ['b', 'c', 'd']) t.push(rec(v))
    t.dispatch()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b', 'c'], ['d']])
    expect(t.pending()).toBe(4)
    expect(t.saturated(4)).toBe(true)
    expect(t.saturated(5)).toBe(false)
    const committed = t.commit([rec('log')], offsets)
    await tick()
    // The tail goes out at once, after the sends in flight; the offsets wait for all of them.
    expect(sends.map((s) => s.values)).toEqual([['a'], ['b', 'c'], ['d'], ['log']])
    for (const s of sends.slice(1)) s.ack()
    await tick()
    expect(log).toEqual(['begin 0'])
    sends[0]?.ack()
    expect(await committed).toEqual(new Map([['out:0', 11]]))
    expect(log).toEqual(['begin 0', 'offsets 0 7', 'commit 0'])
    expect(t.pending()).toBe(0)
    // The next record begins the next transaction.
    t.push(rec('e'))
    t.dispatch()
    await tick()
    expect(sends.at(-1)).toMatchObject({ txn: 1, values: ['e'] })
  })

  it('not ordered: one send at a time, the next when it is acknowledged', async () => {
    const { t, sends } = open(false)
    for (const v of ['a', 'b', 'c']) t.push(rec(v))
    t.dispatch()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a', 'b']])
    t.dispatch()
    await tick()
    expect(sends).toHaveLength(1)
    sends[0]?.ack()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a', 'b'], ['c']])
  })

  it('a failed send aborts the transaction at the commit, and nothing is sent after it', async () => {
    const { t, sends, log } = open(true)
    t.push(rec('a'))
    t.dispatch()
    await tick()
    sends[0]?.fail(Object.assign(new Error('broker gone'), { name: 'KafkaJSConnectionError' }))
    await tick()
    t.push(rec('b'))
    t.dispatch()
    await tick()
    expect(sends).toHaveLength(1)
    // Nor the tail of the commit.
    await expect(t.commit([rec('log')], offsets)).rejects.toThrow('broker gone')
    expect(sends).toHaveLength(1)
    expect(log).toEqual(['begin 0', 'abort 0'])
    expect(t.pending()).toBe(0)
  })

  it('a task dropped with records in the open transaction makes it abort; one without, does not', async () => {
    const { t, sends, log } = open(true, 10)
    t.push(rec('a', 'app/0_0'))
    t.dispatch()
    await tick()
    t.push(rec('b', 'app/0_1'))
    // 0_1's record was not sent yet: dropping it only discards it.
    t.drop('app/0_1')
    expect(() => t.throwIfRevoked()).not.toThrow()
    expect(t.pending()).toBe(1)
    t.drop('app/0_0')
    expect(() => t.throwIfRevoked()).toThrow(expect.objectContaining({ code: 'IO_ERROR', message: expect.stringContaining('app/0_0') }))
    sends[0]?.ack()
    await expect(t.commit([], offsets)).rejects.toMatchObject({ code: 'IO_ERROR' })
    expect(log).toEqual(['begin 0', 'abort 0'])
    // The next transaction is clean.
    t.push(rec('c', 'app/0_1'))
    t.dispatch()
    await tick()
    sends.at(-1)?.ack()
    await t.commit([], offsets)
    expect(log).toEqual(['begin 0', 'abort 0', 'begin 1', 'offsets 1 7', 'commit 1'])
  })

  it('keeps what is produced during a commit for the next transaction (the loop processes on)', async () => {
    const { t, sends, log } = open(true)
    t.push(rec('a'))
    t.dispatch()
    await tick()
    const committed = t.commit([], offsets)
    // Produced while the commit waits for 'a': not sent in its transaction.
    t.push(rec('b'))
    t.dispatch()
    await tick()
    expect(sends.map((s) => s.values)).toEqual([['a']])
    expect(t.pending()).toBe(2)
    sends[0]?.ack()
    await committed
    expect(log).toEqual(['begin 0', 'offsets 0 7', 'commit 0'])
    expect(t.pending()).toBe(1)
    t.dispatch()
    await tick()
    expect(sends.at(-1)).toMatchObject({ txn: 1, values: ['b'] })
  })

  it('commits offsets alone when nothing was produced, and nothing when there is nothing at all', async () => {
    const { t, log } = open(true)
    expect(await t.commit([], { groupId: 'g', offsets: [] })).toEqual(new Map())
    expect(log).toEqual([])
    await t.commit([], offsets)
    expect(log).toEqual(['begin 0', 'offsets 0 7', 'commit 0'])
  })
})
