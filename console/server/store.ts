/**
 * Versions and the audit log of configuration changes. Every change made through the console is
 * one entry (who, when, what, the record as published); the versions of a record are its
 * entries in order. Where entries are kept is the world's business: a JSONL file in embedded
 * mode, the compacted `hermes.console.audit` topic on Kafka (see {@link AuditSink}).
 */
import type { Kind } from './kinds.ts'

/** What a change did. */
export type Action = 'create' | 'update' | 'pause' | 'resume' | 'delete' | 'rollback'

/** One change: a new version of one record. `record` is null for a deletion. */
export interface AuditEntry {
  at: string
  user: string
  action: Action
  kind: Kind
  id: string
  version: number
  comment: string
  record: unknown
}

/** Where audit entries are persisted. `append` must not resolve before the entry is durable. */
export interface AuditSink {
  append(entry: AuditEntry): Promise<void>
}

/** One version of a record as the API shows it. */
export interface Version {
  version: number
  record: unknown
  by: string
  at: string | null
  comment: string
  action: Action
}

/** Raised when a write names a base version that is no longer the current one. */
export class VersionConflict extends Error {
  constructor(readonly current: number, readonly base: number) {
    super(`version conflict: the record is at version ${current}, the edit was made on version ${base}; reload it and apply the edit again`)
  }
}

const key = (kind: Kind, id: string): string => `${kind}\u0000${id}`

/**
 * The versions of every record, in memory, over a persistent {@link AuditSink}. A record found in
 * the world with no console history counts as version 1, created by `world` at an unknown time;
 * the first console change writes that version down before its own.
 */
export class ConfigStore {
  private readonly byRecord = new Map<string, AuditEntry[]>()
  private readonly log: AuditEntry[] = []
  /** Serializes writes so that versions are assigned one after the other. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly sink: AuditSink, entries: readonly AuditEntry[] = []) {
    for (const e of entries) this.remember(e)
  }

  private remember(e: AuditEntry): void {
    const k = key(e.kind, e.id)
    const list = this.byRecord.get(k) ?? []
    // Kafka may deliver an entry twice (at-least-once); a version is kept once.
    if (list.some((x) => x.version === e.version)) return
    list.push(e)
    list.sort((a, b) => a.version - b.version)
    this.byRecord.set(k, list)
    this.log.push(e)
  }

  /** The versions of a record: its console history, else the world's record as version 1. */
  versions(kind: Kind, id: string, worldRecord: unknown): Version[] {
    const list = this.byRecord.get(key(kind, id))
    if (list?.length) return list.map((e) => ({ version: e.version, record: e.record, by: e.user, at: e.at, comment: e.comment, action: e.action }))
    if (worldRecord === undefined) return []
    return [{ version: 1, record: worldRecord, by: 'world', at: null, comment: 'as found in the world (not changed through the console)', action: 'create' }]
  }

  /** Ids of records with console history, for a kind. */
  ids(kind: Kind): string[] {
    const out: string[] = []
    for (const list of this.byRecord.values()) if (list[0]?.kind === kind) out.push(list[0].id)
    return out
  }

  /**
   * Records a change as the next version. `publish` runs inside the write lock, before the entry
   * is persisted, so a change that cannot be published leaves no version behind.
   * @throws VersionConflict when `baseVersion` is given and is not the current version.
   */
  change(o: { kind: Kind; id: string; user: string; action: Action; comment: string; record: unknown; baseVersion?: number; worldRecord: unknown; publish: () => Promise<void>; now?: Date }): Promise<number> {
    const run = async (): Promise<number> => {
      const history = this.versions(o.kind, o.id, o.worldRecord)
      const current = history.at(-1)?.version ?? 0
      if (o.baseVersion !== undefined && o.baseVersion !== current) throw new VersionConflict(current, o.baseVersion)
      await o.publish()
      const k = key(o.kind, o.id)
      if (!this.byRecord.get(k)?.length && history.length) {
        // The world's version 1 becomes history, so later versions compare against it.
        const v1 = history[0] as Version
        const first: AuditEntry = { at: new Date(0).toISOString(), user: v1.by, action: 'create', kind: o.kind, id: o.id, version: 1, comment: v1.comment, record: v1.record }
        await this.sink.append(first)
        this.remember(first)
      }
      const entry: AuditEntry = { at: (o.now ?? new Date()).toISOString(), user: o.user, action: o.action, kind: o.kind, id: o.id, version: current + 1, comment: o.comment, record: o.record }
      await this.sink.append(entry)
      this.remember(entry)
      return entry.version
    }
    const p = this.queue.then(run, run)
    this.queue = p.catch(() => undefined)
    return p
  }

  /** The newest `limit` audit entries, newest first. */
  audit(limit: number): AuditEntry[] {
    return this.log.slice(-limit).reverse()
  }

  /** Takes in an entry another console wrote (Kafka). */
  receive(e: AuditEntry): void {
    this.remember(e)
  }
}
