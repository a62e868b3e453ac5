import { describe, expect, it } from 'vitest'
import { areaOf, summarizeProfile } from '../../bench/peer/cpu-profile.ts'
import type { CpuProfile } from '../../bench/peer/cpu-profile.ts'

const f = (functionName: string, url = ''): { functionName: string; url: string } => ({ functionName, url })
const NM = 'file:///repo/node_modules'
const SRC = 'file:///repo/pipeline'

describe('areaOf', () => {
  it('puts V8’s own entries in their areas', () => {
    expect(areaOf([f('(idle)')])).toBe('idle')
    expect(areaOf([f('(garbage collector)')])).toBe('garbage collection')
    expect(areaOf([f('(program)')])).toBe('program (native, unattributed)')
  })

  it('counts Node internals and native calls for the nearest caller that is not one', () => {
    const checkpoint = [f('rename'), f('renameSync', 'node:fs'), f('write', `${SRC}/kafka/checkpoint.ts`), f('commit', `${SRC}/kafka/runner.ts`)]
    expect(areaOf(checkpoint)).toBe('checkpoint writes')
    expect(areaOf([f('_writeSync', `${NM}/@nxtedition/rocksdb/chained-batch.js`), f('flush', `${SRC}/state/task-state.ts`)])).toBe('RocksDB')
    expect(areaOf([f('processRecord', `${SRC}/runtime/task.ts`)])).toBe('Hermes operators and runtime')
  })

  it('tells kafkajs’ produce path from its fetch path by the nearest frame that says which', () => {
    const encode = [f('FastBuffer', 'node:internal/buffer'), f('writeVarInt', `${NM}/kafkajs/src/protocol/encoder.js`), f('x', `${NM}/kafkajs/src/protocol/requests/produce/v3/request.js`)]
    expect(areaOf(encode)).toBe('kafkajs produce (encode, send)')
    const decode = [f('readInt32', `${NM}/kafkajs/src/protocol/decoder.js`), f('x', `${NM}/kafkajs/src/protocol/requests/fetch/v11/response.js`)]
    expect(areaOf(decode)).toBe('kafkajs fetch (decode)')
    const write = [f('writeBuffer'), f('Socket._write', 'node:net'), f('sendRequest', `${NM}/kafkajs/src/network/connection.js`)]
    expect(areaOf(write)).toBe('kafkajs network (socket writes, request queue)')
    expect(areaOf([f('x', `${NM}/kafkajs/src/cluster/index.js`)])).toBe('kafkajs other')
  })
})

describe('summarizeProfile', () => {
  // root → runner.commit → checkpoint.write → rename; root → (idle); root → (garbage collector)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 5, 6] },
      { id: 2, callFrame: { functionName: 'commit', url: `${SRC}/kafka/runner.ts`, lineNumber: 9 }, children: [3] },
      { id: 3, callFrame: { functionName: 'write', url: `${SRC}/kafka/checkpoint.ts`, lineNumber: 19 }, children: [4] },
      { id: 4, callFrame: { functionName: 'rename', url: '', lineNumber: -1 } },
      { id: 5, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 6, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    endTime: 10_000_000, // 10 s in µs
    // A sample lasts until the next one: 4 s rename, 1 s commit, 4 s idle, 1 s GC.
    samples: [4, 2, 5, 6, 4],
    timeDeltas: [0, 3_000_000, 1_000_000, 4_000_000, 1_000_000],
  }

  it('sums each sample’s time to the next one by area, busy time without idle', () => {
    const s = summarizeProfile(profile, { top: 10 })
    expect(s.wallMs).toBe(10_000)
    expect(s.busyMs).toBe(6000)
    const area = (name: string) => s.areas.find((a) => a.area === name)
    expect(area('checkpoint writes')?.ms).toBe(3000) // the last sample has no next one: it counts 0
    expect(area('Hermes operators and runtime')?.ms).toBe(1000)
    expect(area('idle')?.ms).toBe(4000)
    expect(area('garbage collection')?.ofBusy).toBeCloseTo(1 / 6)
  })

  it('lists functions by self time, largest first, without idle, with a short location', () => {
    const s = summarizeProfile(profile, { top: 2 })
    expect(s.top.map((t) => [t.functionName, t.ms])).toEqual([
      ['rename', 3000],
      ['commit', 1000],
    ])
    expect(s.top[1]?.location).toBe('pipeline/kafka/runner.ts:10')
  })
})
