/** How broadcast records reach tasks (feedBroadcast), with fake tasks and no broker. */
import { describe, expect, it } from 'vitest'
import { feedBroadcast } from '../../pipeline/kafka/broadcast.ts'
import { CompactedLog } from '../../pipeline/kafka/compacted-log.ts'
import type { PlanSource } from '../../pipeline/runtime/plan.ts'
import type { RawRecord, Task } from '../../pipeline/runtime/task.ts'

/** A task reading the broadcast topics `tasks` and `materials`, recording what it is handed. */
function fakeTask(seen: string[]): Task {
  const sources = [
    { nodeId: 'tasks', topic: 'tasks', broadcast: true },
    { nodeId: 'materials', topic: 'materials', broadcast: true },
    { nodeId: 'events', topic: 'events', broadcast: false },
  ] as unknown as PlanSource[]
  return {
    sub: { sources },
    processRecord: (_s: PlanSource, r: RawRecord) => {
      seen.push(`${r.topic}:${r.key}=${r.value?.toString() ?? 'null'}@${r.offset}`)
      return r.timestamp
    },
  } as unknown as Task
}

const rec = (topic: string, offset: number, key: string, value: string | null, timestamp: number): RawRecord => ({ topic, partition: 0, offset, key, value: value === null ? null : Buffer.from(value), timestamp })

function logs(records: RawRecord[]): Map<string, CompactedLog> {
  const out = new Map<string, CompactedLog>([
    ['tasks:0', new CompactedLog()],
    ['materials:0', new CompactedLog()],
  ])
  for (const r of records) out.get(`${r.topic}:0`)?.append(r)
  return out
}

describe('feedBroadcast', () => {
  it('gives a new task the current configuration, merged by timestamp across topics (materials before the tasks that use them)', () => {
    const reader = {
      logs: logs([
        rec('tasks', 10, 't1', 'v1', 100),
        rec('tasks', 11, 't1', 'v2', 300),
        rec('tasks', 12, 't2', 'v1', 400),
        rec('materials', 0, 'm1', 'v1', 200),
        rec('materials', 5, 'm1', 'v2', 250),
      ]),
    }
    const seen: string[] = []
    const task = fakeTask(seen)
    const entered: Task[] = []
    const n = feedBroadcast(reader, new Map([[task, new Map()]]), (t) => entered.push(t))
    expect(seen).toEqual(['materials:m1=v2@5', 'tasks:t1=v2@11', 'tasks:t2=v1@12'])
    expect(n).toBe(3)
    expect(entered).toEqual([task])
  })

  it('gives a running task only records after its cursor, tombstones included; a task that starts later skips them', () => {
    const reader = { logs: logs([rec('tasks', 0, 't1', 'v1', 1), rec('tasks', 1, 't2', 'v1', 2)]) }
    const running: string[] = []
    const cursors = new Map<Task, Map<string, number>>([[fakeTask(running), new Map()]])
    feedBroadcast(reader, cursors, () => {})
    ;(reader.logs.get('tasks:0') as CompactedLog).append(rec('tasks', 2, 't1', null, 3))
    ;(reader.logs.get('tasks:0') as CompactedLog).append(rec('tasks', 3, 't3', 'v1', 4))
    expect(feedBroadcast(reader, cursors, () => {})).toBe(2)
    expect(running.slice(2)).toEqual(['tasks:t1=null@2', 'tasks:t3=v1@3'])
    expect(feedBroadcast(reader, cursors, () => {})).toBe(0)

    const late: string[] = []
    cursors.set(fakeTask(late), new Map())
    feedBroadcast(reader, cursors, () => {})
    expect(late).toEqual(['tasks:t2=v1@1', 'tasks:t3=v1@3'])
  })

  it('hands a task fed up to date what arrives later, also when a new partition shows up in the same interval', () => {
    const reader = { logs: logs([rec('tasks', 0, 't1', 'v1', 1)]) }
    const seen: string[] = []
    const cursors = new Map<Task, Map<string, number>>([[fakeTask(seen), new Map()]])
    expect(feedBroadcast(reader, cursors, () => {})).toBe(1)
    expect(feedBroadcast(reader, cursors, () => {})).toBe(0)
    // A partition the reader did not know (no record yet: next offset -1) and one record appended
    // elsewhere: the sum of the next offsets is unchanged, the number of partitions is not.
    reader.logs.set('materials:1', new CompactedLog())
    ;(reader.logs.get('tasks:0') as CompactedLog).append(rec('tasks', 1, 't2', 'v1', 2))
    expect(feedBroadcast(reader, cursors, () => {})).toBe(1)
    ;(reader.logs.get('materials:1') as CompactedLog).append({ ...rec('materials', 0, 'm1', 'v1', 3), partition: 1 })
    expect(feedBroadcast(reader, cursors, () => {})).toBe(1)
    expect(seen).toEqual(['tasks:t1=v1@0', 'tasks:t2=v1@1', 'materials:m1=v1@0'])
    expect(feedBroadcast(reader, cursors, () => {})).toBe(0)
  })

  it('lets the log forget a tombstone once every task has read past it', () => {
    const reader = { logs: logs([rec('tasks', 0, 't1', 'v1', 1)]) }
    const cursors = new Map<Task, Map<string, number>>([[fakeTask([]), new Map()]])
    feedBroadcast(reader, cursors, () => {})
    const log = reader.logs.get('tasks:0') as CompactedLog
    log.append(rec('tasks', 1, 't1', null, 2))
    expect(log.size).toBe(1)
    feedBroadcast(reader, cursors, () => {})
    expect(log.size).toBe(0)
  })
})
