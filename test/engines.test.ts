import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// package.json pins the `node` package (devDependencies) so that npm scripts (`npm test`,
// `npm start`) run on Node 22 even where the system Node is older: npm puts node_modules/.bin,
// where that package links its `node`, first on PATH. This test fails when the tests run on a Node
// that `engines` does not allow, e.g. vitest started with the system Node 20 directly.
interface PackageJson {
  engines: { node: string }
  devDependencies: Record<string, string>
}
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as PackageJson

/** [major, minor, patch] of a version such as `22.23.3` or `v22.23.3`. */
const parse = (v: string): number[] => v.replace(/^v/, '').split('.').map(Number)
const atLeast = (v: number[], min: number[]): boolean => {
  for (let i = 0; i < 3; i++) if ((v[i] ?? 0) !== (min[i] ?? 0)) return (v[i] ?? 0) > (min[i] ?? 0)
  return true
}

describe('the Node.js the project runs on', () => {
  const min = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(pkg.engines.node)?.[1]

  it('is declared as a lower bound in engines and pinned by the `node` package, at a version engines allows', () => {
    expect(min, `engines.node should read ">=MAJOR.MINOR", not "${pkg.engines.node}"`).toBeDefined()
    const pinned = pkg.devDependencies.node
    expect(pinned, 'devDependencies.node pins the Node that npm scripts run on').toMatch(/^\d+\.\d+\.\d+$/)
    expect(atLeast(parse(pinned as string), parse(min as string))).toBe(true)
  })

  it('is the one the tests run on: npm test uses the pinned node, not the system one', () => {
    console.log(`tests run on Node ${process.version} (${process.execPath})`)
    expect(atLeast(parse(process.version), parse(min as string)), `Node ${process.version} runs the tests; engines wants ${pkg.engines.node}: run them with npm test or npx vitest after npm ci`).toBe(true)
  })
})
