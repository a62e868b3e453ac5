import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StateLocation } from '../runtime/app.ts'

/** The file in the state directory that keeps the process id (Kafka Streams: `kafka-streams-process-metadata`). */
export const PROCESS_ID_FILE = 'kafka-process.id'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Memory state: one id per state maps object, so that a runner reopened on the same maps is the same process. */
const memoryIds = new WeakMap<object, string>()

/**
 * The id of this process for `exactly_once_v2`'s transactional ids (`<app>-<processId>`), as Kafka
 * Streams keeps its `processId`: created once and kept in the state directory, so that the same
 * process started again (same state directory) uses the same transactional id, and its first
 * transaction fences its previous incarnation's producer and aborts what that left open. Two
 * processes must never share a state directory (RocksDB refuses it too).
 * @throws Error when the state directory cannot be written.
 */
export function processId(state: StateLocation): string {
  if (state.kind === 'memory') {
    let id = memoryIds.get(state.maps)
    if (!id) memoryIds.set(state.maps, (id = randomUUID()))
    return id
  }
  const file = join(state.dir, PROCESS_ID_FILE)
  try {
    const id = readFileSync(file, 'utf8').trim()
    if (UUID.test(id)) return id
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  // Missing or torn (a crash while it was first written): a new one. Write-then-rename, so a
  // crash leaves no file or a whole one.
  const id = randomUUID()
  mkdirSync(state.dir, { recursive: true })
  writeFileSync(`${file}.tmp`, `${id}\n`)
  renameSync(`${file}.tmp`, file)
  return id
}
