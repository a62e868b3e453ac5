// Child of malloc-arenas.test.ts: limits malloc arenas as bin/hermes.js does, then prints what
// the (possibly re-executed) process sees.
import { limitMallocArenas } from '../../bin/malloc-arenas.js'

limitMallocArenas()
process.stdout.write(`${JSON.stringify({ arena: process.env.MALLOC_ARENA_MAX ?? null, pid: process.pid, argv: process.argv.slice(2), execArgv: process.execArgv })}\n`)
