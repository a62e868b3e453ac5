/**
 * Vitest global setup for the schema-registry integration tests (`*.registry.test.ts`): starts
 * Apicurio Registry with scripts/registry/start.sh when nothing answers on 127.0.0.1:18081 (the
 * first start downloads it, ~150 MB, with Maven), and stops it at the end only if it started it.
 * HERMES_SKIP_REGISTRY=1 leaves it alone.
 */
import { localService } from '../local-service.ts'

export const { setup, teardown } = localService({ dir: 'registry', port: 18081, reports: 'REGISTRY_URL', skipEnv: 'HERMES_SKIP_REGISTRY', startTimeoutMs: 600_000 })
