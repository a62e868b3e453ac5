/** Error codes raised by Hermes. */
export type HermesErrorCode =
  | 'TOPOLOGY_INVALID'
  | 'CONFIG_INVALID'
  | 'SERDE_ERROR'
  | 'PROCESS_ERROR'
  | 'PRODUCE_ERROR'
  | 'RECORD_TOO_LARGE'
  | 'STATE_ERROR'
  | 'STATE_NOT_LOADED'
  | 'OFFSET_REGRESSION'
  | 'IO_ERROR'
  | 'USAGE'
  | 'REGISTRY_UNAVAILABLE'
  | 'SCHEMA_INCOMPATIBLE'
  | 'SCHEMA_INVALID'

/**
 * The one error base class of Hermes: a machine-readable `code`, the underlying `cause`, and
 * whether retrying the same operation may succeed (`retriable`).
 */
export class HermesError extends Error {
  readonly code: HermesErrorCode
  readonly retriable: boolean

  constructor(code: HermesErrorCode, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HermesError'
    this.code = code
    this.retriable = options.retriable ?? false
  }
}

/** Raised when a topology is built wrong; the message names the node and the fix. */
export class TopologyError extends HermesError {
  constructor(message: string) {
    super('TOPOLOGY_INVALID', message)
    this.name = 'TopologyError'
  }
}

/** Raised when a serde cannot decode or encode a value. */
export class SerdeError extends HermesError {
  constructor(message: string, cause?: unknown) {
    super('SERDE_ERROR', message, { cause })
    this.name = 'SerdeError'
  }
}

/** Pipeline phase in which an error happened. */
export type Phase = 'deserialize' | 'process' | 'produce'

/** What an error handler decides: skip the record (it goes to the dead-letter topic) or stop. */
export type ErrorDecision = 'continue' | 'fail'

/** Everything an error handler is told about a failure. */
export interface ErrorContext {
  phase: Phase
  error: unknown
  /** Source topic, partition and offset of the record that failed (or `''`/-1 when unknown). */
  topic: string
  partition: number
  offset: number
  /** Id of the node where it failed. */
  nodeId: string
}

/** Decides, per failure, whether the run continues. */
export type ErrorHandler = (ctx: ErrorContext) => ErrorDecision

/** Short text of any thrown value, for reasons in the dead-letter topic and in logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
