/**
 * The bad-input cases of issue 11 ("Hardening: no record can crash, stall or misroute Hermes"):
 * each one puts its records in the production plan and says how its outcome is judged, either
 * dead-lettered (on which application's DLQ, with which reason, original bytes kept) or handled
 * (a specific check). After each case a probe event of the same user (or of a user on the same
 * partition, when the case's user may not be pushed) must be decided: no stall, no crash.
 */
import { partitionFor } from '../../pipeline/runtime/partitioner.ts'
import { keyOnPartition, librdkafkaPartition } from './bad-input-producers.ts'
import type { Send } from './bad-input-producers.ts'
import type { Case, Names, Outputs, Verdict } from './bad-input-world.ts'
import { PARTITIONS, Plan, all, counted, deadLettered, decisionsFor, json, probeDecided, suppressionsFor } from './bad-input-world.ts'

const DAY = 86_400_000

/** Encodes behavior events in the Confluent wire format with the registered schema (set before events are sent). */
export interface AvroCodec {
  encode(event: object): Buffer
  readonly schemaId: number
}

/** Materials and tasks every case relies on (the good configuration). */
function goodConfig(topics: Names['json']): Send[] {
  const m = (v: object): Send => ({ topic: topics.materials, key: (v as { materialId: string }).materialId, value: json(v) })
  const t = (v: object): Send => ({ topic: topics.tasks, key: (v as { taskId: string }).taskId, value: json(v) })
  return [
    m({ materialId: 'm-probe', title: 'Probe', body: 'hello', deeplink: 'app://home' }),
    m({ materialId: 'm-drop', title: 'Price drop', body: '{{event.itemId}} is {{event.attrs.dropPct}}% cheaper today', deeplink: 'app://item/{{event.itemId}}' }),
    m({ materialId: 'm-sched', title: 'News', body: 'today in the shop', deeplink: 'app://news' }),
    t({ taskId: 't-probe', trigger: { type: 'event', events: ['probe'] }, materials: ['m-probe'] }),
    t({ taskId: 't-drop', priority: 10, trigger: { type: 'event', events: ['price_drop'], when: { '>=': [{ var: 'event.attrs.dropPct' }, 10] } }, materials: ['m-drop'], fatigue: { max: 1, windowMs: DAY } }),
    t({ taskId: 't-sched', trigger: { type: 'schedule', cron: '* * * * *', timezone: 'UTC' }, audience: { include: ['sched-seg'] }, materials: ['m-sched'] }),
  ]
}

