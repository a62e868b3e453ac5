import { describe, expect, it } from 'vitest'
import { HoldScope, oneWriterAppPerTopic } from '../../pipeline/kafka/hold-scope.ts'
import { InFlightTimes } from '../../pipeline/kafka/in-flight.ts'

// What a record of ours on its way holds back (issue 9: the global wait stalled the loop at every
// produce/fetch round trip). Sub-topologies as the topics they read and write; no broker.

describe('HoldScope', () => {
  it('bench topology (count per user, keyBy type, running count to an output): a record on its way to the running count holds back only the tasks reading its partition', () => {
    const scope = new HoldScope([
      [
        { reads: ['events'], writes: ['hourly', 'rep'] },
        { reads: ['rep'], writes: ['running'] },
      ],
    ])
    expect(scope.holds(scope.unit(0, 1))).toBeNull()
  })

  it('exactly_once_v2 (a producer per app): sound only where each topic read here has one writing app', () => {
    // push-decisions → decisions → material-stats → stats (broadcast) → push-decisions.
    const decisionFlow = [[{ reads: ['events', 'stats'], writes: ['decisions'] }], [{ reads: ['decisions'], writes: ['stats'] }]]
    expect(oneWriterAppPerTopic(decisionFlow)).toBe(true)
    // Two apps write the topic a third reads: their producers' records reach it in no order of ours.
    const shared = [[{ reads: ['a'], writes: ['merged'] }], [{ reads: ['b'], writes: ['merged'] }], [{ reads: ['merged'], writes: ['out'] }]]
    expect(oneWriterAppPerTopic(shared)).toBe(false)
    // ...but not if nobody here reads it.
    expect(oneWriterAppPerTopic([[{ reads: ['a'], writes: ['out'] }], [{ reads: ['b'], writes: ['out'] }]])).toBe(true)
  })

  it('a sub-topology that writes on to a topic read here holds back every one whose reach meets its own, upstream included', () => {
    // a → rep1 → b → rep2 → c (c writes only outputs); d is a separate chain reading events.
    const scope = new HoldScope([
      [
        { reads: ['events'], writes: ['rep1'] },
        { reads: ['rep1'], writes: ['rep2'] },
        { reads: ['rep2'], writes: ['out'] },
        { reads: ['other'], writes: ['out2'] },
      ],
    ])
    expect(scope.holds(scope.unit(0, 1))).toEqual([0, 1])
    expect(scope.holds(scope.unit(0, 2))).toBeNull()
  })

  it('the decision flow: push-decisions feeds material-stats, whose stats come back as broadcast state, so everything waits as before', () => {
    const scope = new HoldScope([
      [{ reads: ['behavior-events', 'config.users', 'material-stats'], writes: ['push-decisions', 'push-suppressions'] }],
      [
        { reads: ['push-decisions', 'behavior-events'], writes: ['ms-rep'] },
        { reads: ['ms-rep'], writes: ['material-stats'] },
      ],
    ])
    const all = [0, 1, 2]
    expect(scope.holds(scope.unit(1, 0))).toEqual(all)
    expect(scope.holds(scope.unit(1, 1))).toEqual(all)
    expect(scope.unit(1, 1)).toBe(2)
  })
})

describe('InFlightTimes.clockFor', () => {
  it('gives the clock of the oldest record of ours still on its way to a partition, in the order they were written', () => {
    const f = new InFlightTimes()
    expect(f.clockFor('rep:0')).toBe(Infinity)
    f.add('rep:0', 100, 150)
    f.add('rep:0', 90, 160)
    f.add('rep:1', 200, 210)
    expect(f.clockFor('rep:0')).toBe(150)
    f.arrived('rep:0', 100)
    expect(f.clockFor('rep:0')).toBe(160)
    // Not one of ours: nothing moves.
    f.arrived('rep:0', 12345)
    expect(f.clockFor('rep:0')).toBe(160)
    f.arrived('rep:0', 90)
    expect(f.clockFor('rep:0')).toBe(Infinity)
    expect(f.clockFor('rep:1')).toBe(210)
    f.clear('rep:1')
    expect(f.clockFor('rep:1')).toBe(Infinity)
  })

  it('with ordered (one producer), names the next record of ours to arrive: the oldest written, not the earliest in time', () => {
    const f = new InFlightTimes()
    f.ordered = true
    f.add('rep:0', 500, 500)
    f.add('rep:0', 100, 510) // a late record, written after the one at 500
    expect(f.minFor('rep:0')).toBe(100)
    expect(f.nextFor('rep:0')).toBe(500)
    f.arrived('rep:0', 500)
    expect(f.nextFor('rep:0')).toBe(100)
    f.reset()
    expect(f.nextFor('rep:0')).toBe(Infinity)
    expect(f.ordered).toBe(true)
  })
})
