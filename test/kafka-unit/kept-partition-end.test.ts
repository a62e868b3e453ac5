import { describe, expect, it } from 'vitest'
import { InFlightTimes } from '../../pipeline/kafka/in-flight.ts'
import { KafkaInputView, isBehind } from '../../pipeline/kafka/input-time.ts'
import type { Task } from '../../pipeline/runtime/task.ts'
import { TaskTime } from '../../pipeline/runtime/task-time.ts'
import { fakeKafka, fakeSource } from './fake-consumer.ts'

const HOUR = 3_600_000

/**
 * A partition kept through a join (kafkajs rejoins after a broker restart without a reset of the
 * tasks) is accepted again with the end read at that join. Seed 4 of the chaos run (docs/chaos.md):
 * a price drop written to behavior-events:3 just before the broker stopped was not fetched yet
 * when the consumer rejoined; the partition's buffer kept the end it knew from before the outage,
 * looked caught up, and its task's time followed the other partitions' backlog an hour ahead, so
 * a cart push held to a later time fired before the price drop and won the fatigue gap.
 */
describe('a partition kept through a join', () => {
  const consumer = () => fakeKafka({ seek: () => {}, resume: () => {}, pause: () => {} }).kafka

  it('takes the end read at the join: behind until it reaches it', () => {
    const s = fakeSource(consumer())
    const b = s.accept('events', 3, 0, 316, false)
    // Everything up to the end known before the outage was fetched and processed.
    b.fetched = 316
    expect(isBehind(b)).toBe(false)
    // The broker is back; offset 316 was written before it stopped; the consumer rejoins.
    expect(s.accept('events', 3, b.fetched, 320, false)).toBe(b)
    expect(b.initialEnd).toBe(320)
    expect(isBehind(b)).toBe(true)
    // A join with an end it already knows changes nothing.
    b.fetched = 320
    s.accept('events', 3, b.fetched, 318, false)
    expect(b.initialEnd).toBe(320)
    expect(isBehind(b)).toBe(false)
  })

  it("holds its task's time at what it processed, not at the other partitions' time", () => {
    const s = fakeSource(consumer())
    const quiet = s.accept('events', 3, 0, 316, false)
    quiet.fetched = 316
    const busy = s.accept('events', 0, 0, 100, false)
    busy.fetched = 101
    const view = new KafkaInputView({ name: 'app', source: s, inFlight: new InFlightTimes() })
    const task = {} as Task
    const processed = 10 * HOUR
    const time = (): number => {
      const t = new TaskTime(['events:3', 'events:0'])
      t.observe('events:3', processed)
      t.observe('events:0', processed)
      // The other partition's backlog, fetched after the rejoin, runs two hours ahead.
      const appMax = processed + 2 * HOUR
      busy.records = [{ topic: 'events', partition: 0, offset: 100, key: 'u1', value: null, timestamp: appMax, headers: {} } as never]
      busy.head = 0
      t.advance(task, view, appMax, appMax - HOUR, HOUR)
      return t.current
    }
    // Caught up as far as the buffer knows: the partition follows the app clock, an hour past what
    // it processed, so a timer held to half an hour after it fires before the unfetched record.
    expect(time()).toBe(processed + HOUR)
    s.accept('events', 3, quiet.fetched, 317, false)
    // Behind: its time stays an hour (the bound) before what it processed, until it fetches offset 316.
    expect(time()).toBe(processed - HOUR)
  })
})
