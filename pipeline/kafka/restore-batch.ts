import type { RestoreTarget } from './changelog.ts'
import { MAX_TS_KEY } from './changelog.ts'
import type { ChangelogOffsets } from './checkpoint.ts'

/**
 * Gathers the restore requests of tasks opened together (`AppOptions.restore` is called once per
 * task) so that one restore reads all their changelogs: say how many are coming with
 * {@link RestoreBatch.expect}; the last request starts the restore and every request resolves
 * when it is done.
 */
export class RestoreBatch {
  private expected = 0
  private waiting: Array<{ target: RestoreTarget; resolve: () => void; reject: (err: unknown) => void }> = []

  constructor(private readonly restore: (targets: RestoreTarget[]) => Promise<Map<string, ChangelogOffsets>>) {}

  /** The number of requests of the next batch. */
  expect(n: number): void {
    this.expected = n
  }

  /** Resolves once the target's state is restored (with the others of its batch). */
  request(target: RestoreTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ target, resolve, reject })
      if (this.waiting.length >= this.expected) void this.run()
    })
  }

  /** Fails the requests gathered so far (a task of the batch failed to open). */
  fail(err: unknown): void {
    const waiting = this.take()
    for (const w of waiting) w.reject(err)
  }

  private take(): typeof this.waiting {
    const waiting = this.waiting
    this.waiting = []
    this.expected = 0
    return waiting
  }

  private async run(): Promise<void> {
    const waiting = this.take()
    try {
      const targets = waiting.map((w) => w.target)
      await this.restore(targets)
      await alignWatermarks(targets)
      for (const w of waiting) w.resolve()
    } catch (err) {
      for (const w of waiting) w.reject(err)
    }
  }
}

/**
 * Tasks commit one by one (one transaction each), so after a crash some may hold a later
 * watermark than others. Restarting from the earliest one replays the lagging tasks' records
 * under the watermark they first saw, so windows and lateness come out as in a crash-free run.
 */
async function alignWatermarks(targets: readonly RestoreTarget[]): Promise<void> {
  const values = targets.map((t) => {
    const buf = t.backend.getManySync([MAX_TS_KEY])[0]
    return buf === undefined ? undefined : (JSON.parse(buf.toString('utf8')) as number)
  })
  const known = values.filter((v): v is number => typeof v === 'number')
  if (known.length < 2) return
  const min = Math.min(...known)
  await Promise.all(targets.map((t, i) => (values[i] !== undefined && values[i] !== min ? t.backend.write([[MAX_TS_KEY, Buffer.from(JSON.stringify(min), 'utf8')]]) : undefined)))
}
