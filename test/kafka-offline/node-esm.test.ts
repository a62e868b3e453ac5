/**
 * The Kafka runner's modules load under Node's own ESM loader, as `hermes run` loads them. vitest
 * resolves named exports of CommonJS packages (kafkajs) that Node does not, so an import that
 * passes every test can still fail in production (it did: ConfigResourceTypes).
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

describe('pipeline/kafka under plain Node', () => {
  it('imports the runner, the admin and the sink without a missing named export', () => {
    const code = "await import('./pipeline/kafka/runner.ts'); await import('./pipeline/kafka/admin.ts'); await import('./pipeline/kafka/sink.ts'); console.log('loaded')"
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 })
    expect(r.stderr).not.toMatch(/SyntaxError/)
    expect(r.stdout.trim()).toBe('loaded')
  })
})
