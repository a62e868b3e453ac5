/**
 * A binary min-heap: `pop` returns the item that comes `before` all others. Sifting moves a
 * hole rather than swapping, so each level costs one comparison and one write.
 */
export class MinHeap<T> {
  private readonly items: T[] = []

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  /** The first item, left in the heap, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const items = this.items
    let i = items.length
    items.push(item)
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = items[p] as T
      if (!this.before(item, parent)) break
      items[i] = parent
      i = p
    }
    items[i] = item
  }

  /** Removes and returns the first item, or undefined when empty. */
  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop() as T
    const n = items.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let m = l
      if (r < n && this.before(items[r] as T, items[l] as T)) m = r
      const child = items[m] as T
      if (!this.before(child, last)) break
      items[i] = child
      i = m
    }
    items[i] = last
    return top
  }

  clear(): void {
    this.items.length = 0
  }
}
