import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SUPPRESSION_REASONS } from '../../operators/types.ts'

describe('suppression reasons', () => {
  it('are all documented in docs/decision-flow.md, and the docs name no other', () => {
    const doc = readFileSync(new URL('../../docs/decision-flow.md', import.meta.url), 'utf8')
    const section = doc.slice(doc.indexOf('## Suppression reasons'), doc.indexOf('\n## ', doc.indexOf('## Suppression reasons') + 1))
    const documented = new Set([...section.matchAll(/`([a-z_.]+)`/g)].map((m) => m[1] as string).filter((r) => r !== 'when'))
    expect([...documented].sort()).toEqual([...SUPPRESSION_REASONS].sort())
  })
})
