import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { LogEntry } from '../../pipeline/embedded/log.ts'
import { EmbeddedLog } from '../../pipeline/embedded/log.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hermes-log-retention-'))
  dirs.push(d)
  return d
}

/** A record whose value and headers say which it is (some large, some tombstones). */
function append(log: EmbeddedLog, i: number): void {
  const value = i % 97 === 0 ? null : Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 13 === 0 ? 40_000 : i % 50) }))
  log.append('t', i % 2, i % 5 === 0 ? null : `k${i}`, value, 1_000 + i, i % 7 === 0 ? { h: `v${i}` } : undefined)
}

/**
 * An entry with its value as base64 text: toEqual compares a Buffer element by element, which
 * took 24 s for this file's 3.4 MB of values on a loaded machine (the test timed out), and a
 * string at once.
 */
type Plain = Omit<LogEntry, 'value'> & { value: string | null }
function plain(e: LogEntry | undefined): Plain | undefined {
  return e && { ...e, value: e.value === null ? null : e.value.toString('base64') }
}

function all(log: EmbeddedLog): Plain[][] {
  return [0, 1].map((p) => Array.from({ length: log.endOffset('t', p) }, (_, o) => plain(log.read('t', p, o)) as Plain))
}

describe('a file-backed embedded log', () => {
  it('keeps only its last flushed records in memory and reads older ones back from the files, equal', () => {
    const dir = tempDir()
    const reference = EmbeddedLog.inMemory()
    reference.createTopic('t', 2)
    const log = EmbeddedLog.open(dir, { memoryTail: 10 })
    log.createTopic('t', 2)
    for (let i = 0; i < 1000; i++) {
      append(reference, i)
      append(log, i)
      if (i % 100 === 99) log.flush()
    }
    expect(log.entriesInMemory()).toBeLessThanOrEqual(2 * 10)
    const expected = all(reference)
    expect(all(log)).toEqual(expected)
    // Read in any order, across chunk boundaries (frames of 40 KB among small ones, 256 KB a chunk) and backwards.
    for (const o of [499, 0, 250, 3, 498, 1, 77]) expect(plain(log.read('t', 1, o))).toEqual(expected[1]?.[o])
    expect(log.read('t', 0, 500)).toBeUndefined()
    expect(log.read('t', 0, -1)).toBeUndefined()
    // Two readers far apart in one partition (two topologies reading one input) each keep their chunk.
    for (let o = 0; o < 250; o++) {
      expect(plain(log.read('t', 0, o))).toEqual(expected[0]?.[o])
      expect(plain(log.read('t', 0, 250 + o))).toEqual(expected[0]?.[250 + o])
    }
    // Reading old records holds a few bounded chunks, not the partition.
    expect(log.entriesInMemory()).toBeLessThan(2 * 10 + 2 * 4 * 300)

    // Appends after the release keep their offsets; reopened, the log has every record back.
    append(reference, 1000)
    append(log, 1000)
    expect(log.endOffset('t', 0)).toBe(501)
    expect(plain(log.read('t', 0, 500))).toEqual(plain(reference.read('t', 0, 500)))
    log.flush()
    const reopened = EmbeddedLog.open(dir, { memoryTail: 10 })
    expect(reopened.entriesInMemory()).toBe(2 * 10)
    expect(all(reopened)).toEqual(all(reference))
    append(reference, 1001)
    append(reopened, 1001)
    reopened.flush()
    expect(all(EmbeddedLog.open(dir))).toEqual(all(reference))
  })

  it('keeps in memory what a reader has still to read (retainFrom), and lets it go once read', () => {
    const log = EmbeddedLog.open(tempDir(), { memoryTail: 10 })
    log.createTopic('t', 2)
    for (let i = 0; i < 200; i++) append(log, i)
    log.retainFrom('t', 0, 30)
    log.retainFrom('t', 1, Number.POSITIVE_INFINITY)
    log.flush()
    // Partition 0: from offset 30 on (70 records); partition 1: its tail of 10.
    expect(log.entriesInMemory()).toBe(70 + 10)
    log.retainFrom('t', 0, 95)
    append(log, 200)
    log.flush()
    expect(log.entriesInMemory()).toBe(10 + 10)
  })

  it('keeps every record of an in-memory log (it has nowhere else to read them from)', () => {
    const log = EmbeddedLog.inMemory()
    log.createTopic('t', 2)
    for (let i = 0; i < 100; i++) append(log, i)
    log.flush()
    expect(log.entriesInMemory()).toBe(100)
  })
})
