/**
 * Vitest global setup for the Kafka integration tests (`*.kafka.test.ts`): starts a local broker
 * with scripts/kafka/start.sh when nothing answers on 127.0.0.1:9092, and stops it at the end
 * only if it started it. HERMES_SKIP_KAFKA=1 leaves the broker alone.
 */
import { localService } from '../local-service.ts'

export const { setup, teardown } = localService({ dir: 'kafka', port: 9092, reports: 'KAFKA_BROKERS', skipEnv: 'HERMES_SKIP_KAFKA', startTimeoutMs: 120_000 })
