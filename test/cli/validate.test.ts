import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runHermes } from '../hermes-cli.ts'

const root = mkdtempSync(join(tmpdir(), 'hermes-validate-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const file = (name: string, lines: string[]): string => {
  const f = join(root, name)
  writeFileSync(f, `${lines.join('\n')}\n`)
  return f
}
const examples = (name: string): string => join('docs', 'examples', `${name}.jsonl`)

describe('hermes validate with configuration files', () => {
  it('checks records with the pipeline code and names file:line and the reason of each bad one; exits 1', async () => {
    const tasks = file('tasks.jsonl', [
      JSON.stringify({ taskId: 'ok', trigger: { type: 'event', events: ['view'] }, materials: ['m1'] }),
      JSON.stringify({ taskId: 'typo', trigger: { type: 'event', events: ['view'] }, materials: ['m1'], quiteHours: 'drop' }),
      '{"taskId": "cut-off",',
      JSON.stringify({ taskId: 'orphan', trigger: { type: 'event', events: ['view'] }, materials: ['m404'] }),
    ])
    const r = await runHermes(['validate', 'push-decisions', '--input', `config.tasks=${tasks}`, '--input', `config.materials=${examples('materials')}`])
    expect(r.code).toBe(1)
    const out = r.stdout.split('\n')
    expect(out).toContain(`${tasks}:2: config.tasks key="typo": invalid task typo: unknown field "quiteHours" (did you mean "quietHours"?) [push-decisions]`)
    expect(out.find((l) => l.startsWith(`${tasks}:3: config.tasks`))).toMatch(/deserializ|JSON/i)
    expect(out.find((l) => l.startsWith(`${tasks}:4: config.tasks key="orphan": invalid task orphan: unknown material m404`))).toBeDefined()
    expect(out.filter((l) => l.startsWith(`${tasks}:1:`))).toEqual([])
    expect(r.stdout).toContain('3 of 8 records of')
  })

  it('accepts the examples whatever the order of the files (tasks before their materials), except the task that is broken on purpose', async () => {
    const inputs = ['tasks', 'materials', 'users', 'audiences'].flatMap((n) => ['--input', `config.${n}=${examples(n)}`])
    const r = await runHermes(['validate', 'push-decisions', ...inputs, '--input', `behavior-events=${examples('events')}`])
    expect(r.stdout.split('\n').filter((l) => l.includes('config.tasks key='))).toEqual([
      `${examples('tasks')}:5: config.tasks key="broken": invalid task broken: trigger.when: malformed JsonLogic: trigger.when: unknown or forbidden JsonLogic operation "method" [push-decisions]`,
    ])
    expect(r.stdout).toMatch(/1 of \d+ records of/)
    expect(r.code).toBe(1)
  })

  it('exits 0 and says ok when every record is good', async () => {
    const tasks = file('good.jsonl', [JSON.stringify({ taskId: 'ok', trigger: { type: 'event', events: ['view'] }, materials: ['m1'] })])
    const r = await runHermes(['validate', 'push-decisions', '--input', `config.tasks=${tasks}`, '--input', `config.materials=${examples('materials')}`])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`ok: 5 records of ${tasks}, ${examples('materials')}`)
  })
})
