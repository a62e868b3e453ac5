/** What every route of the console needs: the world, the versions store, the mode. */
import type { HermesLogger } from '../../pipeline/observability/logger.ts'
import type { ConfigStore } from './store.ts'
import type { World } from './world.ts'

/** Shared by the routes of one console. */
export interface ConsoleContext {
  world: World
  store: ConfigStore
  logger: HermesLogger
}

/** An API error body: `{error, errors?}` with field paths for validation. */
export interface ApiError {
  error: string
  errors?: Array<{ path: string; message: string }>
}
