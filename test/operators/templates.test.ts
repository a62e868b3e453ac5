import { describe, expect, it } from 'vitest'
import { checkFallbacks, checkPlaceholder, checkTemplates, renderTemplate } from '../../operators/templates.ts'
import type { TemplateData } from '../../operators/templates.ts'
import type { Suppression } from '../../operators/types.ts'
import { openFlow } from './embedded-harness.ts'
import { HOUR, T0, deadLetters, ev, eventTask, flow, material } from './helpers.ts'

const data: TemplateData = {
  event: { eventId: 'e1', userId: 'u1', type: 'price_drop', ts: T0, itemId: 'item-1', category: null, attrs: { dropPct: 40, empty: '' } },
  user: { userId: 'u1', timezone: 'Asia/Shanghai', pushEnabled: true, segments: ['vip'] },
  task: { taskId: 't1' },
}

describe('templates: rendering', () => {
  it('fills every placeholder that has a value, numbers as their decimal text', () => {
    expect(renderTemplate('{{event.itemId}} is {{ event.attrs.dropPct }}% cheaper for {{user.userId}} ({{task.taskId}})', data)).toEqual({ ok: true, text: 'item-1 is 40% cheaper for u1 (t1)' })
  })

  it('reports the first placeholder with no value: absent, null, empty, a list, or no event at all', () => {
    expect(renderTemplate('{{event.attrs.saving}} off', data)).toEqual({ ok: false, missing: 'event.attrs.saving' })
    expect(renderTemplate('{{event.category}}', data)).toEqual({ ok: false, missing: 'event.category' })
    expect(renderTemplate('[{{event.attrs.empty}}]', data)).toEqual({ ok: false, missing: 'event.attrs.empty' })
    expect(renderTemplate('{{user.segments}}', data)).toEqual({ ok: false, missing: 'user.segments' })
    expect(renderTemplate('{{event.itemId}}', { ...data, event: null })).toEqual({ ok: false, missing: 'event.itemId' })
    expect(renderTemplate('{{constructor}} {{event.__proto__}}', data)).toEqual({ ok: false, missing: 'constructor' })
  })

  it('uses a fallback only where the value is missing, as literal text', () => {
    const fallbacks = { 'event.attrs.saving': 'a lot', 'event.itemId': 'unused', 'event.category': '{{task.taskId}}' }
    expect(renderTemplate('Save {{event.attrs.saving}} on {{event.itemId}} in {{event.category}}', data, fallbacks)).toEqual({ ok: true, text: 'Save a lot on item-1 in {{task.taskId}}' })
  })

  it('leaves text without placeholders alone', () => {
    expect(renderTemplate('Picked for you {{ not a placeholder', data)).toEqual({ ok: true, text: 'Picked for you {{ not a placeholder' })
  })
})

describe('templates: checks when a material is loaded', () => {
  it('accepts the paths that can have a value', () => {
    for (const p of ['event.eventId', 'event.itemId', 'event.category', 'event.attrs.dropPct', 'user.userId', 'user.timezone', 'task.taskId']) expect(checkPlaceholder(p)).toBeNull()
  })

  it('names a path that can never have a value, with the nearest valid one', () => {
    expect(checkPlaceholder('event.itemid')).toBe('unknown placeholder {{event.itemid}}: it never has a value (did you mean {{event.itemId}}?)')
    expect(checkPlaceholder('user.userid')).toContain('did you mean {{user.userId}}?')
    expect(checkPlaceholder('event.Attrs.dropPct')).toContain('did you mean {{event.attrs.dropPct}}?')
    expect(checkPlaceholder('constructor')).toMatch(/^unknown placeholder \{\{constructor\}\}: it never has a value \(use one of \{\{event\.eventId\}\}/)
    expect(checkPlaceholder('event.attrs')).not.toBeNull()
    expect(checkPlaceholder('user.segments')).not.toBeNull()
  })

  it('checks title, body and deeplink, naming the field, and the fallback keys', () => {
    expect(checkTemplates({ title: 'Hi {{user.userId}}', body: '{{event.itemId}}', deeplink: 'app://{{task.taskId}}' })).toBeNull()
    expect(checkTemplates({ title: 'Hi', body: 'x', deeplink: 'app://item/{{event.itemid}}' })).toEqual({ field: 'deeplink', problem: 'unknown placeholder {{event.itemid}}: it never has a value (did you mean {{event.itemId}}?)' })
    expect(checkTemplates({ title: '{{user.name}}', body: 'x', deeplink: null })?.field).toBe('title')
    expect(checkFallbacks({ 'event.attrs.x': 'y' })).toBeNull()
    expect(checkFallbacks({ 'event.item': 'y' })).toMatch(/^key "event\.item": unknown placeholder \{\{event\.item\}\}.*did you mean \{\{event\.itemId\}\}\?/)
  })

  it('dead-letters a material whose fallbacks name a path that can never have a value, and keeps the previous version', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1'), material('m1', { fallbacks: { 'event.itemid': 'your item' } }), material('m2', { fallbacks: { 'event.itemId': 42 } })])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([
      expect.stringMatching(/^invalid material m1: fallbacks: key "event\.itemid": unknown placeholder \{\{event\.itemid\}\}.*did you mean \{\{event\.itemId\}\}\?/),
      expect.stringMatching(/^invalid material m2: fallbacks\.event\.itemId: /),
    ])
    await d.close()
  })
})

