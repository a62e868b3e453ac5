import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { StateLocation } from '../runtime/app.ts'
import { RocksDbBackend } from '../state/backend.ts'

/** Changelog offsets a task's local state already holds: restore starts there. */
export type ChangelogOffsets = { [topic: string]: number }

/**
 * The local state of tasks and the checkpoint of changelog offsets that goes with it.
 *
 * A checkpoint for a task says: "the local state holds every changelog record below these
 * offsets". It is written after the local state at each commit, and the local state is written
 * only after its changelog records are durable (at-least-once) or committed (exactly-once), so a
 * checkpoint is never ahead of the state; replaying the changelog from it is idempotent. Without a
 * checkpoint the local state is wiped and the whole changelog is read.
 */
export interface TaskStateDir {
  read(app: string, taskId: string): ChangelogOffsets | undefined
  write(app: string, taskId: string, offsets: ChangelogOffsets): void
  /** Deletes the task's local state and checkpoint. */
  wipe(app: string, taskId: string): void
  /** Whether local state exists for the task. */
  hasState(app: string, taskId: string): boolean
}

/** Where the runtime keeps a task's state; must agree with `AppRuntime.openBackend`. */
function taskDir(dir: string, app: string, taskId: string): string {
  return join(dir, app, taskId)
}

/** Checkpoints next to the tasks' RocksDB directories, or in memory for the memory backend. */
export function taskStateDir(state: StateLocation): TaskStateDir {
  if (state.kind === 'memory') {
    const checkpoints = new Map<string, ChangelogOffsets>()
    return {
      read: (app, taskId) => (state.maps.has(`${app}/${taskId}`) ? checkpoints.get(`${app}/${taskId}`) : undefined),
      write: (app, taskId, offsets) => void checkpoints.set(`${app}/${taskId}`, { ...offsets }),
      wipe: (app, taskId) => {
        state.maps.delete(`${app}/${taskId}`)
        checkpoints.delete(`${app}/${taskId}`)
      },
      hasState: (app, taskId) => state.maps.has(`${app}/${taskId}`),
    }
  }
  const file = (app: string, taskId: string): string => `${taskDir(state.dir, app, taskId)}.checkpoint`
  return {
    read(app, taskId) {
      const f = file(app, taskId)
      if (!existsSync(f) || !existsSync(taskDir(state.dir, app, taskId))) return undefined
      try {
        const parsed = JSON.parse(readFileSync(f, 'utf8')) as { version?: number; offsets?: ChangelogOffsets }
        return parsed.version === 1 && parsed.offsets ? parsed.offsets : undefined
      } catch {
        return undefined // A torn checkpoint is no checkpoint: the state is rebuilt.
      }
    },
    write(app, taskId, offsets) {
      const f = file(app, taskId)
      mkdirSync(dirname(f), { recursive: true })
      // Write-then-rename: a crash leaves the old checkpoint or the new one, never half of one.
      writeFileSync(`${f}.tmp`, JSON.stringify({ version: 1, offsets }))
      renameSync(`${f}.tmp`, f)
    },
    wipe(app, taskId) {
      rmSync(file(app, taskId), { force: true })
      RocksDbBackend.destroy(taskDir(state.dir, app, taskId))
    },
    hasState: (app, taskId) => existsSync(taskDir(state.dir, app, taskId)),
  }
}
