import type { Admin } from 'kafkajs'

/**
 * Removing what a bench command created on the shared broker (compare.ts, scale.ts): its topics and
 * consumer groups, found by the id in their names, unless the command keeps them (`--keep-topics`).
 */
export function benchCleanup(admin: Admin, id: string, keep: boolean): { deleteTopics(runId: string): Promise<void>; deleteGroups(): Promise<void> } {
  return {
    /** Deletes the topics whose names carry `runId` (this command's runs only). */
    async deleteTopics(runId: string): Promise<void> {
      if (keep) return
      const topics = (await admin.listTopics()).filter((t) => t.includes(runId))
      if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 }).catch((e: Error) => process.stderr.write(`could not delete topics of ${runId}: ${e.message}\n`))
    },
    /**
     * Deletes this command's consumer groups. A group whose last member left moments ago may still
     * refuse, and Kafka Streams closes without leaving its group, which stays non-empty until the
     * session timeout (6 s) passes: so this runs at the end, and tries again a few times.
     */
    async deleteGroups(): Promise<void> {
      if (keep) return
      for (let attempt = 1; attempt <= 4; attempt++) {
        const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(id))
        const left: string[] = []
        for (const g of groups) await admin.deleteGroups([g]).catch(() => left.push(g))
        if (!left.length) return
        if (attempt === 4) process.stderr.write(`could not delete groups ${left.join(', ')}\n`)
        else await new Promise((r) => setTimeout(r, 4000))
      }
    },
  }
}
