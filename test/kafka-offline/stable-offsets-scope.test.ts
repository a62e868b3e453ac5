/** The async-local scope of requiringStableOffsets (stable-offsets.ts), with a fake broker and no cluster. */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { requiringStableOffsets } from '../../pipeline/kafka/stable-offsets.ts'

const require = createRequire(import.meta.url)
const Broker = require('kafkajs/src/broker/index.js') as { prototype: { offsetFetch(this: unknown, args: unknown): Promise<unknown> } }
const sendRequest = Object.getOwnPropertySymbols(Broker.prototype).find((s) => s.description === 'private:Broker:sendRequest') as symbol

/** A broker whose requests record whether they were built with OffsetFetch v7 (require_stable) available. */
function fakeBroker(stable: boolean[]): unknown {
  return {
    lookupRequest: (_apiKey: number, definition: { versions: string[] }) => () => {
      stable.push(definition.versions.includes('7'))
      return {}
    },
    [sendRequest]: async () => [],
  }
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('requiringStableOffsets', () => {
  it('keeps the scope of a call under way when an overlapping one ends first', async () => {
    const stable: boolean[] = []
    const broker = fakeBroker(stable)
    const long = requiringStableOffsets(async () => {
      await tick(30)
      return Broker.prototype.offsetFetch.call(broker, { groupId: 'g', topics: [] })
    })
    await requiringStableOffsets(async () => {
      await tick(1)
      return Broker.prototype.offsetFetch.call(broker, { groupId: 'g', topics: [] })
    })
    await long
    expect(stable).toEqual([true, true])
  })

  it('gives each call its scope again after the previous ones ended', async () => {
    const stable: boolean[] = []
    const broker = fakeBroker(stable)
    for (let i = 0; i < 3; i++) {
      await requiringStableOffsets(async () => {
        await tick(1)
        return Broker.prototype.offsetFetch.call(broker, { groupId: 'g', topics: [] })
      })
    }
    expect(stable).toEqual([true, true, true])
  })
})
