// Temporary alias of vitest.integration.config.ts (removed once nothing refers to it).
export { default } from './vitest.integration.config.ts'
