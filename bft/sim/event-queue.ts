/**
 * The simulated clock's agenda: a binary min-heap ordered by (timeMs, insertion order). Two events
 * at the same simulated instant run in the order they were scheduled, so a run never depends on
 * heap internals and a seed replays exactly.
 */
import { assert } from "../assert.js";

interface Entry<T> {
  readonly timeMs: number;
  readonly order: number;
  readonly event: T;
}

export class EventQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private insertionCount = 0;

  constructor(private readonly capacityMax: number) {
    assert(Number.isSafeInteger(capacityMax) && capacityMax > 0, "queue capacity is a positive integer");
  }

  get size(): number {
    return this.heap.length;
  }

  push(timeMs: number, event: T): void {
    assert(Number.isFinite(timeMs) && timeMs >= 0, `event time is finite and non-negative, got ${timeMs}`);
    // A bound on pending events catches runaway feedback loops (a flood that reschedules itself
    // faster than it drains) as a clear failure instead of an out-of-memory crash.
    assert(this.heap.length < this.capacityMax, `event queue holds at most ${this.capacityMax} events`);
    const entry: Entry<T> = { timeMs, order: this.insertionCount, event };
    this.insertionCount += 1;
    this.heap.push(entry);
    this.siftUp(this.heap.length - 1);
  }

  /** Time of the earliest event, or undefined when empty. */
  peekTimeMs(): number | undefined {
    return this.heap[0]?.timeMs;
  }

  pop(): { timeMs: number; event: T } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop() as Entry<T>;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return { timeMs: top.timeMs, event: top.event };
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    let index = start;
    const entry = heap[index] as Entry<T>;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as Entry<T>;
      if (!before(entry, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = entry;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const length = heap.length;
    let index = start;
    const entry = heap[index] as Entry<T>;
    for (;;) {
      const leftIndex = 2 * index + 1;
      if (leftIndex >= length) break;
      const rightIndex = leftIndex + 1;
      let childIndex = leftIndex;
      if (rightIndex < length && before(heap[rightIndex] as Entry<T>, heap[leftIndex] as Entry<T>)) {
        childIndex = rightIndex;
      }
      const child = heap[childIndex] as Entry<T>;
      if (!before(child, entry)) break;
      heap[index] = child;
      index = childIndex;
    }
    heap[index] = entry;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.order < b.order);
}
