import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { materialSchema, parseWith, taskSchema } from '../../operators/config.ts'
import { validateConfig } from '../../pipeline/config/load.ts'
import { sendToKafka } from '../../pipeline/kafka/topic-io.ts'
import { runHermes } from '../hermes-cli.ts'
import { BROKERS, readTopics, runId, silent } from '../kafka/helpers.ts'
import { REGISTRY_URL } from './helpers.ts'

const exampleLines = (name: string): string[] => readFileSync(join('docs', 'examples', `${name}.jsonl`), 'utf8').split('\n').filter((l) => l.trim())

describe('hermes produce of configuration topics on Kafka (real broker and registry)', () => {
  it('sends every example task and material as Avro, keyed by taskId and materialId, in the form the pipeline reads back', async () => {
    const id = runId()
    const tasksTopic = `cfg-tasks-${id}`
    const materialsTopic = `cfg-materials-${id}`
    const dir = mkdtempSync(join(tmpdir(), 'hermes-produce-config-'))
    const config = join(dir, 'kafka.yaml')
    // The topologies read the renamed topics, so produce keys them as the topologies read them.
    writeFileSync(
      config,
      [
        'runtime: { mode: kafka }',
        'topics:',
        '  defaultFormat: avro',
        '  overrides:',
        `    ${tasksTopic}: { schema: task }`,
        `    ${materialsTopic}: { schema: material }`,
        `schemaRegistry: { url: ${REGISTRY_URL} }`,
        `hermes: { topics: { tasks: ${tasksTopic}, materials: ${materialsTopic} } }`,
        '',
      ].join('\n'),
    )
    const env = { HERMES_ENV: 'test' }
    const tasks = exampleLines('tasks')
    const materials = exampleLines('materials')

    const t = await runHermes(['produce', tasksTopic, '-f', join('docs', 'examples', 'tasks.jsonl'), '-c', config], env)
    expect(t.stderr).toBe('')
    expect(t.code).toBe(0)
    expect(t.stdout).toContain(`produced ${tasks.length} records to ${tasksTopic}`)
    const m = await runHermes(['produce', materialsTopic, '-f', join('docs', 'examples', 'materials.jsonl'), '-c', config], env)
    expect(m.code).toBe(0)
    expect(m.stdout).toContain(`produced ${materials.length} records to ${materialsTopic}`)

    const raw = await readTopics([tasksTopic, materialsTopic])
    const taskIds = tasks.map((l) => (JSON.parse(l) as { taskId: string }).taskId)
    expect((raw.get(tasksTopic) ?? []).map((r) => r.key).sort()).toEqual([...taskIds].sort())
    for (const r of raw.get(tasksTopic) ?? []) expect(r.bytes?.[0]).toBe(0)
    const materialIds = materials.map((l) => (JSON.parse(l) as { materialId: string }).materialId)
    expect((raw.get(materialsTopic) ?? []).map((r) => r.key).sort()).toEqual([...materialIds].sort())

    // Decoded back from Avro (nested objects as JSON text, absent fields null), each task parses
    // to what its JSON line parses to: the pipeline reads the Avro form as the JSON form.
    const back = await runHermes(['consume', tasksTopic, '-c', config], env)
    expect(back.code).toBe(0)
    const decoded = back.stdout.trim().split('\n').map((l) => JSON.parse(l) as { taskId: string; trigger: unknown })
    expect(decoded).toHaveLength(tasks.length)
    for (const d of decoded) expect(typeof d.trigger).toBe('string')
    for (const line of tasks) {
      const json = JSON.parse(line) as { taskId: string }
      const avroForm = decoded.find((d) => d.taskId === json.taskId)
      expect(parseWith(taskSchema, 'task', avroForm)).toEqual(parseWith(taskSchema, 'task', json))
    }
    // hermes validate reads them back from the cluster (Avro decoded) and refuses only the
    // example task that is broken on purpose.
    const checked = await runHermes(['validate', 'push-decisions', '--from-kafka', '--topic', tasksTopic, '--topic', materialsTopic, '-c', config], env)
    expect(checked.stdout.split('\n').filter((l) => l.startsWith(tasksTopic) || l.startsWith(materialsTopic))).toEqual([
      expect.stringMatching(new RegExp(`^${tasksTopic}\\[\\d\\]@\\d+: ${tasksTopic} key="broken": invalid task broken: trigger\\.when: malformed JsonLogic`)),
    ])
    expect(checked.code).toBe(1)
    const mats = await runHermes(['consume', materialsTopic, '-c', config], env)
    for (const line of mats.stdout.trim().split('\n')) {
      const d = JSON.parse(line) as { materialId: string }
      const json = JSON.parse(materials.find((l) => l.includes(`"materialId":"${d.materialId}"`)) ?? 'null') as unknown
      expect(parseWith(materialSchema, 'material', d)).toEqual(parseWith(materialSchema, 'material', json))
    }
  })

  it('dlq replay to an avro topic encodes a JSON value (a fix, or the JSON rendering of a timer dead letter) and sends Avro bytes as they are', async () => {
    const id = runId()
    const topic = `cfg-replay-tasks-${id}`
    const config = validateConfig({ kafka: { brokers: BROKERS }, topics: { overrides: { [topic]: { format: 'avro', schema: 'task' } } }, schemaRegistry: { url: REGISTRY_URL }, observability: { log: { level: 'silent' } } })
    const task = JSON.parse(exampleLines('tasks')[1] ?? 'null') as { taskId: string }
    await sendToKafka({ config, logger: silent, records: [{ topic, key: task.taskId, value: Buffer.from(JSON.stringify(task)), headers: { trace: 'x' }, timestamp: 0 }] })
    const [first] = (await readTopics([topic])).get(topic) ?? []
    expect(first?.bytes?.[0]).toBe(0)
    expect(first?.headers).toEqual({ trace: 'x' })
    // The Avro bytes just written go back as they are.
    await sendToKafka({ config, logger: silent, records: [{ topic, key: task.taskId, value: first?.bytes ?? null, headers: {}, timestamp: 0 }] })
    const both = (await readTopics([topic])).get(topic) ?? []
    expect(both.map((r) => r.bytes?.toString('hex'))).toEqual([first?.bytes?.toString('hex'), first?.bytes?.toString('hex')])
  })
})
