/**
 * Proves the event queue pops in (time, insertion order) order, which makes same-instant events
 * deterministic. How: fixed cases, and fast-check comparing the heap with a stable sort as reference.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventQueue } from "../../bft/sim/index.js";

describe("EventQueue", () => {
  it("pops earlier times first and ties in insertion order", () => {
    const queue = new EventQueue<string>(100);
    queue.push(5, "c");
    queue.push(1, "a");
    queue.push(5, "d");
    queue.push(1, "b");
    queue.push(3, "x");
    const popped: string[] = [];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) popped.push(next.event);
    expect(popped).toEqual(["a", "b", "x", "c", "d"]);
  });

  it("matches a stable sort on random input (interleaving pushes and pops)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 200 }),
        (ops) => {
          const queue = new EventQueue<number>(1000);
          const reference: { timeMs: number; id: number }[] = [];
          const popped: number[] = [];
          const expected: number[] = [];
          ops.forEach(([timeMs, popAfter], id) => {
            queue.push(timeMs, id);
            reference.push({ timeMs, id });
            if (popAfter) {
              reference.sort((a, b) => a.timeMs - b.timeMs || a.id - b.id);
              expected.push((reference.shift() as { id: number }).id);
              popped.push((queue.pop() as { event: number }).event);
            }
          });
          expect(popped).toEqual(expected);
          expect(queue.size).toBe(reference.length);
        },
      ),
    );
  });

  it("refuses to grow beyond its capacity", () => {
    const queue = new EventQueue<number>(2);
    queue.push(1, 1);
    queue.push(1, 2);
    expect(() => queue.push(1, 3)).toThrow(/at most 2 events/);
  });
});