/** Builds the plan and the cases of one run. */
export function buildCases(n: Names, avro: AvroCodec): { plan: Plan; cases: Case[] } {
  const plan = new Plan()
  const cases: Case[] = []
  const T = n.json
  const A = n.avro
  const apps = n.apps
  plan.config.push(...goodConfig(T), ...goodConfig(A))

  let seq = 0
  const ev = (userId: unknown, type: unknown, now: () => number, extra: object = {}): { [k: string]: unknown } => ({ eventId: `ev-${++seq}`, userId, type, ts: now(), ...extra })
  /** A probe event of `user` (key: user, the producer's partitioner), returning its event id. */
  const probe = (id: string, user: string, opts: { topic?: string; partition?: number; avro?: boolean; final?: boolean } = {}): string => {
    const eventId = `probe-${id}`
    ;(opts.final ? plan.finalEvents : plan.events).push((now) => {
      const e = { eventId, userId: user, type: 'probe', ts: now() }
      return { topic: opts.topic ?? T.events, key: user, value: opts.avro ? avro.encode(e) : json(e), ...(opts.partition === undefined ? {} : { partition: opts.partition }) }
    })
    return eventId
  }
  const add = (c: Omit<Case, 'check'>, check: (out: Outputs) => Verdict): void => void cases.push({ ...c, check })

  // ---- Configuration records (kcat, pretty-printed JSON so a re-rendering shows) ----
  const cfg = (topic: string, key: string, value: Buffer): Send => {
    const s = { topic, key, value }
    plan.config.push(s)
    return s
  }
  const c01 = cfg(T.tasks, 't-quite', json({ taskId: 't-quite', trigger: { type: 'event', events: ['never-sent'] }, materials: ['m-probe'], quiteHours: 'drop' }, 2))
  add({ id: 'C01', name: 'task with an unknown field (quiteHours)', defect: '5', expected: 'dead-lettered: names quiteHours and the nearest known field quietHours' }, (o) => deadLettered(o, c01, apps.decisions, [/quiteHours/, /quietHours/]))
  const c02 = cfg(T.materials, 'm-tittle', json({ materialId: 'm-tittle', tittle: 'Typo', body: 'b' }, 2))
  add({ id: 'C02', name: 'material with an unknown field (tittle)', defect: '5', expected: 'dead-lettered: names tittle and title' }, (o) => deadLettered(o, c02, apps.decisions, [/tittle/, /\btitle\b/]))
  const c04 = cfg(T.tasks, 't-nomat', json({ taskId: 't-nomat', trigger: { type: 'event', events: ['never-sent'] }, materials: ['m-nosuch'] }, 2))
  add({ id: 'C04', name: 'task naming a material that never arrives', defect: '5', expected: 'dead-lettered (after its bounded wait), naming m-nosuch' }, (o) => deadLettered(o, c04, apps.decisions, [/m-nosuch/]))
  cfg(T.tasks, 't-late', json({ taskId: 't-late', trigger: { type: 'event', events: ['late_evt'] }, materials: ['m-late'] }))
  cfg(T.materials, 'm-late', json({ materialId: 'm-late', title: 'Late', body: 'arrived after its task' }))
  const c06 = cfg(T.tasks, 't-broken', Buffer.from('{"taskId": "t-broken", "trigger": '))
  add({ id: 'C06', name: 'task record that is not JSON', defect: '-', expected: 'dead-lettered with the parse error' }, (o) => deadLettered(o, c06, apps.decisions, [/JSON|Unexpected|parse/i]))
  const c07 = cfg(T.tasks, 't-method', json({ taskId: 't-method', trigger: { type: 'event', events: ['probe'], when: { method: [{ var: 'event.userId' }, 'toString'] } }, materials: ['m-probe'] }, 2))
  add({ id: 'C07', name: 'task whose rule uses a forbidden operation (method)', defect: '9', expected: 'dead-lettered naming "method", original bytes kept' }, (o) => deadLettered(o, c07, apps.decisions, [/method/]))
  cfg(T.materials, 'm-typo', json({ materialId: 'm-typo', title: 'Typo', body: 'Hi {{event.itemid}}', deeplink: 'app://item/{{event.itemid}}' }))
  cfg(T.tasks, 't-typo', json({ taskId: 't-typo', trigger: { type: 'event', events: ['typo_evt'] }, materials: ['m-typo'] }))

  // ---- Configuration through `hermes produce` ----
  plan.cli.push({ topic: T.materials, lines: [JSON.stringify({ materialId: 'm-cli', title: 'CLI', body: 'produced by hermes produce' })] })
  plan.cli.push({ topic: T.tasks, lines: [JSON.stringify({ taskId: 't-cli', trigger: { type: 'event', events: ['cli_evt'] }, materials: ['m-cli'] })] })
  add({ id: 'C11', name: '`hermes produce` to config.materials and config.tasks', defect: '5', expected: 'keyed by materialId / taskId (not userId); the task fires with its material' }, (o) => {
    const keyOf = (field: string, id: string): string => {
      const r = o.configRecords.find((x) => x.value.includes(`"${field}":"${id}"`))
      return r ? (r.key === null ? 'null' : `"${r.key}"`) : 'not on the topic'
    }
    const [m, t] = [keyOf('materialId', 'm-cli'), keyOf('taskId', 't-cli')]
    const d = decisionsFor(o, 'u-c11').filter((x) => x.taskId === 't-cli' && x.materialId === 'm-cli').length
    return { pass: m === '"m-cli"' && t === '"t-cli"' && d === 1, observed: `m-cli key ${m}, t-cli key ${t}, ${d} t-cli decision(s)` }
  })

  // ---- Profiles and memberships (Java client, murmur2) ----
  const c03 = { topic: T.users, key: 'u-c03', value: json({ userId: 'u-c03', pushEnable: false }) }
  plan.javaRecord(T.users, 'u-c03', c03.value.toString())
  const p03 = probe('C03', 'u-c03')
  add({ id: 'C03', name: 'user profile with an unknown field (pushEnable)', defect: '5', expected: 'dead-lettered naming pushEnable and pushEnabled; next record decided' }, (o) =>
    all(deadLettered(o, c03, apps.decisions, [/pushEnable\b/, /pushEnabled/]), probeDecided(o, 'u-c03', p03)))
  const c09 = { topic: T.audiences, key: 'u-c09', value: json({ userId: 'u-c09', member: true }) }
  plan.javaRecord(T.audiences, 'u-c09', c09.value.toString())
  const p09 = probe('C09', 'u-c09')
  add({ id: 'C09', name: 'audience membership without segmentId', defect: '-', expected: 'dead-lettered naming segmentId; next record decided' }, (o) => all(deadLettered(o, c09, apps.decisions, [/segmentId/]), probeDecided(o, 'u-c09', p09)))

  // ---- Events that are not events (kcat, keyed by the case's user) ----
  // behavior-events is read by both applications (push-decisions, material-stats): a bad one
  // is dead-lettered once or says which application saw it, issue 11's defect 9.
  const badEvent = (id: string, name: string, defect: string, value: (now: () => number) => Buffer | null, reasons: RegExp[], expected = 'dead-lettered with its reason, once or with hermes.dlq.app; next record decided'): void => {
    const user = `u-${id.toLowerCase()}`
    const sent: Send = { topic: T.events, key: user, value: null }
    plan.events.push((now) => Object.assign(sent, { value: value(now) }))
    const p = probe(id, user)
    add({ id, name, defect, expected }, (o) => all(deadLettered(o, sent, apps.decisions, reasons), probeDecided(o, user, p)))
  }
  badEvent('E01', 'not JSON', '9', () => Buffer.from('hello, this is not json'), [/JSON|Unexpected/i])
  badEvent('E02', 'JSON that is not an object (a number)', '9', () => Buffer.from('42'), [/object/])
  badEvent('E03', 'JSON array of events', '9', (now) => json([ev('u-e03', 'probe', now)]), [/array|object/])
  badEvent('E04', 'JSON string', '9', () => Buffer.from('"price_drop"'), [/object/])
  badEvent('E05', 'null value (tombstone) on behavior-events', '9', () => null, [/./])
  badEvent('E06', 'empty value', '9', () => Buffer.alloc(0), [/./])
  badEvent('E07', 'missing userId', '9', (now) => json({ eventId: 'x-e07', type: 'probe', ts: now() }), [/userId/])
  badEvent('E08', 'missing eventId', '9', (now) => json({ userId: 'u-e08', type: 'probe', ts: now() }), [/eventId/])
  badEvent('E09', 'missing type', '9', (now) => json({ eventId: 'x-e09', userId: 'u-e09', ts: now() }), [/type/])
  badEvent('E10', 'userId of the wrong type (number)', '9', (now) => json({ eventId: 'x-e10', userId: 1010, type: 'probe', ts: now() }), [/userId/])
  badEvent('E11', 'ts of the wrong type (string)', '9', (now) => json({ eventId: 'x-e11', userId: 'u-e11', type: 'probe', ts: String(now()) }), [/ts/])
  badEvent('E12', 'empty userId', '9', (now) => json({ eventId: 'x-e12', userId: '', type: 'probe', ts: now() }), [/userId/])
  badEvent('E14', 'binary garbage', '9', () => Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37, 0x80, 0x81, 0xc3, 0x28, 0x00, 0x7f, 0xa0, 0xa1]), [/./])
  badEvent('E15', 'Avro bytes on the JSON topic', '9', (now) => avro.encode(ev('u-e15', 'probe', now)), [/./])

  // ---- Events that are events but trip something ----
  const event = (user: string, type: string, extra: object = {}, routing: { key?: string | null; partition?: number } = {}): void =>
    void plan.events.push((now) => ({ topic: T.events, key: 'key' in routing ? routing.key : user, value: json(ev(user, type, now, extra)), ...(routing.partition === undefined ? {} : { partition: routing.partition }) }))
  const nothingFor = (o: Outputs, user: string, probeId: string): Verdict => {
    const d = decisionsFor(o, user).filter((x) => x.triggerEventId !== probeId)
    const s = suppressionsFor(o, user)
    return { pass: d.length === 0 && s.length === 0, observed: d.length + s.length === 0 ? 'nothing fired' : `${d.length} decisions (${d.map((x) => x.taskId).join(',')}), ${s.length} suppressions (${s.map((x) => x.reason).join(',')})` }
  }

  event('u-e13', 'teleport', { itemId: 'sku-13', attrs: { dropPct: 50 } })
  const p13 = probe('E13', 'u-e13')
  add({ id: 'E13', name: 'unknown event type', defect: '-', expected: 'handled: nothing fires; next record decided' }, (o) => all(nothingFor(o, 'u-e13', p13), probeDecided(o, 'u-e13', p13)))

  event('u-e17', 'price_drop', { itemId: 'sku-17', attrs: { dropPct: 5 } })
  const p17 = probe('E17', 'u-e17')
  add({ id: 'E17', name: 'price_drop whose `when` rule is false (dropPct 5)', defect: '-', expected: 'handled: nothing fires; next record decided' }, (o) => all(nothingFor(o, 'u-e17', p17), probeDecided(o, 'u-e17', p17)))

  // Spelled out as text: JSON.stringify itself runs out of stack on 20 000 levels. Two users on
  // one partition (whichever partitioner routes them), so one Task Center instance sees both.
  const deep = `${'{"d":'.repeat(20_000)}1${'}'.repeat(20_000)}`
  const deepUsers = ['u-e18a', 'u-e18b'].map((prefix) => keyOnPartition(prefix, 2, PARTITIONS))
  for (const u of deepUsers) plan.events.push((now) => ({ topic: T.events, key: u, value: Buffer.from(`{"eventId":"x-${u}","userId":"${u}","type":"price_drop","ts":${now()},"itemId":"sku-18","attrs":{"dropPct":50,"deep":${deep}}}`) }))
  const p18 = probe('E18', deepUsers[0] as string)
  add({ id: 'E18', name: 'very deep JSON in attrs (20 000 levels) under a `when` rule, two users', defect: '8', expected: 'handled: a rule_error suppression each, logged once for t-drop; next record decided' }, (o) => {
    const s = deepUsers.map((u) => suppressionsFor(o, u).filter((x) => x.taskId === 't-drop').map((x) => x.reason))
    const d = deepUsers.reduce((k, u) => k + decisionsFor(o, u).filter((x) => x.taskId === 't-drop').length, 0)
    const logged = o.logs.filter((l) => l.taskId === 't-drop' && /rule/i.test(String(l.msg))).length
    return all(
      { pass: s.every((r) => r.length === 1 && r[0] === 'rule_error') && d === 0, observed: `t-drop: ${d} decisions, suppressions ${s.map((r) => `[${r.join(',')}]`).join(' ')}` },
      { pass: logged === 1, observed: `logged ${logged}×` },
      probeDecided(o, deepUsers[0] as string, p18),
    )
  })

  event('u-e19', 'price_drop', { attrs: { dropPct: 40 } })
  const p19 = probe('E19', 'u-e19')
  add({ id: 'E19', name: 'template value missing (price_drop without itemId)', defect: '6', expected: 'handled: template_incomplete suppression, never a broken body; next record decided' }, (o) => {
    const d = decisionsFor(o, 'u-e19').filter((x) => x.taskId === 't-drop')
    const s = suppressionsFor(o, 'u-e19').filter((x) => x.taskId === 't-drop')
    const broken = d.filter((x) => /^\s|\/$/.test(x.body) || /\/$/.test(x.deeplink ?? ''))
    return all({ pass: broken.length === 0 && (d.length > 0 || s.some((x) => x.reason === 'template_incomplete')), observed: d.length ? `decision body "${d[0]?.body}" deeplink "${d[0]?.deeplink}"` : `suppressions [${s.map((x) => x.reason).join(',')}]` }, probeDecided(o, 'u-e19', p19))
  })

  event('u-e20', 'price_drop', { itemId: 'sku-20', attrs: { dropPct: 40 } })
  add({ id: 'E20', name: 'good price_drop (control for E19)', defect: '-', expected: 'handled: decision "sku-20 is 40% cheaper today", app://item/sku-20' }, (o) => {
    const d = decisionsFor(o, 'u-e20').find((x) => x.taskId === 't-drop')
    return { pass: d?.body === 'sku-20 is 40% cheaper today' && d.deeplink === 'app://item/sku-20', observed: d ? `decision body "${d.body}" deeplink "${d.deeplink}"` : 'no decision' }
  })

  const huge: Send = { topic: T.events, key: 'u-e21', value: null }
  plan.finalEvents.push((now) => Object.assign(huge, { value: json(ev('u-e21', 'price_drop', now, { itemId: 'x'.repeat(900_000), attrs: { dropPct: 40 } })) }))
  const p21 = probe('E21', 'u-e21', { final: true })
  add({ id: 'E21', name: '900 KB itemId: the decision (1.8 MB) exceeds the broker limit', defect: '3', expected: 'dead-lettered (its input) with the size reason; partition not stalled: next record decided' }, (o) =>
    all(deadLettered(o, huge, apps.decisions, [/max\.message\.bytes|too large|size|bytes/i]), probeDecided(o, 'u-e21', p21)))

  const emoji = '😀🦊-e22'
  const p22 = probe('E22', emoji)
  add({ id: 'E22', name: 'emoji user id (outside the BMP): event trigger (control for E23)', defect: '-', expected: 'handled: decided for the emoji user' }, (o) => probeDecided(o, emoji, p22))
  plan.javaRecord(T.audiences, emoji, { userId: emoji, segmentId: 'sched-seg', member: true })
  plan.javaRecord(T.audiences, 'u-e23-plain', { userId: 'u-e23-plain', segmentId: 'sched-seg', member: true })
  add({ id: 'E23', name: 'emoji user id: schedule fan-out over RocksDB state after a restart', defect: '7', expected: 'handled: the every-minute schedule pushes the emoji member as it does the plain one' }, (o) => {
    const [e, p] = [decisionsFor(o, emoji).filter((x) => x.taskId === 't-sched').length, decisionsFor(o, 'u-e23-plain').filter((x) => x.taskId === 't-sched').length]
    return { pass: e > 0 && p > 0, observed: `t-sched decisions: emoji ${e}, plain member ${p}` }
  })

  const wrongKeys = ['someone-else', 'another-one', 'third-key']
  for (const [i, k] of wrongKeys.entries()) event('bad-key', 'price_drop', { itemId: `sku-24-${i}`, attrs: { dropPct: 40 } }, { key: k })
  const p24 = probe('E24', 'bad-key')
  add({ id: 'E24', name: 'Kafka key disagrees with userId (3 price_drops of bad-key keyed by others)', defect: '1', expected: 'handled: re-keyed to bad-key, its cap of 1 holds, nothing for the keys; next record decided' }, (o) => {
    const misrouted = o.decisions.filter((d) => d.app === 'json' && (wrongKeys.includes(d.value.userId) || wrongKeys.includes(d.key ?? '')))
    const drops = decisionsFor(o, 'bad-key').filter((x) => x.taskId === 't-drop')
    const capped = suppressionsFor(o, 'bad-key').filter((x) => x.reason === 'fatigue.task').length
    const dead = o.dlq.filter((r) => r.app === apps.decisions && wrongKeys.includes(r.key ?? '')).length
    const ok = misrouted.length === 0 && ((drops.length === 1 && capped === 2) || dead === 3)
    return all({ pass: ok, observed: `decisions to the keys: ${misrouted.length}; bad-key: ${drops.length} t-drop decisions, ${capped} fatigue.task suppressions, ${dead} dead-lettered` }, probeDecided(o, 'bad-key', p24))
  })

  for (const [id, user, key, partition] of [['E25', 'empty-key-user', '', 0], ['E26', 'null-key-user', null, 1]] as const) {
    event(user, 'price_drop', { itemId: `sku-${id}`, attrs: { dropPct: 40 } }, { key, partition })
    const p = probe(id, user)
    add({ id, name: `${key === null ? 'null' : 'empty'} Kafka key (userId ${user})`, defect: '1', expected: `handled: decided for ${user}, nothing for user ""; next record decided` }, (o) => {
      const bogus = o.decisions.filter((d) => d.app === 'json' && (d.value.userId === '' || d.key === '' || d.key === null)).length
      const mine = decisionsFor(o, user).filter((x) => x.taskId === 't-drop').length
      return all({ pass: bogus === 0 && mine === 1, observed: `${user}: ${mine} t-drop decisions; decisions with an empty or null user/key: ${bogus}` }, probeDecided(o, user, p))
    })
  }

  plan.javaRecord(T.users, 'wp-user', { userId: 'wp-user', pushEnabled: false })
  const wrong = (partitionFor('wp-user', PARTITIONS) + 1) % PARTITIONS
  event('wp-user', 'price_drop', { itemId: 'sku-27', attrs: { dropPct: 40 } }, { key: 'wp-user', partition: wrong })
  const u27 = keyOnPartition('probe-e27', wrong, PARTITIONS)
  const p27 = probe('E27', u27)
  add({ id: 'E27', name: `opted-out user's event on the wrong partition (${wrong}, key hashes to ${partitionFor('wp-user', PARTITIONS)})`, defect: '2', expected: 'handled: nothing sent, opted_out suppression; next record on that partition decided' }, (o) => {
    const d = decisionsFor(o, 'wp-user').length
    const s = suppressionsFor(o, 'wp-user').map((x) => x.reason)
    return all({ pass: d === 0 && s.includes('opted_out'), observed: `${d} decisions, suppressions [${s.join(',')}]` }, probeDecided(o, u27, p27))
  })

  const optedOut = Array.from({ length: 20 }, (_, i) => `oo-${String(i).padStart(2, '0')}`)
  for (const u of optedOut) plan.javaRecord(T.users, u, { userId: u, pushEnabled: false })
  for (const u of optedOut) event(u, 'price_drop', { itemId: `sku-${u}`, attrs: { dropPct: 40 } })
  const moved = optedOut.filter((u) => partitionFor(u, PARTITIONS) !== librdkafkaPartition(u, PARTITIONS)).length
  add({ id: 'E28', name: `20 opted-out users: profiles by the Java client, events by kcat (${moved}/20 hash elsewhere)`, defect: '2', expected: 'handled: no push to any, 20 opted_out suppressions' }, (o) => {
    const pushed = optedOut.filter((u) => decisionsFor(o, u).length > 0).length
    const suppressed = optedOut.filter((u) => suppressionsFor(o, u).some((s) => s.reason === 'opted_out')).length
    return { pass: pushed === 0 && suppressed === optedOut.length, observed: `${pushed}/20 pushed, ${suppressed}/20 opted_out` }
  })

  add({ id: 'K01', name: 'key corrections are counted (E24-E28)', defect: '1', expected: 'rekeyed{key_mismatch} = 4 (E24 ×3, E25), rekeyed{no_key} = 1 (E26), repartitioned{wrong_partition} ≥ 16 (E27, E28)' }, (o) => {
    const app = apps.decisions
    const [mismatch, noKey, moved] = [counted(o, { app, event: 'rekeyed', reason: 'key_mismatch' }), counted(o, { app, event: 'rekeyed', reason: 'no_key' }), counted(o, { app, event: 'repartitioned', reason: 'wrong_partition' })]
    return { pass: mismatch === 4 && noKey === 1 && moved >= 16, observed: `key_mismatch ${mismatch}, no_key ${noKey}, wrong_partition ${moved}` }
  })

  event('u-c11', 'cli_evt')
  event('u-c05', 'late_evt')
  add({ id: 'C05', name: 'task sent before the material it names', defect: '5', expected: 'handled: the task waits for m-late and fires' }, (o) => {
    const d = decisionsFor(o, 'u-c05').filter((x) => x.taskId === 't-late')
    const dead = o.dlq.some((r) => r.app === apps.decisions && r.key === 't-late')
    return { pass: d.length === 1 && d[0]?.materialId === 'm-late', observed: d.length ? `${d.length} t-late decision(s), material ${d[0]?.materialId}` : `no t-late decision${dead ? '; t-late dead-lettered' : ''}` }
  })

  event('u-c08', 'typo_evt', { itemId: 'sku-c08' })
  const p08 = probe('C08', 'u-c08')
  add({ id: 'C08', name: 'material template with a placeholder no event has ({{event.itemid}})', defect: '6', expected: 'handled: template_incomplete suppression (or the material refused), never "Hi "; next record decided' }, (o) => {
    const d = decisionsFor(o, 'u-c08').filter((x) => x.taskId === 't-typo')
    const s = suppressionsFor(o, 'u-c08').filter((x) => x.taskId === 't-typo').map((x) => x.reason)
    const refused = o.dlq.some((r) => r.app === apps.decisions && r.key === 'm-typo')
    return all({ pass: d.length === 0 && (s.includes('template_incomplete') || refused), observed: d.length ? `decision body "${d[0]?.body}" deeplink "${d[0]?.deeplink}"` : `suppressions [${s.join(',')}]${refused ? ', m-typo dead-lettered' : ''}` }, probeDecided(o, 'u-c08', p08))
  })

  plan.events.push((now) => {
    const e = { eventId: 'dup-e29', userId: 'u-e29', type: 'probe', ts: now() }
    return { topic: T.events, key: 'u-e29', value: json(e) }
  })
  plan.events.push((now) => ({ topic: T.events, key: 'u-e29', value: json({ eventId: 'dup-e29', userId: 'u-e29', type: 'probe', ts: now() }) }))
  add({ id: 'E29', name: 'the same event delivered twice', defect: 'new', expected: 'handled: one decision (decisions are idempotent by trigger)' }, (o) => {
    const d = decisionsFor(o, 'u-e29').filter((x) => x.triggerEventId === 'dup-e29')
    return { pass: d.length === 1, observed: `${d.length} decisions, ${new Set(d.map((x) => x.decisionId)).size} decision id(s)` }
  })

  // Spelled out: an object literal's __proto__ would set the prototype, not a field.
  plan.events.push((now) => ({ topic: T.events, key: 'u-e31', value: Buffer.from(`{"eventId":"x-e31","userId":"u-e31","type":"probe","ts":${now()},"__proto__":{"pushEnabled":false}}`) }))
  add({ id: 'E31', name: 'event with a "__proto__" field', defect: '-', expected: 'handled: decided like any event' }, (o) => ({ pass: decisionsFor(o, 'u-e31').filter((x) => x.taskId === 't-probe').length === 1, observed: `${decisionsFor(o, 'u-e31').length} decisions` }))

  // ---- The Avro flow (its behavior-events topic in the Confluent wire format) ----
  const badAvro = (id: string, name: string, value: () => Buffer, reasons: RegExp[]): void => {
    const user = `u-${id.toLowerCase()}`
    const sent: Send = { topic: A.events, key: user, value: null }
    plan.events.push(() => Object.assign(sent, { value: value() }))
    const p = probe(id, user, { topic: A.events, avro: true })
    add({ id, name, defect: '-', expected: 'dead-lettered by the Avro flow with its reason; next record decided' }, (o) => all(deadLettered(o, sent, apps.avro, reasons), probeDecided(o, user, p, 'avro')))
  }
  const pA1 = probe('A01', 'u-a01', { topic: A.events, avro: true })
  add({ id: 'A01', name: 'good Avro event (control)', defect: '-', expected: 'handled: decided' }, (o) => probeDecided(o, 'u-a01', pA1, 'avro'))
  badAvro('A02', 'Avro with a schema id the registry never gave out', () => Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x00]), Buffer.from('junk')]), [/unknown|not found|404/i])
  badAvro('A03', 'Avro with a truncated body', () => {
    const full = avro.encode({ eventId: 'x-a03', userId: 'u-a03', type: 'probe', ts: Date.now(), attrs: { note: 'this body is cut in half' } })
    return full.subarray(0, 5 + Math.floor((full.length - 5) / 2))
  }, [/./])
  badAvro('A04', 'JSON on the Avro topic', () => json({ eventId: 'x-a04', userId: 'u-a04', type: 'probe', ts: Date.now() }), [/not Avro/i])
  badAvro('A05', 'only the 5-byte wire-format header, no body', () => Buffer.from([0, ...[24, 16, 8, 0].map((s) => (avro.schemaId >>> s) & 0xff)]), [/./])

  add({ id: 'C10', name: 'configuration topics created by Hermes', defect: '4', expected: 'tasks, materials, users compacted; audiences never deleted by age' }, (o) => {
    const policy = (t: string): string => o.topicConfigs.get(t)?.['cleanup.policy'] ?? '?'
    const forever = (t: string): boolean => policy(t).includes('compact') || o.topicConfigs.get(t)?.['retention.ms#topic'] === '-1'
    const ok = [T.tasks, T.materials, T.users].every((t) => policy(t).includes('compact')) && forever(T.audiences)
    return { pass: ok, observed: `tasks ${policy(T.tasks)}, materials ${policy(T.materials)}, users ${policy(T.users)}, audiences ${policy(T.audiences)} (retention.ms ${o.topicConfigs.get(T.audiences)?.['retention.ms#topic'] ?? 'not set on the topic'})` }
  })

  add({ id: 'C12', name: 'configuration topics renamed by hermes.topics alone (no per-topic overrides)', defect: '4', expected: 'still created compacted (tasks, materials, users) / never deleted by age (audiences): they hold configuration whatever their name' }, (o) => {
    const R = n.renamed
    const policy = (t: string): string => o.topicConfigs.get(t)?.['cleanup.policy'] ?? '?'
    const forever = (t: string): boolean => policy(t).includes('compact') || o.topicConfigs.get(t)?.['retention.ms#topic'] === '-1'
    const ok = [R.tasks, R.materials, R.users].every((t) => policy(t).includes('compact')) && forever(R.audiences)
    return { pass: ok, observed: `tasks ${policy(R.tasks)}, materials ${policy(R.materials)}, users ${policy(R.users)}, audiences ${policy(R.audiences)} (retention.ms ${o.topicConfigs.get(R.audiences)?.['retention.ms#topic'] ?? 'not set on the topic'})` }
  })

  // ---- After a restart, event time moves 65 s on, on every partition: past a minute (E23's schedule) and C04's wait ----
  for (let p = 0; p < PARTITIONS; p++) {
    const user = keyOnPartition('tick', p, PARTITIONS)
    plan.ticks.push((now) => ({ topic: T.events, key: user, value: json({ eventId: `tick-${p}`, userId: user, type: 'probe', ts: now(65_000) }) }))
  }

  // ---- Implausible event times: what they should do belongs to the live event-time issue; here
  // only that nothing crashes or stalls. Last, so a time accepted far ahead cannot move the other cases. ----
  const times: Array<[string, string, (now: number) => number]> = [
    ['T01', 'fractional ts', (now) => now + 0.5],
    ['T02', 'ts in seconds, not milliseconds', (now) => Math.floor(now / 1000)],
    ['T03', 'negative ts', () => -86_400_000],
    ['T04', 'ts beyond the largest date (9e15)', () => 9e15],
  ]
  for (const [id, name, ts] of times) {
    const user = `u-${id.toLowerCase()}`
    plan.finalEvents.push((now) => ({ topic: T.events, key: user, value: json({ eventId: `x-${user}`, userId: user, type: 'probe', ts: ts(now()) }) }))
    const p = probe(id, user, { final: true })
    add({ id, name, defect: 'time', expected: 'not crashing: dead-lettered or handled (another issue decides which); next record decided' }, (o) => {
      const dead = o.dlq.find((r) => r.app === apps.decisions && r.key === user)
      const decided = decisionsFor(o, user).some((d) => d.triggerEventId === `x-${user}`)
      return all({ pass: true, observed: dead ? `DLQ reason "${(dead.headers['hermes.dlq.reason'] ?? '').slice(0, 70)}"` : decided ? 'decided' : 'nothing fired' }, probeDecided(o, user, p))
    })
  }

  // ---- Every partition still decides after everything (no stall) ----
  const tails = Array.from({ length: PARTITIONS }, (_, p) => keyOnPartition('tail', p, PARTITIONS))
  for (const [p, user] of tails.entries()) plan.finalEvents.push((now) => ({ topic: T.events, key: user, value: json({ eventId: `tail-${p}`, userId: user, type: 'probe', ts: now() }) }))
  add({ id: 'Z01', name: 'a last record on every partition, after all cases', defect: '-', expected: 'handled: each decided (nothing stalled)' }, (o) => {
    const v = tails.map((u, p) => probeDecided(o, u, `tail-${p}`))
    return { pass: v.every((x) => x.pass), observed: `${v.filter((x) => x.pass).length}/${PARTITIONS} partitions decided` }
  })
  return { plan, cases }
}
