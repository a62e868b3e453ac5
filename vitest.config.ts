import { join } from 'node:path'
import { defineConfig } from 'vitest/config'

/**
 * The default reporter, plus a JSON report in `$HERMES_TEST_REPORT/<name>.json` when that
 * variable names a directory (CI sums the reports of `npm test`'s two runs).
 */
export function reporters(name: string): Array<string | [string, { outputFile: string }]> {
  const dir = process.env.HERMES_TEST_REPORT
  return dir ? ['default', ['json', { outputFile: join(dir, `${name}.json`) }]] : ['default']
}

// `npm run test:unit` (part of `npm test`): everything that needs no broker or registry. The
// integration tests (`*.kafka.test.ts`, `*.registry.test.ts`) run with vitest.integration.config.ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kafka/**', 'test/**/*.registry.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: reporters('unit'),
  },
})
