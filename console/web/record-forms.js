// The forms of each configuration kind: which fields a record is edited with. A field is bound
// to a path of the record; whatever the form does not show stays editable as "Other fields
// (JSON)", so editing never drops a field the form does not know.
import { html } from './html.js'
import { Field, JsonField, errorsAt, getPath, setPath } from './form.js'
import { TriggerEditor } from './trigger-editor.js'

/** A record's id, as the server keys it (audiences: `<segmentId>:<userId>`); '' when it has none yet. */
export function recordId(kind, r) {
  const s = (v) => (typeof v === 'string' ? v : '')
  if (kind === 'tasks') return s(r?.taskId)
  if (kind === 'materials') return s(r?.materialId)
  if (kind === 'audiences') return s(r?.segmentId) && s(r?.userId) ? `${r.segmentId}:${r.userId}` : ''
  return s(r?.id)
}

/** The field an empty id is reported at. */
export const ID_PATH = { tasks: 'taskId', materials: 'materialId', audiences: 'segmentId', experiments: 'id' }

/** A new record of each kind. */
export const NEW_RECORD = {
  tasks: { taskId: '', priority: 0, trigger: { type: 'event', events: [] }, materials: [] },
  materials: { materialId: '', title: '', body: '' },
  audiences: { userId: '', segmentId: '', member: true },
  experiments: { id: '', arms: [{ name: 'a', weight: 50, policy: 'greedy' }, { name: 'b', weight: 50, policy: 'thompson' }] },
}

/** Top-level fields each form shows itself (the rest goes to "Other fields (JSON)"). */
const SHOWN = {
  tasks: ['taskId', 'priority', 'channel', 'materials', 'audience', 'policy', 'quietHours', 'minExpectedCtr', 'trigger'],
  materials: ['materialId', 'title', 'body', 'deeplink', 'segments', 'prior', 'fallbacks'],
  audiences: ['userId', 'segmentId', 'member'],
  experiments: ['id', 'arms'],
}

const OTHER_HINT = {
  tasks: 'fields this form does not show: experiment, fatigue, rateLimit, validFrom, validUntil, fatigueCost, status',
  materials: 'fields this form does not show, e.g. status',
  audiences: 'fields this form does not show (none are expected)',
  experiments: 'fields this form does not show (none are expected)',
}

/** Kinds whose records have a status to pause (the others are deleted instead). */
export const PAUSABLE = ['tasks', 'materials']

/** The paths whose errors a form's fields show (any other error goes to the JSON field). */
const CLAIMED = {
  tasks: ['taskId', 'priority', 'channel', 'materials', 'audience.include', 'audience.exclude', 'policy', 'quietHours', 'minExpectedCtr', 'trigger'],
  materials: ['materialId', 'title', 'body', 'deeplink', 'segments', 'prior.alpha', 'prior.beta', 'fallbacks'],
  audiences: ['userId', 'segmentId', 'member'],
  experiments: ['id', 'arms'],
}

const pick = (obj, keys, keep) => Object.fromEntries(Object.entries(obj ?? {}).filter(([k]) => keys.includes(k) === keep))

/**
 * The form of one record. `record` is the draft, `onChange` receives the next draft, `errors`
 * the validation errors ({path, message}) to show at their fields.
 */
export function RecordForm({ kind, record, onChange, errors, readOnly }) {
  const f = (label, path, kindOf = 'text', extra = {}) =>
    html`<${Field} label=${label} kind=${kindOf} value=${getPath(record, path)} onChange=${(v) => onChange(setPath(record, path, v))} errors=${errorsAt(errors, path)} ...${extra} />`
  const shown = SHOWN[kind] ?? []
  const other = html`<${JsonField} label=${shown.length ? 'Other fields (JSON)' : 'Record (JSON)'} rows=${shown.length ? 4 : 10}
      value=${Object.keys(pick(record, shown, false)).length || !shown.length ? pick(record, shown, false) : undefined}
      onChange=${(v) => onChange({ ...pick(record, shown, true), ...(v && typeof v === 'object' ? v : {}) })}
      errors=${errorsAt(errors, '', CLAIMED[kind] ?? [], true)}
      hint=${OTHER_HINT[kind] ?? 'the whole record'} />`
  if (kind === 'tasks') {
    return html`<fieldset class="record-form" disabled=${readOnly}><legend>Task</legend>
      <div class="grid">
        ${f('Task id', 'taskId')}
        ${f('Priority', 'priority', 'number', { hint: 'higher wins arbitration' })}
        ${f('Channel', 'channel', 'text', { placeholder: 'push' })}
        ${f('Materials', 'materials', 'list', { hint: 'material ids, comma-separated' })}
        ${f('Audience include', 'audience.include', 'list', { hint: 'segments; empty = everyone' })}
        ${f('Audience exclude', 'audience.exclude', 'list')}
        ${f('Policy', 'policy', 'select', { options: ['', 'greedy', 'thompson', 'ucb'] })}
        ${f('Quiet hours', 'quietHours', 'select', { options: ['', 'defer', 'drop'] })}
        ${f('Min expected CTR', 'minExpectedCtr', 'number', { hint: '0..1' })}
      </div>
      <${TriggerEditor} trigger=${record.trigger} readOnly=${readOnly} onChange=${(t) => onChange({ ...record, trigger: t })} errors=${errors} />
      ${other}
    </fieldset>`
  }
  if (kind === 'materials') {
    return html`<fieldset class="record-form" disabled=${readOnly}><legend>Material</legend>
      <div class="grid">
        ${f('Material id', 'materialId')}
        ${f('Title', 'title', 'text', { hint: 'placeholders such as {{event.itemId}}' })}
        ${f('Body', 'body', 'textarea')}
        ${f('Deeplink', 'deeplink')}
        ${f('Segments', 'segments', 'list', { hint: 'only users in one of these (empty = all)' })}
        ${f('Prior alpha', 'prior.alpha', 'number')}
        ${f('Prior beta', 'prior.beta', 'number')}
      </div>
      <${JsonField} label="Fallbacks (JSON)" value=${record.fallbacks} onChange=${(v) => onChange(setPath(record, 'fallbacks', v))} errors=${errorsAt(errors, 'fallbacks')}
        hint='text for a placeholder without a value, e.g. {"event.itemId": "this item"}' />
      ${other}
    </fieldset>`
  }
  if (kind === 'audiences') {
    return html`<fieldset class="record-form" disabled=${readOnly}><legend>Audience membership</legend>
      <div class="grid">
        ${f('Segment id', 'segmentId')}
        ${f('User id', 'userId')}
        <${Field} label="Member" kind="select" options=${['true', 'false']} value=${String(record.member ?? true)} onChange=${(v) => onChange({ ...record, member: v !== 'false' })} errors=${errorsAt(errors, 'member')} />
      </div>
      ${other}
    </fieldset>`
  }
  if (kind === 'experiments') {
    return html`<fieldset class="record-form" disabled=${readOnly}><legend>Experiment</legend>
      ${f('Experiment id', 'id')}
      <${JsonField} label="Arms (JSON)" rows="6" value=${record.arms} onChange=${(v) => onChange(setPath(record, 'arms', v))} errors=${errorsAt(errors, 'arms')}
        hint='[{"name": "a", "weight": 50, "policy": "greedy"}, ...]; policy: greedy, thompson or ucb' />
      ${other}
    </fieldset>`
  }
  return html`<fieldset class="record-form" disabled=${readOnly}><legend>${kind}</legend>${other}</fieldset>`
}
