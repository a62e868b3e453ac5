import { describe, expect, it } from 'vitest'
import { mulberry32 } from '../../operators/ids.ts'
import { MinHeap } from '../../pipeline/runtime/heap.ts'

describe('MinHeap', () => {
  it('pops items in the order of its comparator, whatever order they were pushed in', () => {
    const rnd = mulberry32(3)
    const rand = (): number => Math.floor(rnd() * 1000)
    const heap = new MinHeap<number>((a, b) => a < b)
    const pushed: number[] = []
    const popped: number[] = []
    for (let i = 0; i < 2000; i++) {
      const n = rand()
      heap.push(n)
      pushed.push(n)
      // Interleave pops with pushes, as the runner does.
      if (i % 3 === 0) popped.push(heap.pop() as number)
    }
    while (heap.size > 0) popped.push(heap.pop() as number)
    expect(popped.length).toBe(pushed.length)
    expect([...popped].sort((a, b) => a - b)).toEqual([...pushed].sort((a, b) => a - b))
    // Each pop is the least of what was in the heap at that moment: checked by replay.
    const replay = new MinHeap<number>((a, b) => a < b)
    let j = 0
    for (let i = 0; i < pushed.length; i++) {
      replay.push(pushed[i] as number)
      if (i % 3 === 0) expect(replay.pop()).toBe(popped[j++])
    }
  })

  it('peeks without removing, and is empty after clear', () => {
    const heap = new MinHeap<{ t: number }>((a, b) => a.t < b.t)
    expect(heap.peek()).toBeUndefined()
    expect(heap.pop()).toBeUndefined()
    heap.push({ t: 5 })
    heap.push({ t: 2 })
    heap.push({ t: 9 })
    expect(heap.peek()).toEqual({ t: 2 })
    expect(heap.size).toBe(3)
    heap.clear()
    expect(heap.size).toBe(0)
    expect(heap.pop()).toBeUndefined()
  })
})
