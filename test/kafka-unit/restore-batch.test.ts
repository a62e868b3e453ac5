import { describe, expect, it } from 'vitest'
import type { RestoreTarget } from '../../pipeline/kafka/changelog.ts'
import { MAX_TS_KEY } from '../../pipeline/kafka/changelog.ts'
import type { ChangelogOffsets } from '../../pipeline/kafka/checkpoint.ts'
import { RestoreBatch } from '../../pipeline/kafka/restore-batch.ts'
import { MemoryBackend } from '../../pipeline/state/backend.ts'

// Restores of tasks opened together gathered into one, with a fake restore function: no broker.

function target(taskId: string, maxTs?: number): RestoreTarget {
  const backend = new MemoryBackend()
  if (maxTs !== undefined) void backend.write([[MAX_TS_KEY, Buffer.from(JSON.stringify(maxTs))]])
  return { app: 'app', taskId, partition: Number(taskId.split('_')[1] ?? 0), backend, topics: {} as RestoreTarget['topics'], from: undefined }
}

function savedMaxTs(t: RestoreTarget): number | undefined {
  const b = t.backend.getManySync([MAX_TS_KEY])[0]
  return b === undefined ? undefined : (JSON.parse(b.toString()) as number)
}

/** A restore function that records each call and resolves when told. */
function fakeRestore(): { calls: RestoreTarget[][]; finish: () => void; failWith: (err: Error) => void; restore: (targets: RestoreTarget[]) => Promise<Map<string, ChangelogOffsets>> } {
  const calls: RestoreTarget[][] = []
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined
  return {
    calls,
    finish: () => settle?.resolve(),
    failWith: (err) => settle?.reject(err),
    restore: (targets) =>
      new Promise((resolve, reject) => {
        calls.push(targets)
        settle = { resolve: () => resolve(new Map()), reject }
      }),
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('RestoreBatch', () => {
  it('waits for the expected number of requests, then restores them all in one call, and resolves each when it is done', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    batch.expect(3)
    const done: string[] = []
    const [a, b, c] = [target('0_0'), target('0_1'), target('1_0')]
    const pa = batch.request(a).then(() => done.push('a'))
    const pb = batch.request(b).then(() => done.push('b'))
    await tick()
    expect(r.calls).toHaveLength(0)
    const pc = batch.request(c).then(() => done.push('c'))
    await tick()
    expect(r.calls).toHaveLength(1)
    expect(r.calls[0]).toEqual([a, b, c])
    expect(done).toEqual([])
    r.finish()
    await Promise.all([pa, pb, pc])
    expect(done.sort()).toEqual(['a', 'b', 'c'])
  })

  it('starts a new batch after one completes', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    batch.expect(1)
    const first = batch.request(target('0_0'))
    await tick()
    r.finish()
    await first
    batch.expect(2)
    const second = [batch.request(target('0_1')), batch.request(target('0_2'))]
    await tick()
    expect(r.calls.map((c) => c.map((t) => t.taskId))).toEqual([['0_0'], ['0_1', '0_2']])
    r.finish()
    await Promise.all(second)
  })

  it('fails every request of the batch when the restore fails', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    batch.expect(2)
    const ps = [batch.request(target('0_0')), batch.request(target('0_1'))].map((p) => p.catch((e: Error) => e.message))
    await tick()
    r.failWith(new Error('broker gone'))
    expect(await Promise.all(ps)).toEqual(['broker gone', 'broker gone'])
  })

  it('fail() rejects the requests gathered so far (a task of the batch failed to open), and the next batch starts clean', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    batch.expect(3)
    const gathered = [batch.request(target('0_0')), batch.request(target('0_1'))].map((p) => p.catch((e: Error) => e.message))
    batch.fail(new Error('task 0_2 failed to open'))
    expect(await Promise.all(gathered)).toEqual(['task 0_2 failed to open', 'task 0_2 failed to open'])
    expect(r.calls).toHaveLength(0)
    batch.expect(1)
    const next = batch.request(target('0_2'))
    await tick()
    expect(r.calls.map((c) => c.map((t) => t.taskId))).toEqual([['0_2']])
    r.finish()
    await next
  })

  it('after the restore, sets every task that saved a watermark back to the earliest saved one', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    const [a, b, c, fresh] = [target('0_0', 5000), target('0_1', 3000), target('0_2', 9000), target('0_3')]
    batch.expect(4)
    const ps = [a, b, c, fresh].map((t) => batch.request(t))
    await tick()
    r.finish()
    await Promise.all(ps)
    expect([a, b, c].map(savedMaxTs)).toEqual([3000, 3000, 3000])
    // A task without a saved watermark (new) gets none.
    expect(savedMaxTs(fresh)).toBeUndefined()
  })

  it('leaves a single saved watermark alone', async () => {
    const r = fakeRestore()
    const batch = new RestoreBatch(r.restore)
    const [a, b] = [target('0_0', 7000), target('0_1')]
    batch.expect(2)
    const ps = [batch.request(a), batch.request(b)]
    await tick()
    r.finish()
    await Promise.all(ps)
    expect(savedMaxTs(a)).toBe(7000)
    expect(savedMaxTs(b)).toBeUndefined()
  })
})
