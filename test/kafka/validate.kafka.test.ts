/** `hermes validate --from-kafka` on a real broker: the configuration topics checked with the pipeline's code. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runHermes } from '../hermes-cli.ts'
import { BROKERS, produceLines, runId } from './helpers.ts'

describe('hermes validate --from-kafka (real broker)', () => {
  it('reads the broadcast configuration topics and names each refused record by topic, partition and offset', async () => {
    const id = runId()
    const tasks = `cfg-tasks-${id}`
    const materials = `cfg-materials-${id}`
    const task = (taskId: string, extra: object = {}): string => JSON.stringify({ taskId, trigger: { type: 'event', events: ['view'] }, materials: ['m1'], ...extra })
    // Tasks written before the material they name: accepted all the same.
    await produceLines(tasks, [task('good'), task('typo', { quiteHours: 'drop' }), task('orphan', { materials: ['m404'] })], { partitions: 1, keyField: 'taskId' })
    await produceLines(materials, [JSON.stringify({ materialId: 'm1', title: 't', body: 'b' })], { partitions: 1, keyField: 'materialId' })
    const dir = mkdtempSync(join(tmpdir(), 'hermes-validate-kafka-'))
    const cfg = join(dir, 'kafka.yaml')
    // Every topic renamed: the default topics on the shared broker hold other tests' records.
    writeFileSync(cfg, `kafka: { brokers: [${BROKERS.join(', ')}] }\nhermes: { topics: { tasks: ${tasks}, materials: ${materials}, stats: cfg-stats-${id}, model: cfg-model-${id}, users: cfg-users-${id}, audiences: cfg-audiences-${id}, events: cfg-events-${id} } }\n`)
    const r = await runHermes(['validate', 'push-decisions', '--from-kafka', '-c', cfg], { HERMES_ENV: 'test' })
    expect(r.stderr).toBe('')
    const lines = r.stdout.split('\n')
    expect(lines).toContain(`${tasks}[0]@1: ${tasks} key="typo": invalid task typo: unknown field "quiteHours" (did you mean "quietHours"?) [push-decisions]`)
    expect(lines.find((l) => l.startsWith(`${tasks}[0]@2: ${tasks} key="orphan": invalid task orphan: unknown material m404`))).toBeDefined()
    expect(lines.filter((l) => l.startsWith(`${tasks}[0]@0`))).toEqual([])
    expect(r.stdout).toContain(`2 of 4 records of ${materials}, cfg-model-${id}, cfg-stats-${id}, ${tasks} on`)
    expect(r.code).toBe(1)
  })
})
