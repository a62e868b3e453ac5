import { pino } from 'pino'
import type { Logger as PinoLogger } from 'pino'

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  // Whole `sasl` objects first: with fast-redact, a wildcard path to a field inside an object
  // that a later path censors whole would write into the caller's object (pinojs/pino#1575).
  'sasl',
  '*.sasl',
  '*.*.sasl',
  '*.*.*.sasl',
  ...['password', 'keyPassword', 'secret', 'token', 'apiKey', 'authorization'].flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]),
]

export type HermesLogger = PinoLogger

/**
 * The process logger: pino JSON lines on stderr (stdout stays free for command output), with
 * secrets redacted. `destination` lets tests capture lines.
 */
export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): HermesLogger {
  return pino(
    {
      name: options.name ?? 'hermes',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (options.destination ?? pino.destination(2)) as never,
  )
}
