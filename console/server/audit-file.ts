/** The embedded audit log: one JSON line per change in `<data-dir>/audit.jsonl`, appended synchronously. */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { AuditEntry, AuditSink } from './store.ts'

/** Appends audit entries to a JSONL file. */
export class FileAuditSink implements AuditSink {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true })
  }

  async append(entry: AuditEntry): Promise<void> {
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`)
  }

  /** The entries written so far; a torn last line (a crash mid-write) is skipped. */
  load(): AuditEntry[] {
    if (!existsSync(this.file)) return []
    const out: AuditEntry[] = []
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (!line.trim()) continue
      try {
        out.push(JSON.parse(line) as AuditEntry)
      } catch {
        // only the last line can be torn; everything before it was written whole
      }
    }
    return out
  }
}