describe('templates: checked when the material is loaded', () => {
  it('dead-letters a material whose title, body or deeplink names a placeholder that can never have a value, naming the field and the nearest path', async () => {
    const d = await flow()
    await d.pipe('config.materials', [material('m1', { deeplink: 'app://item/{{event.itemid}}' }), material('m2', { title: 'Hi {{user.name}}' }), material('m3')])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([
      expect.stringMatching(/^invalid material m1: deeplink: unknown placeholder \{\{event\.itemid\}\}.*did you mean \{\{event\.itemId\}\}\?/),
      expect.stringMatching(/^invalid material m2: title: unknown placeholder \{\{user\.name\}\}/),
    ])
    await d.close()
  })

  it('dead-letters user and audience records whose userId has a lone surrogate (as UTF-8 keys they would merge with other users)', async () => {
    const d = await flow()
    await d.pipe('config.users', [{ userId: 'u\ud83d', timezone: 'UTC', pushEnabled: false }, { userId: 'u🙂', timezone: 'UTC', pushEnabled: true }])
    await d.pipe('config.audiences', [{ userId: 'x\ude42', segmentId: 's1', member: true }])
    expect(deadLetters(d).map((x) => x.reason)).toEqual([
      expect.stringMatching(/userId.*not well-formed Unicode/),
      expect.stringMatching(/userId.*not well-formed Unicode/),
    ])
    await d.close()
  })
})

describe('templates: what operators see', () => {
  it('logs a material that cannot render once per material and placeholder, however many candidates it fails', async () => {
    const h = await openFlow({ state: { kind: 'memory', maps: new Map() }, config: { topics: { defaultPartitions: 1 } } })
    await h.pipe('config.materials', [material('m1', { body: 'Save {{event.attrs.saving}} on {{event.itemId}}', fallbacks: undefined })])
    await h.pipe('config.tasks', [eventTask('t1')])
    await h.pipe('behavior-events', [ev('u1', 'price_drop', T0), ev('u2', 'price_drop', T0 + 1), ev('u3', 'price_drop', T0 + 2, { attrs: { saving: '5%' }, itemId: null }), ev('u4', 'view', T0 + HOUR)])
    expect(h.values<Suppression>('push-suppressions').map((x) => [x.userId, x.materialId, x.reason])).toEqual([
      ['u1', 'm1', 'template_incomplete'],
      ['u2', 'm1', 'template_incomplete'],
      ['u3', 'm1', 'template_incomplete'],
    ])
    const lines = h.lines.filter((l) => l.materialId === 'm1')
    expect(lines.map((l) => [l.level, l.taskId, l.placeholder])).toEqual([[40, 't1', 'body: {{event.attrs.saving}}'], [40, 't1', 'body: {{event.itemId}}']])
    expect(lines[0]?.msg).toContain('fallbacks')
    await h.close()
  })
})
