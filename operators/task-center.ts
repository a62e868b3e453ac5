/**
 * Task Center: decides *when* a task fires for a user.
 *
 * Input: one keyed stream (by user) merging behavior events, audience memberships and user
 * profiles; broadcast: tasks and materials. It keeps each user's profile, segments, rolling event
 * counts and hour-of-week activity histogram, and turns tasks into candidates:
 * - event triggers (IFTTT): the task's event types, its JsonLogic `when` over
 *   `{event, user, counts}`, then `delayMs` and `unless` (held on a timer, cancelled by an
 *   `unless` event within `withinMs`);
 * - schedules: a cron timer per task and partition fans out to every audience member held by the
 *   partition, each spread over `spreadMs` by a stable hash;
 * - personalized timing: per user and day, the best hour of the task's local window by the
 *   activity histogram (or the window start without history), waiting on a timer;
 * - item triggers: a fan-out record of the relations node (operators/relations.ts) is checked
 *   against the task, the audience and `when` over `{event, item, relation, user, counts}`, then
 *   held until its spread send time;
 * - quiet hours: a candidate of a `quietHours: "defer"` task whose send time falls in the user's
 *   quiet hours is held here until they end, then re-checked with the user's profile and the
 *   task as they are then (an opt-out or a pause in the night stops it).
 */
import type { Processor, ProcessorContext, Record, StoreSpec, Timer } from '../pipeline/api/index.ts'
import { Record as RecordCtor, mapStore, valueStore, windowStore } from '../pipeline/api/index.ts'
import { inQuietHours, localDayStart, nextCronFire, nextLocalHour } from './clock.ts'
import type { MaterialConfig, TaskConfig } from './config.ts'
import { audienceSchema, parseWith, userSchema } from './config.ts'
import type { ConfigTopics } from './config-ingest.ts'
import { inAudience, ingestConfig, onMaterialWaitTimer, taskLive } from './config-ingest.ts'
import { decisionId, unitHash } from './ids.ts'
import type { RecentIds } from './recent-ids.ts'
import { claimId } from './recent-ids.ts'
import { isItemFanOut, itemTrigger, recipientEvent } from './item-trigger.ts'
import type { ItemEvent } from './item-event.ts'
import type { ItemFanOut } from './relations.ts'
import { checkRelationTypes } from './relations.ts'
import { quietHoursFor } from './experiments.ts'
import { DELIVERY_EVENTS } from './feedback.ts'
import { evaluateOn, evaluateRule, ruleData } from './rules.ts'
import type { RuleData } from './rules.ts'
import type { Settings } from './settings.ts'
import type { BehaviorEvent, Candidate, ItemRelation, Suppression, UserContext } from './types.ts'
import { candidateEvent, forwardSuppression, isBookkeepingKey, taskKey } from './types.ts'
import type { UserState } from './user-activity.ts'
import { newUserState, personalizedSendTime, recordActivity, rollingCountsOf, userStateCodec } from './user-activity.ts'

// The user's state and activity live in user-activity.ts; exported here too, where they were.
export type { UserState } from './user-activity.ts'
export { newUserState, personalizedSendTime, recordActivity, rollingCounts } from './user-activity.ts'

const WEEK = 7 * 24 * 3_600_000

/** A candidate held on a timer: by `delayMs`/`unless`, or until the user's quiet hours end. */
interface Pending {
  taskId: string
  origin: Candidate['origin']
  trigger: string
  triggerEventId: string | null
  decidedAt: number
  due: number
  unless: string[]
  until: number
  event: BehaviorEvent | null
  /** Item triggers only (absent otherwise, to keep the state small). */
  item?: ItemEvent | null
  relation?: ItemRelation | null
}

export interface TaskCenterOptions {
  topics: ConfigTopics & { events: string; audiences: string; users: string }
  settings: Settings
}

/** The keyed stores the Task Center needs, as a topology declares them on its node. */
export function taskCenterStores(settings: Settings): { [name: string]: StoreSpec } {
  return {
    user: valueStore({ codec: userStateCodec }),
    events: windowStore({ retentionMs: WEEK }),
    pending: mapStore(),
    plans: mapStore(),
    schedule: valueStore(),
    // Decision ids born per user (bounded, expiring): a redelivered trigger is born once.
    seen: valueStore({ ttlMs: settings.dedup.ttlMs }),
  }
}

