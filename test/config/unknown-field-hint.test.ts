import { describe, expect, it } from 'vitest'
import { ConfigError, validateConfig } from '../../pipeline/config/load.ts'

describe('configuration: an unknown field is named with the nearest allowed one', () => {
  it('suggests the field that was meant, beside the fields allowed there', () => {
    let err: unknown
    try {
      validateConfig({ runtime: { commitIntervallMs: 100 } }, new Map([['runtime.commitIntervallMs', 'ops.yaml']]))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^unknown field "runtime\.commitIntervallMs" \(from ops\.yaml\): remove it or fix its spelling \(did you mean "commitIntervalMs"\?\); allowed here: .*commitIntervalMs/)])
  })

  it('suggests nothing when no allowed field is close', () => {
    expect(() => validateConfig({ runtime: { zzzzzzzzzzzz: 1 } })).toThrow(/fix its spelling; allowed here: /)
  })
})
