/**
 * Child process of unclean-close.test.ts: opens RocksDB state in argv[3], writes argv[4..] as
 * `key=value` pairs in one batch and SIGKILLs itself, so the writes exist only in the write-ahead
 * log. argv[2] says how it opens the state: `previous` with the options of the layout before the
 * WAL was left uncompressed (the binding's defaults plus the memory bounds), `current` with
 * RocksDbBackend.
 */
import { RocksLevel } from '@nxtedition/rocksdb'
import { RocksDbBackend } from '../../pipeline/state/backend.ts'

const [mode, dir, ...pairs] = process.argv.slice(2)
if (dir === undefined) throw new Error('usage: write-and-kill.ts previous|current DIR key=value...')
const ops = pairs.map((p) => p.split('=') as [string, string])
if (mode === 'previous') {
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', compaction: 'level', memtableMemoryBudget: 64 << 20, cacheSize: 8 << 20 }) as {
    open(): Promise<void>
    batch(ops: Array<{ type: 'put'; key: Buffer; value: Buffer }>): Promise<void>
  }
  await db.open()
  await db.batch(ops.map(([k, v]) => ({ type: 'put' as const, key: Buffer.from(k), value: Buffer.from(v) })))
} else {
  const db = await RocksDbBackend.open(dir)
  await db.write(ops.map(([k, v]) => [k, Buffer.from(v)] as const))
}
process.kill(process.pid, 'SIGKILL')
