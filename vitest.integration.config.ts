import { defineConfig } from 'vitest/config'

// Integration tests against a real Kafka broker (KRaft, 127.0.0.1:9092), started by
// test/kafka/global-setup.ts with scripts/kafka/start.sh when none is running.
export default defineConfig({
  test: {
    include: ['test/kafka/**/*.kafka.test.ts'],
    globalSetup: ['test/kafka/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
})
