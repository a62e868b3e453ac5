import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runHermes } from '../hermes-cli.ts'
import { readTopics, runId } from '../kafka/helpers.ts'
import { REGISTRY_URL } from './helpers.ts'

describe('hermes produce and consume on Kafka (real broker and registry)', () => {
  it('produces JSONL as Avro in the wire format, rejects lines that do not fit by line number, and consumes them back as JSON', async () => {
    const id = runId()
    const [avroTopic, jsonTopic] = [`io-avro-${id}`, `io-json-${id}`]
    const dir = mkdtempSync(join(tmpdir(), 'hermes-io-'))
    const config = join(dir, 'kafka.yaml')
    writeFileSync(config, `runtime: { mode: kafka }\ntopics:\n  overrides:\n    ${avroTopic}: { format: avro, schema: behavior-event, partitions: 3 }\nschemaRegistry: { url: ${REGISTRY_URL} }\n`)
    const events = [
      { eventId: 'e1', userId: 'u1', type: 'view', ts: 1000, itemId: 'i9' },
      { eventId: 'e2', userId: 'u2', type: 'chat', ts: 2000, attrs: { price: 9.5, currency: 'EUR' } },
      { eventId: 'e3', userId: 'u1', type: 'buy', ts: 3000 },
    ]
    const file = join(dir, 'events.jsonl')
    writeFileSync(file, [JSON.stringify(events[0]), JSON.stringify(events[1]), '{"eventId":"e4","userId":"u3","type":"view","ts":"yesterday"}', 'not json', JSON.stringify(events[2])].join('\n'))
    const env = { HERMES_ENV: 'test' }

    const produced = await runHermes(['produce', avroTopic, '-f', file, '-c', config], env)
    expect(produced.code).toBe(1)
    expect(produced.stdout).toContain(`produced 3 records to ${avroTopic}`)
    expect(produced.stderr).toContain(`${file}:3: value does not fit the ${avroTopic}-value Avro schema at ts`)
    expect(produced.stderr).toContain(`${file}:4: not JSON`)

    // On the wire: magic byte, then the id of the registered schema, keyed by userId.
    const raw = (await readTopics([avroTopic])).get(avroTopic) ?? []
    expect(raw.length).toBe(3)
    for (const r of raw) expect(r.bytes?.[0]).toBe(0)
    expect(new Set(raw.map((r) => r.bytes?.readInt32BE(1))).size).toBe(1)
    expect(raw.filter((r) => r.key === 'u1').map((r) => r.partition)).toEqual([raw.find((r) => r.key === 'u1')?.partition, raw.find((r) => r.key === 'u1')?.partition])

    const consumed = await runHermes(['consume', avroTopic, '-c', config], env)
    expect(consumed.stderr).toBe('')
    const back = consumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { eventId: string })
    const filled = (e: object) => ({ itemId: null, category: null, attrs: null, ...e })
    expect(back.sort((a, b) => a.eventId.localeCompare(b.eventId))).toEqual(events.map(filled))

    // A JSON topic is written and read as the lines are.
    writeFileSync(file, `${JSON.stringify(events[0])}\n`)
    expect((await runHermes(['produce', jsonTopic, '-f', file, '-c', config], env)).stdout).toContain(`produced 1 records to ${jsonTopic}`)
    expect((await runHermes(['consume', jsonTopic, '-c', config], env)).stdout).toBe(`${JSON.stringify(events[0])}\n`)
  })
})
