/**
 * The fault schedule of a chaos run, a function of the seed only: how long each life of the
 * instance lasts before its SIGKILL, after which kill the broker restarts, and the timings of the
 * failover to a second instance and back. The same seed gives the same schedule (the machine's
 * speed still decides what each instance gets done in that time).
 */
import { mulberry32 } from '../../operators/ids.ts'

/** One step of the fault run, in order. */
export type FaultStep =
  /** Start instance A, SIGKILL it `lifeMs` after it starts processing. */
  | { kind: 'kill'; lifeMs: number }
  /** Start A; after `afterMs` stop the broker (controlled), start it on its data, let A run `thenMs`. */
  | { kind: 'broker-restart'; afterMs: number; thenMs: number }
  /**
   * Failover and back: A and B share the partitions for `sharedMs`; A is SIGKILLed; B runs alone
   * (every partition) for `aloneMs`; A is started again; both share for `backMs`; B is stopped.
   */
  | { kind: 'failover'; sharedMs: number; aloneMs: number; backMs: number }

/** Bounds of the random waits, in ms. */
export interface ScheduleOptions {
  kills: number
  /**
   * Broker restarts (default 1). Those after the first are drawn after everything else and placed
   * among the steps, so a schedule with one restart stays what it was for its seed.
   */
  brokerRestarts?: number
  minLifeMs?: number
  maxLifeMs?: number
}

/**
 * The steps for `seed`: `kills` SIGKILLs of a running instance (`minLifeMs` to `maxLifeMs`
 * after it starts processing), with the broker
 * restart and the failover placed at seeded positions among them.
 */
export function faultSchedule(seed: number, options: ScheduleOptions): FaultStep[] {
  if (!Number.isInteger(options.kills) || options.kills < 0) throw new Error(`kills must be a whole number >= 0, got ${options.kills}`)
  const rand = mulberry32(seed)
  const between = (min: number, max: number): number => min + Math.floor(rand() * (max - min + 1))
  const minLife = options.minLifeMs ?? 1500
  const maxLife = options.maxLifeMs ?? 8000
  const steps: FaultStep[] = Array.from({ length: options.kills }, () => ({ kind: 'kill', lifeMs: between(minLife, maxLife) }))
  const restart: FaultStep = { kind: 'broker-restart', afterMs: between(2000, 6000), thenMs: between(2000, 6000) }
  const failover: FaultStep = { kind: 'failover', sharedMs: between(2000, 6000), aloneMs: between(2000, 8000), backMs: between(2000, 6000) }
  // Positions among the kills, e.g. after the 3rd; the failover never comes first, so that A
  // has state of its own to hand over.
  steps.splice(between(0, steps.length), 0, restart)
  steps.splice(between(1, steps.length), 0, failover)
  const restarts = options.brokerRestarts ?? 1
  if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`brokerRestarts must be a whole number >= 1, got ${restarts}`)
  for (let i = 1; i < restarts; i++) steps.splice(between(0, steps.length), 0, { kind: 'broker-restart', afterMs: between(2000, 6000), thenMs: between(2000, 6000) })
  return steps
}

/** A one-line description of a step, for the run's log. */
export function describeStep(step: FaultStep): string {
  switch (step.kind) {
    case 'kill':
      return `SIGKILL A ${step.lifeMs} ms into processing`
    case 'broker-restart':
      return `restart the broker ${step.afterMs} ms into A's life, then ${step.thenMs} ms more`
    case 'failover':
      return `failover: A+B ${step.sharedMs} ms, SIGKILL A, B alone ${step.aloneMs} ms, A back, A+B ${step.backMs} ms, stop B`
  }
}
