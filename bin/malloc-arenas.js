// glibc's malloc gives threads that allocate at once their own arenas (up to 8 per core) and keeps
// what they freed: RocksDB's flush and compaction threads and libuv's pool spread Hermes' native
// memory over many of them. MALLOC_ARENA_MAX=2 took 40-140 MiB off a restore's peak RSS
// (docs/performance.md, "Memory: shared state, arenas, restore"). glibc reads it once, before the
// first allocation, so it cannot be set from JavaScript: the process replaces itself (execve: same
// pid, same stdio, signals and exit code untouched) with the same command and the variable set.

/**
 * Sets MALLOC_ARENA_MAX=2 for this process by re-executing it, on Linux, when the variable is not
 * already set (any value the user gives, including an empty one, is left as it is) and the
 * running Node has `process.execve` (22.15 and later; on an older Node nothing happens). Returns
 * only when it did nothing; otherwise the process is replaced and this never returns.
 */
export function limitMallocArenas() {
  if (process.platform !== 'linux' || process.env.MALLOC_ARENA_MAX !== undefined || typeof process.execve !== 'function') return
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, MALLOC_ARENA_MAX: '2' })
}
