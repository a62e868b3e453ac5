import { readFileSync } from 'node:fs'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { materialSchema, parseWith, taskSchema } from '../../operators/config.ts'
import { toAvroForm } from '../../pipeline/registry/avro-serde.ts'

const schema = (name: string): avro.Type => avro.Type.forSchema(JSON.parse(readFileSync(`schemas/${name}.avsc`, 'utf8')) as avro.Schema)
const examples = (name: string): unknown[] => readFileSync(`docs/examples/${name}.jsonl`, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown)

describe('toAvroForm: configuration records in the Avro form the pipeline reads back', () => {
  it('encodes every example task (nested objects as JSON text) so that it decodes to the same task', () => {
    const type = schema('task')
    const tasks = examples('tasks')
    expect(tasks.length).toBe(5)
    for (const task of tasks) {
      expect(() => type.toBuffer(task)).toThrow()
      const back = type.fromBuffer(type.toBuffer(toAvroForm(type, task)))
      expect(parseWith(taskSchema, 'task', JSON.parse(JSON.stringify(back)))).toEqual(parseWith(taskSchema, 'task', task))
    }
  })

  it('leaves records without JSON-text fields as they are (materials: prior is an Avro record)', () => {
    const type = schema('material')
    for (const m of examples('materials')) {
      expect(toAvroForm(type, m)).toEqual(m)
      const back = type.fromBuffer(type.toBuffer(toAvroForm(type, m)))
      expect(parseWith(materialSchema, 'material', JSON.parse(JSON.stringify(back)))).toEqual(parseWith(materialSchema, 'material', m))
    }
  })
})
