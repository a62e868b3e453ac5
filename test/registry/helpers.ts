/** Shared pieces of the schema-registry integration tests (registry on 127.0.0.1:18081, broker on 9092). */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REGISTRY_URL = 'http://127.0.0.1:18081/apis/ccompat/v7'

/** A copy of schemas/ in a temp dir, with extra optional fields appended to one schema. */
export function schemasWith(name: string, fields: object[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'hermes-schemas-'))
  cpSync('schemas', dir, { recursive: true })
  const file = join(dir, `${name}.avsc`)
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: object[] }
  schema.fields.push(...fields)
  writeFileSync(file, JSON.stringify(schema, null, 2))
  return dir
}

/** The schema text of `schemas/<name>.avsc` (as a producer would register it), plus extra fields. */
export function schemaText(name: string, extra: object[] = []): string {
  const schema = JSON.parse(readFileSync(join('schemas', `${name}.avsc`), 'utf8')) as { fields: object[] }
  schema.fields.push(...extra)
  return JSON.stringify(schema)
}
