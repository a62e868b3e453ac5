/** The broadcast reader's in-memory view of a compacted partition, with no broker. */
import { describe, expect, it } from 'vitest'
import { CompactedLog } from '../../pipeline/kafka/compacted-log.ts'
import type { RawRecord } from '../../pipeline/runtime/task.ts'

const rec = (offset: number, key: string | null, value: string | null): RawRecord => ({ topic: 'config.tasks', partition: 0, offset, key, value: value === null ? null : Buffer.from(value), timestamp: offset })
const view = (records: Iterable<RawRecord>): Array<[number, string | null, string | null]> => [...records].map((r) => [r.offset, r.key, r.value?.toString() ?? null])

describe('CompactedLog', () => {
  it('keeps the latest record per key and unkeyed records, in offset order', () => {
    const log = new CompactedLog()
    for (const r of [rec(0, 'a', 'a1'), rec(1, 'b', 'b1'), rec(2, null, 'x'), rec(3, 'a', 'a2'), rec(4, 'c', 'c1')]) log.append(r)
    expect(view(log.read())).toEqual([
      [1, 'b', 'b1'],
      [2, null, 'x'],
      [3, 'a', 'a2'],
      [4, 'c', 'c1'],
    ])
    expect(log.size).toBe(4)
    expect(log.nextOffset).toBe(5)
  })

  it('reads from an offset: what a running task has not seen yet, across gaps and a log that does not start at 0', () => {
    const log = new CompactedLog()
    for (const r of [rec(1000, 'a', 'a1'), rec(1004, 'b', 'b1'), rec(1010, 'a', 'a2'), rec(1011, 'c', 'c1')]) log.append(r)
    expect(view(log.read(1005))).toEqual([
      [1010, 'a', 'a2'],
      [1011, 'c', 'c1'],
    ])
    expect(view(log.read(1012))).toEqual([])
    expect(view(log.read(0)).map(([o]) => o)).toEqual([1004, 1010, 1011])
  })

  it('ignores records fetched again', () => {
    const log = new CompactedLog()
    log.append(rec(0, 'a', 'a1'))
    log.append(rec(1, 'a', 'a2'))
    log.append(rec(0, 'a', 'a1'))
    expect(view(log.read())).toEqual([[1, 'a', 'a2']])
  })

  it('hands a tombstone to running tasks, not to tasks that start later, and forgets it once passed', () => {
    const log = new CompactedLog()
    for (const r of [rec(0, 'a', 'a1'), rec(1, 'b', 'b1'), rec(2, 'a', null)]) log.append(r)
    expect(view(log.read(2))).toEqual([[2, 'a', null]])
    expect(view(log.read())).toEqual([[1, 'b', 'b1']])
    log.forgetTombstonesBelow(2)
    expect(view(log.read(0))).toEqual([
      [1, 'b', 'b1'],
      [2, 'a', null],
    ])
    log.forgetTombstonesBelow(3)
    expect(view(log.read(0))).toEqual([[1, 'b', 'b1']])
    log.append(rec(3, 'a', 'a3'))
    expect(view(log.read())).toEqual([
      [1, 'b', 'b1'],
      [3, 'a', 'a3'],
    ])
  })

  it('holds memory by keys, not by history: a million updates of 100 keys keep 100 records', () => {
    const log = new CompactedLog()
    for (let i = 0; i < 1_000_000; i++) log.append(rec(i, `k${i % 100}`, 'v'))
    expect(log.size).toBe(100)
    expect(view(log.read()).map(([o]) => o)).toEqual(Array.from({ length: 100 }, (_, i) => 999_900 + i))
    expect(view(log.read(999_950))).toHaveLength(50)
  })
})
