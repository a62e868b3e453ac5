import type { ErrorHandler } from '../api/errors.ts'
import { HermesError } from '../api/errors.ts'
import type { HermesConfig } from '../config/schema.ts'

/**
 * The produce-phase policy: an output refused as larger than its topic accepts (RECORD_TOO_LARGE,
 * raised by the Kafka runner's collector) follows `errors.oversized` (default: dead-letter the
 * input and continue), because it is bad data that no retry can write; anything else (a
 * serializer failing: a bug) follows `errors.produce`.
 */
export function producePolicy(errors: HermesConfig['errors']): ErrorHandler {
  return (ctx) => (ctx.error instanceof HermesError && ctx.error.code === 'RECORD_TOO_LARGE' ? errors.oversized : errors.produce)
}
