import { describe, expect, it } from 'vitest'
import { InFlightTimes } from '../../pipeline/kafka/in-flight.ts'
import { mulberry32 } from '../../operators/ids.ts'

// Event times of records written to our own input partitions and not read back yet.

describe('InFlightTimes', () => {
  it('starts empty: no minimum, size 0', () => {
    const f = new InFlightTimes()
    expect(f.min()).toBe(Infinity)
    expect(f.minFor('rep:0')).toBe(Infinity)
    expect(f.size()).toBe(0)
  })

  it('tracks the earliest time overall and per partition as records leave and arrive', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 50)
    f.add('rep:1', 20)
    f.add('rep:0', 30)
    expect(f.min()).toBe(20)
    expect(f.minFor('rep:0')).toBe(30)
    expect(f.minFor('rep:1')).toBe(20)
    expect(f.size()).toBe(3)
    f.arrived('rep:1', 20)
    expect(f.min()).toBe(30)
    expect(f.minFor('rep:1')).toBe(Infinity)
    f.arrived('rep:0', 30)
    expect(f.min()).toBe(50)
    expect(f.minFor('rep:0')).toBe(50)
    f.arrived('rep:0', 50)
    expect(f.min()).toBe(Infinity)
    expect(f.size()).toBe(0)
  })

  it('counts records with the same time: the time stays until the last of them arrives', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 10)
    f.add('rep:0', 10)
    f.add('rep:1', 10)
    f.arrived('rep:0', 10)
    expect(f.min()).toBe(10)
    expect(f.minFor('rep:0')).toBe(10)
    f.arrived('rep:0', 10)
    expect(f.minFor('rep:0')).toBe(Infinity)
    expect(f.min()).toBe(10) // still on its way to rep:1
    f.arrived('rep:1', 10)
    expect(f.min()).toBe(Infinity)
  })

  it('ignores records it did not send (another instance, or from before a restart)', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 10)
    f.arrived('rep:0', 99)
    f.arrived('rep:7', 10)
    expect(f.size()).toBe(1)
    expect(f.min()).toBe(10)
  })

  it('a new earlier record lowers a partition minimum already computed', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 40)
    expect(f.minFor('rep:0')).toBe(40)
    f.add('rep:0', 15)
    expect(f.minFor('rep:0')).toBe(15)
    expect(f.min()).toBe(15)
  })

  it('forgets a partition that moved to another instance, and everything on reset', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 5)
    f.add('rep:0', 6)
    f.add('rep:1', 8)
    f.clear('rep:0')
    expect(f.minFor('rep:0')).toBe(Infinity)
    expect(f.min()).toBe(8)
    expect(f.size()).toBe(1)
    f.clear('rep:9') // unknown: nothing happens
    expect(f.size()).toBe(1)
    f.reset()
    expect(f.min()).toBe(Infinity)
    expect(f.size()).toBe(0)
    f.add('rep:1', 3)
    expect(f.min()).toBe(3)
  })

  it('exactly_once_v2: counts the records of ours written since the last commit', () => {
    const f = new InFlightTimes()
    f.add('rep:0', 50)
    f.add('rep:1', 70)
    expect(f.uncommitted()).toBe(2)
    f.transactionCommitted(f.commitMark())
    expect(f.uncommitted()).toBe(0)
    f.add('rep:0', 10)
    expect(f.uncommitted()).toBe(1)
    // Arrivals do not make a record committed or not.
    f.arrived('rep:0', 50)
    expect(f.uncommitted()).toBe(1)
    f.reset()
    expect(f.uncommitted()).toBe(0)
  })

  it('exactly_once_v2: a commit covers the records written before it began, not those written while it ran', () => {
    const f = new InFlightTimes()
    f.ordered = true
    f.add('rep:0', 50, 50, 'app/0_0')
    f.transactionCommitted(f.commitMark())
    f.add('rep:0', 60, 60, 'app/0_0')
    f.add('rep:1', 10, 10, 'app/0_0')
    const mark = f.commitMark()
    // While it is written: one of the committed earlier arrives, and one more is written.
    f.arrived('rep:0', 50)
    f.add('rep:0', 70, 70, 'app/0_0')
    expect(f.uncommitted()).toBe(3)
    f.transactionCommitted(mark)
    expect(f.uncommitted()).toBe(1)
    // Only the one written during the commit is still uncommitted: the others are never forgotten.
    f.forgetUncommitted(() => false)
    expect(f.size()).toBe(2)
    expect(f.minFor('rep:0')).toBe(60)
    expect(f.minFor('rep:1')).toBe(10)
    expect(f.nextFor('rep:0')).toBe(60)
    expect(f.uncommitted()).toBe(0)
  })

  it('exactly_once_v2: forgets the uncommitted records of dropped tasks (their outbox is discarded), never committed ones', () => {
    const f = new InFlightTimes()
    f.ordered = true
    f.add('rep:0', 50, 50, 'app/0_0')
    f.transactionCommitted(f.commitMark())
    f.add('rep:0', 20, 20, 'app/0_0')
    f.add('rep:0', 60, 60, 'app/0_1')
    f.add('rep:1', 10, 10, 'app/0_0')
    f.forgetUncommitted((owner) => owner !== 'app/0_0')
    // The committed one of 0_0 stays (it will arrive); its others are gone.
    expect(f.size()).toBe(2)
    expect(f.minFor('rep:0')).toBe(50)
    expect(f.minFor('rep:1')).toBe(Infinity)
    expect(f.min()).toBe(50)
    expect(f.uncommitted()).toBe(1)
    expect(f.nextFor('rep:0')).toBe(50)
    f.arrived('rep:0', 50)
    expect(f.nextFor('rep:0')).toBe(60)
    // Forgetting again keeps what is left, committed or not, of writers kept.
    f.forgetUncommitted((owner) => owner !== 'app/0_0')
    expect(f.size()).toBe(1)
    f.arrived('rep:0', 60)
    expect(f.size()).toBe(0)
  })

  it('agrees with a plain list under random adds, arrivals and clears', () => {
    const rnd = mulberry32(11)
    const f = new InFlightTimes()
    const list: Array<{ tp: string; ts: number }> = []
    for (let i = 0; i < 5000; i++) {
      const r = rnd()
      const tp = `rep:${Math.floor(rnd() * 4)}`
      if (r < 0.55) {
        const ts = Math.floor(rnd() * 100)
        f.add(tp, ts)
        list.push({ tp, ts })
      } else if (r < 0.97) {
        const mine = list.filter((x) => x.tp === tp)
        const pickOne = mine[Math.floor(rnd() * mine.length)]
        if (pickOne) {
          f.arrived(tp, pickOne.ts)
          list.splice(list.indexOf(pickOne), 1)
        }
      } else {
        f.clear(tp)
        for (let k = list.length - 1; k >= 0; k--) if (list[k]?.tp === tp) list.splice(k, 1)
      }
      expect(f.size()).toBe(list.length)
      expect(f.min()).toBe(list.length ? Math.min(...list.map((x) => x.ts)) : Infinity)
      const forTp = list.filter((x) => x.tp === tp).map((x) => x.ts)
      expect(f.minFor(tp)).toBe(forTp.length ? Math.min(...forTp) : Infinity)
    }
  })
})
