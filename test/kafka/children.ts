/** Hermes instances in child processes (see child.ts), for tests that kill them. */
import type { Instance } from '../../scripts/chaos/process.ts'
import { killInstances, sleep, startInstance } from '../../scripts/chaos/process.ts'

/** A running child instance. */
export type Child = Instance

/**
 * Starts the test topology in a child process with these options (see child.ts). With `logFile`,
 * everything the child writes (its JSON log and progress lines) is appended to that file, so a
 * failed run's instances can be read afterwards. A child that fails prints its last stderr.
 */
export function startChild(options: object, output: { logFile?: string } = {}): Child {
  const instance = startInstance({ script: 'test/kafka/child.ts', options, ...output })
  void instance.exited.then((code) => {
    if (code !== 0 && code !== null) console.error(`child ${instance.child.pid} exited with ${code}:\n${instance.stderr().slice(-4000)}`)
  })
  return instance
}

/** Kills every child still running (test teardown). */
export const killChildren = killInstances

export { sleep }
