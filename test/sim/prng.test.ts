/**
 * Proves the simulator's PRNG is deterministic (same seed, same stream; forks independent of later
 * draws) and sane (bounds hold, values spread evenly), because every seed's replay depends on it.
 * How: fixed-seed comparisons, fast-check properties for bounds, and a chi-square test on buckets.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Prng } from "../../bft/sim/index.js";

function draw(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32());
}

describe("Prng determinism", () => {
  it("gives the same stream for the same seed", () => {
    expect(draw(new Prng(42), 100)).toEqual(draw(new Prng(42), 100));
  });

  it("gives different streams for neighbouring seeds", () => {
    const a = draw(new Prng(1), 16);
    const b = draw(new Prng(2), 16);
    expect(a).not.toEqual(b);
    // Not merely shifted: few positions coincide.
    expect(a.filter((value, index) => value === b[index]).length).toBeLessThan(2);
  });

  it("accepts large seeds, distinguishing their high bits", () => {
    expect(draw(new Prng(2 ** 40), 8)).not.toEqual(draw(new Prng(0), 8));
    expect(draw(new Prng(Number.MAX_SAFE_INTEGER), 8)).toEqual(draw(new Prng(Number.MAX_SAFE_INTEGER), 8));
  });

  it("forks a stream that depends only on the parent's state at fork time", () => {
    const parentA = new Prng(7);
    const parentB = new Prng(7);
    const childA = parentA.fork();
    const childB = parentB.fork();
    draw(parentA, 10); // drawing from the parent must not shift the child
    expect(draw(childA, 20)).toEqual(draw(childB, 20));
    expect(draw(childA, 20)).not.toEqual(draw(parentB, 20));
  });

  it("rejects non-integer seeds", () => {
    expect(() => new Prng(1.5)).toThrow(/safe integer/);
  });
});

describe("Prng ranges", () => {
  it("int stays within inclusive bounds", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        (seed, min, span) => {
          const prng = new Prng(Math.abs(seed));
          for (let index = 0; index < 20; index += 1) {
            const value = prng.int(min, min + span);
            expect(Number.isInteger(value)).toBe(true);
            expect(value).toBeGreaterThanOrEqual(min);
            expect(value).toBeLessThanOrEqual(min + span);
          }
        },
      ),
    );
  });

  it("int reaches both ends of a small range", () => {
    const prng = new Prng(3);
    const seen = new Set(Array.from({ length: 200 }, () => prng.int(5, 7)));
    expect([...seen].sort()).toEqual([5, 6, 7]);
  });

  it("float lies in [0, 1) with mean near 1/2", () => {
    const prng = new Prng(11);
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let index = 0; index < 20_000; index += 1) {
      const value = prng.float();
      min = Math.min(min, value);
      max = Math.max(max, value);
      sum += value;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(Math.abs(sum / 20_000 - 0.5)).toBeLessThan(0.01);
  });

  it("spreads int draws evenly over 10 buckets (chi-square, 9 degrees of freedom)", () => {
    const prng = new Prng(123);
    const draws = 50_000;
    const counts = new Array<number>(10).fill(0);
    for (let index = 0; index < draws; index += 1) {
      const bucket = prng.int(0, 9);
      counts[bucket] = (counts[bucket] ?? 0) + 1;
    }
    const expected = draws / 10;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 27.88 is the 99.9th percentile for 9 degrees of freedom.
    expect(chiSquare).toBeLessThan(27.88);
  });

  it("chance(p) hits about p of the time, and never for 0, always for 1", () => {
    const prng = new Prng(5);
    let hits = 0;
    for (let index = 0; index < 20_000; index += 1) if (prng.chance(0.3)) hits += 1;
    expect(Math.abs(hits / 20_000 - 0.3)).toBeLessThan(0.015);
    expect(Array.from({ length: 100 }, () => prng.chance(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 100 }, () => prng.chance(1)).every(Boolean)).toBe(true);
  });

  it("shuffle returns a permutation and leaves its input alone", () => {
    const input = [1, 2, 3, 4, 5, 6, 7, 8];
    const shuffled = new Prng(9).shuffle(input);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(input);
    expect(input).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("bytes gives the requested length deterministically", () => {
    expect(new Prng(1).bytes(13)).toEqual(new Prng(1).bytes(13));
    expect(new Prng(1).bytes(13).length).toBe(13);
    expect(new Prng(1).bytes(0).length).toBe(0);
  });
});