/** Bookkeeping key of the schedule store: present once the partition's first catch-up planned. */
const CAUGHT_UP = taskKey('caught-up', '')

export function taskCenter(options: TaskCenterOptions): Processor<unknown, Candidate> {
  const { topics, settings } = options
  let ctx!: ProcessorContext<Candidate>
  // Checked once after every start: schedules or plans may still wait for event time.
  let needsCatchUp = true
  // A task changed before any event time: its plans wait for the catch-up, even after an earlier one.
  let planWaiting = false
  // Tasks whose rule failed on a record since this instance started (or the task last changed):
  // each failure is a rule_error suppression and a count, but only the first is logged, so a rule
  // that fails on every record cannot flood the log.
  const ruleErrorLogged = new Set<string>()
  const checkTask = checkRelationTypes(settings)

  const openStores = () => ({
    user: ctx.valueStore<UserState>('user'),
    events: ctx.windowStore('events'),
    pending: ctx.mapStore<Pending>('pending'),
    plans: ctx.mapStore<number>('plans'),
    schedule: ctx.valueStore<{ next: number }>('schedule'),
    seen: ctx.valueStore<RecentIds>('seen'),
    tasks: ctx.broadcastStore<TaskConfig>('tasks'),
    materials: ctx.broadcastStore<MaterialConfig>('materials'),
  })
  // The views follow the current key themselves: made once per context, not on every call
  // (several calls per record; docs/performance.md, "Decision flow embedded, fifth round").
  let opened: ReturnType<typeof openStores> | undefined
  const stores = (): ReturnType<typeof openStores> => (opened ??= openStores())

  const userContext = (userId: string, s: UserState): UserContext => ({ userId, timezone: s.timezone, pushEnabled: s.pushEnabled, segments: s.segments })

  /** Holds a candidate until `due`; an event of a type in `unless` up to `until` cancels it. */
  const hold = (c: Candidate, due: number, unless: string[], until: number): void => {
    const field = `${c.taskId}\u0000${c.trigger}`
    const p: Pending = { taskId: c.taskId, origin: c.origin, trigger: c.trigger, triggerEventId: c.triggerEventId, decidedAt: c.decidedAt, due, unless, until, event: c.event, ...(c.item ? { item: c.item, relation: c.relation ?? null } : {}) }
    stores().pending.put(field, p)
    ctx.timers.registerEventTime(due, `p:${field}`)
  }

  const emit = (c: Candidate): void => {
    // Deferred here rather than downstream: only this operator sees profile and task updates,
    // so only here can the held candidate be re-checked when quiet hours end.
    const q = settings.fatigue
    // The user's experiment arm may override the task's quiet-hours handling (operators/experiments.ts).
    if (quietHoursFor(stores().tasks.get(c.taskId), c.userId) === 'defer' && inQuietHours(c.sendAt, c.user.timezone, q.quietStartHour, q.quietEndHour)) {
      ctx.count('deferred', { reason: 'quiet_hours' })
      hold(c, nextLocalHour(c.sendAt, c.user.timezone, q.quietEndHour), [], c.decidedAt)
      return
    }
    ctx.count('candidate', { outcome: c.origin })
    // The task's cap overrides travel with the candidate, as the task is when it goes out; the
    // activity histogram rides along for the click model's activity feature (operators/ctr-model.ts).
    const caps = stores().tasks.get(c.taskId)?.caps
    ctx.forward(new RecordCtor<Candidate>({ key: c.userId, value: { ...c, ...(caps ? { caps } : {}), activity: stores().user.get()?.hist ?? null }, timestamp: c.sendAt }))
  }

  const suppress = (s: Suppression): void => forwardSuppression(ctx, s)

  /**
   * Whether a candidate (or a suppression in its place) may be born for this trigger: false when
   * its decision id was born already (a redelivered event, a timer fired again), so one trigger
   * gives one decision or one suppression however often it arrives. Records the id otherwise.
   */
  const firstBirth = (userId: string, taskId: string, trigger: string, now: number): boolean => {
    if (claimId(stores().seen, decisionId(userId, taskId, trigger), now, { ttlMs: settings.dedup.ttlMs, maxIds: settings.dedup.maxIdsPerUser })) return true
    ctx.count('duplicate', { reason: 'trigger' })
    return false
  }

  /** Counts a rule that failed on a record, and logs it once per task (see ruleErrorLogged). */
  const ruleFailed = (taskId: string, reason: string): void => {
    ctx.count('rule_error', { reason: taskId })
    if (ruleErrorLogged.has(taskId)) return
    ruleErrorLogged.add(taskId)
    ctx.log.warn({ taskId, reason }, `the "when" rule of task ${taskId} failed on a record; such candidates are suppressed as rule_error (logged once per task until the task changes)`)
  }

  /** Plans the next personalized send of every live personalized task this user is in. */
  const ensurePlans = (state: UserState, now: number): void => {
    const st = stores()
    // Indexed, not iterated and destructured: this runs for every event and profile change.
    const tasks = st.tasks.entries()
    for (let i = 0; i < tasks.length; i++) {
      const entry = tasks[i] as [string, TaskConfig]
      const taskId = entry[0]
      const task = entry[1]
      if (task.trigger.type !== 'personalized' || !taskLive(task, now) || !inAudience(task, state.segments)) continue
      const planned = st.plans.get(taskId)
      if (planned !== undefined && planned > now) continue
      const at = personalizedSendTime(state, task.trigger.windowStartHour, task.trigger.windowEndHour, now)
      st.plans.put(taskId, at)
      ctx.timers.registerEventTime(at, `z:${taskId}`, { taskId })
    }
  }

  /** {@link ensurePlans} for every user held by the partition. */
  const planEveryUser = (now: number): void => {
    const st = stores()
    ctx.forEachKey('user', (userId) => {
      if (isBookkeepingKey(userId)) return
      const state = st.user.get()
      if (state) ensurePlans(state, now)
    })
  }

  /** The event time to plan from at a record: the watermark, or the record's time when later. */
  const eventTimeAt = (recordTime: number): number => {
    const wm = ctx.watermark()
    return Number.isFinite(wm) ? Math.max(wm, recordTime) : recordTime
  }

  /** (Re)arms the schedule timer of a task in this partition. */
  const armSchedule = (taskId: string, task: TaskConfig | null, after: number): void => {
    const st = stores()
    ctx.withKey(taskKey('sched', taskId), () => {
      const current = st.schedule.get()
      if (current) ctx.timers.deleteEventTime(current.next, 'schedule')
      if (!task || task.status !== 'active' || task.trigger.type !== 'schedule') {
        st.schedule.delete()
        return
      }
      const next = nextCronFire(task.trigger.cron, task.trigger.timezone, Math.max(after, task.validFrom - 1))
      if (next === null || (task.validUntil !== null && next >= task.validUntil)) {
        st.schedule.delete()
        return
      }
      st.schedule.put({ next })
      ctx.timers.registerEventTime(next, 'schedule', { taskId })
    })
  }

  const onEvent = (record: Record<BehaviorEvent>): void => {
    const st = stores()
    const ev = record.value
    // The user is the event's own field, never the Kafka key: a key may be wrong, and a push must
    // reach the user who acted. The engine keys every event by its userId; a record keyed
    // otherwise would read and write another user's state, so it is refused here too.
    const userId = ev.userId
    if (record.key !== userId) return ctx.deadLetter(record, `behavior event of user "${userId}" arrived under the key "${record.key}": state and pushes follow the event's userId, so the stream must be keyed by it`)
    const ts = record.timestamp
    let state = st.user.get() ?? newUserState()
    // A gateway's delivery report is not the user being around: counted, it would mark the hours
    // Hermes sends at as active, and held pushes would chase their own earlier pushes.
    if (!DELIVERY_EVENTS.has(ev.type)) state = recordActivity(state, ts, settings.histogramDecay)
    st.user.put(state)
    st.events.add(ts, 1, ev.type)
    // `unless`: an event of a listed type within the hold cancels the pending candidates.
    for (const [field, p] of st.pending.entries()) {
      if (p.unless.includes(ev.type) && ts > p.decidedAt && ts <= p.until) {
        st.pending.delete(field)
        ctx.timers.deleteEventTime(p.due, `p:${field}`)
        suppress({ userId, taskId: p.taskId, materialId: null, reason: 'cancelled.unless', ts, triggerEventId: p.triggerEventId })
      }
    }
    const user = userContext(userId, state)
    // What the rules read, copied once for all of this event's tasks (operators/rules.ts, ruleData).
    let data: RuleData | null = null
    // The rules see the event as sent; candidates carry its contract fields only (candidateEvent).
    let carried: BehaviorEvent | null = null
    const tasks = st.tasks.entries()
    for (let i = 0; i < tasks.length; i++) {
      const entry = tasks[i] as [string, TaskConfig]
      const taskId = entry[0]
      const task = entry[1]
      const trig = task.trigger
      if (trig.type !== 'event' || !trig.events.includes(ev.type) || !taskLive(task, ts) || !inAudience(task, state.segments)) continue
      if (trig.when !== undefined) {
        data ??= ruleData({ event: ev, user, counts: rollingCountsOf(st.events, ts) })
        const r = evaluateOn(trig.when, data)
        if (r.error !== undefined) {
          if (!firstBirth(userId, taskId, ev.eventId, ts)) continue
          ruleFailed(taskId, r.error)
          suppress({ userId, taskId, materialId: null, reason: 'rule_error', ts, triggerEventId: ev.eventId })
          continue
        }
        if (!r.result) continue
      }
      if (!firstBirth(userId, taskId, ev.eventId, ts)) continue
      const c: Candidate = { userId, taskId, origin: 'event', trigger: ev.eventId, triggerEventId: ev.eventId, decidedAt: ts, sendAt: ts, user, event: (carried ??= candidateEvent(ev)) }
      const holdMs = Math.max(trig.delayMs, trig.unless?.withinMs ?? 0)
      if (holdMs === 0) emit(c)
      else hold(c, ts + holdMs, trig.unless?.events ?? [], ts + (trig.unless?.withinMs ?? 0))
    }
    ensurePlans(state, ts)
  }

  /** An item event reaching this user through one of their relations (operators/relations.ts). */
  const onItemFanOut = (record: Record<ItemFanOut>): void => {
    const st = stores()
    const f = record.value
    const { userId, taskId } = f
    if (record.key !== userId) return ctx.deadLetter(record, `item fan-out for user "${userId}" arrived under the key "${record.key}": it must be keyed by its userId`)
    const ts = record.timestamp
    const task = st.tasks.get(taskId)
    const state = st.user.get() ?? newUserState()
    if (!task || task.trigger.type !== 'item' || !taskLive(task, ts) || !inAudience(task, state.segments)) return
    const trig = task.trigger
    const user = userContext(userId, state)
    const event = recipientEvent(f)
    const trigger = itemTrigger(f.item.eventId)
    if (trig.when !== undefined) {
      const r = evaluateRule(trig.when, { event, item: f.item, relation: f.relation, user, counts: rollingCountsOf(st.events, ts) })
      if (r.error !== undefined) {
        if (!firstBirth(userId, taskId, trigger, ts)) return
        ruleFailed(taskId, r.error)
        return suppress({ userId, taskId, materialId: null, reason: 'rule_error', ts, triggerEventId: f.item.eventId })
      }
      if (!r.result) return
    }
    if (!firstBirth(userId, taskId, trigger, ts)) return
    const c: Candidate = { userId, taskId, origin: 'item', trigger, triggerEventId: f.item.eventId, decidedAt: ts, sendAt: ts, user, event, item: f.item, relation: f.relation }
    // Spread: held on a timer until this user's share of fanout.spreadMs has passed.
    if (f.sendAt > ts) hold(c, f.sendAt, [], ts)
    else emit(c)
  }

  /**
   * Arms the start of a personalized task that is not live yet (its `validFrom` is ahead of event
   * time): at that time every user of the partition is planned, as a restart's catch-up would do.
   * Without it a continuous run planned a user only at their next record, so a restart changed
   * which users got the push.
   */
  const armLive = (taskId: string, task: TaskConfig | null, now: number): void => {
    const st = stores()
    ctx.withKey(taskKey('live', taskId), () => {
      const current = st.schedule.get()
      if (current) ctx.timers.deleteEventTime(current.next, 'live')
      if (!task || task.status !== 'active' || task.trigger.type !== 'personalized' || task.validFrom <= now) {
        if (current) st.schedule.delete()
        return
      }
      st.schedule.put({ next: task.validFrom })
      ctx.timers.registerEventTime(task.validFrom, 'live', { taskId })
    })
  }

  const onFanOut = (taskId: string, fireTime: number): void => {
    const st = stores()
    const task = st.tasks.get(taskId)
    if (!task || task.trigger.type !== 'schedule' || !taskLive(task, fireTime)) return
    const spread = task.trigger.spreadMs
    if (fireTime < ctx.watermark() - settings.missedFireToleranceMs) {
      ctx.count('schedule_missed', { reason: taskId })
    } else {
      ctx.forEachKey('user', (userId) => {
        if (isBookkeepingKey(userId)) return
        const state = st.user.get()
        if (!state || !inAudience(task, state.segments)) return
        const at = fireTime + Math.floor(unitHash(`${taskId}\u0000${userId}\u0000${fireTime}`) * spread)
        ctx.timers.registerEventTime(at, `s:${taskId}`, { taskId, fire: fireTime })
      })
    }
    armSchedule(taskId, task, Math.max(fireTime, ctx.watermark()))
  }

  /**
   * Once event time is known (first keyed record after a start or after config arrived before
   * any event): arm every live schedule that has no timer yet and plan personalized tasks for
   * every user of the partition.
   */
  const catchUp = (recordTime: number): void => {
    const now = eventTimeAt(recordTime)
    if (now <= 0) return // configuration without time: wait for a record with event time
    needsCatchUp = false
    const st = stores()
    let personalized = false
    for (const [taskId, task] of st.tasks.entries()) {
      if (task.trigger.type === 'personalized') {
        personalized = true
        const armed = ctx.withKey(taskKey('live', taskId), () => st.schedule.get() !== undefined)
        if (!armed) armLive(taskId, task, now)
      }
      if (task.trigger.type !== 'schedule') continue
      const armed = ctx.withKey(taskKey('sched', taskId), () => st.schedule.get() !== undefined)
      if (!armed) armSchedule(taskId, task, now)
    }
    // Plans are state: planned once for the partition, they are not planned again at a restart,
    // so a task restored from its state decides what a task that never stopped would have (a
    // restart planned users a continuous run leaves unplanned until their next event; the
    // console's backtests resume replays from snapshots of state and must find the same world).
    const done = ctx.withKey(CAUGHT_UP, () => st.schedule.get() !== undefined)
    if (personalized && (!done || planWaiting)) planEveryUser(now)
    planWaiting = false
    if (!done) ctx.withKey(CAUGHT_UP, () => st.schedule.put({ next: now }))
  }

  /**
   * Applies a change from a configuration record to the user's state, then plans from it when
   * there is an event time to plan from (a user known only from configuration is an audience
   * member too, as for schedules).
   */
  const updateUser = (recordTime: number, change: (state: UserState) => UserState): void => {
    const st = stores()
    const next = change(st.user.get() ?? newUserState())
    st.user.put(next)
    const now = eventTimeAt(recordTime)
    if (now > 0) ensurePlans(next, now)
  }

  return {
    init(c) {
      ctx = c
      opened = undefined
    },
    process(record) {
      if (needsCatchUp) catchUp(record.timestamp)
      if (record.topic === topics.audiences) {
        const parsed = parseWith(audienceSchema, 'audience membership', record.value)
        if (!parsed.ok) return ctx.deadLetter(record, parsed.reason)
        const { segmentId, member } = parsed.value
        return updateUser(record.timestamp, (state) => {
          const segments = state.segments.filter((s) => s !== segmentId)
          if (member) segments.push(segmentId)
          return { ...state, segments: segments.sort() }
        })
      }
      if (record.topic === topics.users) {
        const parsed = parseWith(userSchema, 'user profile', record.value)
        if (!parsed.ok) return ctx.deadLetter(record, parsed.reason)
        const { timezone, pushEnabled } = parsed.value
        return updateUser(record.timestamp, (state) => ({ ...state, timezone, pushEnabled }))
      }
      if (isItemFanOut(record, topics.events)) return onItemFanOut(record)
      onEvent(record as Record<BehaviorEvent>)
    },
    processBroadcast(record) {
      const st = stores()
      const result = ingestConfig(ctx, topics, { tasks: st.tasks, materials: st.materials }, record, { materialWaitMs: settings.materialWaitMs, checkTask })
      // Tasks that changed: the one in the record, or those a material completed after a wait.
      const changed = result.kind === 'task' ? [{ id: result.id, task: result.task }] : result.kind === 'material' ? result.applied : []
      for (const { id, task } of changed) {
        // A changed rule may fail for a new reason: log its first failure again.
        ruleErrorLogged.delete(id)
        // Before any event there is no event time to plan from: the first keyed record arms the
        // schedules and plans (see catchUp); arming from time 0 would start in 1970.
        if (!Number.isFinite(ctx.watermark())) {
          needsCatchUp = true
          planWaiting = true
          continue
        }
        armSchedule(id, task, ctx.watermark())
        armLive(id, task, ctx.watermark())
        if (task?.trigger.type === 'personalized') planEveryUser(ctx.watermark())
      }
    },
    onTimer(timer: Timer) {
      const st = stores()
      // The end of a task's wait for its materials (armed by ingestConfig in this node).
      if (onMaterialWaitTimer(ctx, { tasks: st.tasks, materials: st.materials }, timer)) return
      const userId = timer.key ?? ''
      if (timer.name === 'schedule') return onFanOut((timer.payload as { taskId: string }).taskId, timer.time)
      if (timer.name === 'live') {
        st.schedule.delete()
        if (taskLive(st.tasks.get((timer.payload as { taskId: string }).taskId), timer.time)) planEveryUser(timer.time)
        return
      }
      const state = st.user.get() ?? newUserState()
      const user = userContext(userId, state)
      if (timer.name.startsWith('s:')) {
        const { taskId, fire } = timer.payload as { taskId: string; fire: number }
        if (!taskLive(st.tasks.get(taskId), timer.time) || !firstBirth(userId, taskId, `schedule:${fire}`, timer.time)) return
        emit({ userId, taskId, origin: 'schedule', trigger: `schedule:${fire}`, triggerEventId: null, decidedAt: timer.time, sendAt: timer.time, user, event: null })
        return
      }
      if (timer.name.startsWith('p:')) {
        const field = timer.name.slice(2)
        const p = st.pending.get(field)
        if (!p) return
        st.pending.delete(field)
        if (!taskLive(st.tasks.get(p.taskId), timer.time)) {
          suppress({ userId, taskId: p.taskId, materialId: null, reason: 'expired', ts: timer.time, triggerEventId: p.triggerEventId })
          return
        }
        emit({ userId, taskId: p.taskId, origin: p.origin, trigger: p.trigger, triggerEventId: p.triggerEventId, decidedAt: p.decidedAt, sendAt: timer.time, user, event: p.event, ...(p.item ? { item: p.item, relation: p.relation ?? null } : {}) })
        return
      }
      if (timer.name.startsWith('z:')) {
        const { taskId } = timer.payload as { taskId: string }
        if (st.plans.get(taskId) === timer.time) st.plans.delete(taskId)
        const task = st.tasks.get(taskId)
        if (!task || task.trigger.type !== 'personalized' || !taskLive(task, timer.time)) return
        // A plan made before the events started (e.g. from a membership loaded at time 0) is
        // missed, as a schedule fire is: planning on from it would replay every day since.
        if (timer.time < ctx.watermark() - settings.missedFireToleranceMs) {
          ctx.count('personalized_missed', { reason: taskId })
          ensurePlans(state, ctx.watermark())
          return
        }
        if (inAudience(task, state.segments)) {
          const day = new Date(localDayStart(timer.time, state.timezone)).toISOString().slice(0, 10)
          if (firstBirth(userId, taskId, `personalized:${day}`, timer.time)) emit({ userId, taskId, origin: 'personalized', trigger: `personalized:${day}`, triggerEventId: null, decidedAt: timer.time, sendAt: timer.time, user, event: null })
        }
        ensurePlans(state, timer.time)
      }
    },
  }
}
