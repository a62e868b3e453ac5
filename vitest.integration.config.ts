import { defineConfig } from 'vitest/config'
import { reporters } from './vitest.config.ts'

// `npm run test:integration` (part of `npm test`): tests against a real Kafka broker (KRaft,
// 127.0.0.1:9092) and a real schema registry (Apicurio, 127.0.0.1:18081). The global setups start
// them with scripts/kafka/start.sh and scripts/registry/start.sh when none is running, and stop
// what they started. One file at a time: the tests start pipelines and child processes of their own.
export default defineConfig({
  test: {
    include: ['test/kafka/**/*.kafka.test.ts', 'test/registry/**/*.registry.test.ts'],
    globalSetup: ['test/kafka/global-setup.ts', 'test/registry/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: reporters('integration'),
  },
})
