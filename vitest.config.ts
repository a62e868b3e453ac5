import { defineConfig } from 'vitest/config'

// `npm test`: everything that needs no broker. The Kafka integration tests (test/kafka,
// `*.kafka.test.ts`) run with `npm run test:kafka` (vitest.kafka.config.ts), which starts a
// local broker itself.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kafka/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
})
