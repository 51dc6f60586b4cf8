/**
 * The CI seed suite's shared settings (imported by seeds-*.test.ts; not a test file itself).
 *
 * Each seed runs 10 s of simulated client load with random faults (the seed picks the mix), f cycling
 * 1, 2, 3, and f Byzantine replicas on three seeds of four; on the fourth the seed picks 0..f
 * Byzantine replicas so the remaining fault budget goes to crashing correct replicas (which then
 * recover by state transfer). Even seeds run the kv app with some initial state, odd seeds echo.
 * Client pacing grows with f because a request costs O(n^2) authenticated frames.
 */
import type { SimulationOptions } from "../../bft/sim/index.js";

const THINK_MS_MAX_BY_F: Readonly<Record<number, number>> = { 1: 100, 2: 300, 3: 600 };
const CLIENTS_BY_F: Readonly<Record<number, number>> = { 1: 3, 2: 3, 3: 2 };

export function ciOptions(seed: number): Partial<SimulationOptions> & { seed: number } {
  const f = 1 + (seed % 3);
  return {
    seed,
    f,
    clients: CLIENTS_BY_F[f],
    durationMs: 10_000,
    thinkMsMax: THINK_MS_MAX_BY_F[f],
    app: seed % 2 === 0 ? "kv" : "echo",
    kvStateBytes: seed % 2 === 0 ? 4096 : 0,
    faults: "random",
    byzantineCount: seed % 4 === 0 ? undefined : f,
  };
}

export function seedRange(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}
