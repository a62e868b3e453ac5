#!/usr/bin/env node
// Loads the TypeScript sources through tsx, so topologies written in TypeScript run as they are.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../pipeline/cli/main.ts')
await main()
