/**
 * Experiments: the arm of a user (a stable hash of experiment id and user id against the arm
 * weights) and what the arm changes. An arm may override the task's materials, policy,
 * `minExpectedCtr`, `maxHoldMs` and quiet-hours handling, or be a holdout: its users get no push,
 * and each of their candidates is recorded (suppression `holdout`, exposure `held_out`), so the
 * report can compare the arms with the push and without it.
 */
import type { TaskConfig } from './config.ts'
import type { Policy } from './scoring.ts'
import { assignArm } from './scoring.ts'

/** The parameters of a task as one user sees them: the task's, with the user's arm's overrides. */
export interface EffectiveTask {
  experimentId: string | null
  arm: string | null
  holdout: boolean
  policy: Policy
  materials: string[]
  minExpectedCtr: number
  maxHoldMs: number
  quietHours: 'defer' | 'drop'
}

/** The task's parameters for a user, after the overrides of the user's arm (when the task runs an experiment). */
export function effectiveTask(task: TaskConfig, userId: string): EffectiveTask {
  const base: EffectiveTask = {
    experimentId: null,
    arm: null,
    holdout: false,
    policy: task.policy,
    materials: task.materials,
    minExpectedCtr: task.minExpectedCtr,
    maxHoldMs: task.maxHoldMs,
    quietHours: task.quietHours,
  }
  if (!task.experiment) return base
  const a = assignArm(task.experiment.id, userId, task.experiment.arms)
  return {
    experimentId: task.experiment.id,
    arm: a.name,
    holdout: a.holdout,
    policy: a.policy ?? base.policy,
    materials: a.materials ?? base.materials,
    minExpectedCtr: a.minExpectedCtr ?? base.minExpectedCtr,
    maxHoldMs: a.maxHoldMs ?? base.maxHoldMs,
    quietHours: a.quietHours ?? base.quietHours,
  }
}

/**
 * Every material a task may send: its own and those of its experiment's arms, in that order,
 * each once. A task waits for all of them (operators/config-ingest.ts): an arm's materials are
 * as much the task's as its own, and a user of that arm must not be decided before they load.
 */
export function taskMaterials(task: Pick<TaskConfig, 'materials' | 'experiment'>): string[] {
  return [...new Set([...task.materials, ...(task.experiment?.arms.flatMap((a) => a.materials ?? []) ?? [])])]
}

/**
 * How a task handles quiet hours for a user (the arm's override, else the task's): the Task
 * Center defers by it, fatigue drops by it. Undefined when the task is unknown.
 */
export function quietHoursFor(task: TaskConfig | undefined, userId: string): 'defer' | 'drop' | undefined {
  return task ? effectiveTask(task, userId).quietHours : undefined
}
