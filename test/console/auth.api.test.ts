import { describe, expect, it } from 'vitest'
import { authenticate, generatedToken, tokensFrom } from '../../console/server/auth.ts'
import { loadConfig } from '../../pipeline/config/load.ts'

describe('console tokens', () => {
  it('reads configured tokens from their environment variables and HERMES_CONSOLE_TOKENS', () => {
    const config = loadConfig({ environment: {}, overrides: { console: { tokens: [{ user: 'alice', role: 'editor', tokenEnv: 'TOK_ALICE' }] } } })
    const tokens = tokensFrom({ configured: config.console.tokens, env: { TOK_ALICE: 'alice-secret-1', HERMES_CONSOLE_TOKENS: 'bob:viewer:bob-secret-22, carol:editor:carol:with:colons' } })
    expect(tokens).toEqual([
      { user: 'alice', role: 'editor', token: 'alice-secret-1' },
      { user: 'bob', role: 'viewer', token: 'bob-secret-22' },
      { user: 'carol', role: 'editor', token: 'carol:with:colons' },
    ])
    expect(authenticate(tokens, 'Bearer bob-secret-22')).toEqual({ user: 'bob', role: 'viewer' })
    expect(authenticate(tokens, 'Bearer bob-secret-2')).toBeNull()
    expect(authenticate(tokens, 'bob-secret-22')).toBeNull()
  })

  it('names the missing variable or the bad entry, never echoing a token', () => {
    expect(() => tokensFrom({ configured: [{ user: 'alice', role: 'editor', tokenEnv: 'TOK_ALICE' }], env: {} })).toThrow(/TOK_ALICE, which is not set/)
    let message = ''
    try {
      tokensFrom({ configured: [], env: { HERMES_CONSOLE_TOKENS: 'bob:admin:secret-value-123' } })
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/entry 1 must be user:role:token/)
    expect(message).not.toContain('secret-value-123')
  })

  it('refuses a token variable name that is not one, naming the field', () => {
    expect(() => loadConfig({ environment: {}, overrides: { console: { tokens: [{ user: 'a', role: 'editor', tokenEnv: 'not a name' }] } } })).toThrow(/console\.tokens\.0\.tokenEnv/)
    expect(() => loadConfig({ environment: {}, overrides: { console: { tokens: [{ user: 'a', role: 'admin', tokenEnv: 'X' }] } } })).toThrow(/console\.tokens\.0\.role/)
  })

  it('generates a long random editor token for admin', () => {
    const a = generatedToken()
    expect(a.user).toBe('admin')
    expect(a.role).toBe('editor')
    expect(a.token.length).toBeGreaterThanOrEqual(32)
    expect(generatedToken().token).not.toBe(a.token)
  })
})
