import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { BROKERS, produceLines, runId } from './helpers.ts'

// Kafka's own command-line tools, from the jars scripts/kafka/fetch.sh caches, against the
// running broker: what a user reaches for to look at topics and consumer groups.

const ROOT = resolve(import.meta.dirname, '..', '..')
const exec = promisify(execFile)

/** Runs scripts/kafka/<name>.sh with the tool's arguments; stdin from `input` when given. */
async function tool(name: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = exec(join(ROOT, 'scripts', 'kafka', `${name}.sh`), args, { cwd: ROOT, timeout: 120_000 })
  if (input !== undefined) {
    child.child.stdin?.end(input)
  }
  return child
}

const bootstrap = ['--bootstrap-server', BROKERS.join(',')]

describe('Kafka command-line tools (real broker)', () => {
  it('console-consumer.sh prints a topic from the beginning, and consumer-groups.sh lists and describes its group', async () => {
    const id = runId()
    const topic = `tools-${id}`
    const group = `tools-group-${id}`
    await produceLines(topic, [JSON.stringify({ userId: 'u1', type: 'view', ts: 1 }), JSON.stringify({ userId: 'u2', type: 'chat', ts: 2 })], { partitions: 1, keyField: 'userId' })

    const consumed = await tool('console-consumer', [...bootstrap, '--topic', topic, '--from-beginning', '--max-messages', '1', '--group', group, '--property', 'print.key=true'])
    expect(consumed.stdout.trim()).toBe(`u1\t${JSON.stringify({ userId: 'u1', type: 'view', ts: 1 })}`)
    expect(consumed.stderr).toContain('Processed a total of 1 messages')

    const listed = await tool('consumer-groups', [...bootstrap, '--list'])
    expect(listed.stdout.split('\n')).toContain(group)

    const described = await tool('consumer-groups', [...bootstrap, '--describe', '--group', group])
    const row = described.stdout.split('\n').find((l) => l.includes(topic))
    expect(row, described.stdout).toBeDefined()
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...: one of two records read and committed.
    const cols = (row as string).trim().split(/\s+/)
    expect(cols.slice(0, 6)).toEqual([group, topic, '0', '1', '2', '1'])
  })

  it('console-producer.sh writes stdin lines with keys that console-consumer.sh reads back', async () => {
    const topic = `tools-produced-${runId()}`
    await tool('topics', [...bootstrap, '--create', '--topic', topic, '--partitions', '1'])
    await tool('console-producer', [...bootstrap, '--topic', topic, '--property', 'parse.key=true', '--property', 'key.separator=|'], 'k1|{"n":1}\nk2|{"n":2}\n')
    const consumed = await tool('console-consumer', [...bootstrap, '--topic', topic, '--from-beginning', '--max-messages', '2', '--property', 'print.key=true', '--property', 'key.separator=|'])
    expect(consumed.stdout.trim().split('\n')).toEqual(['k1|{"n":1}', 'k2|{"n":2}'])
  })
})
