/**
 * Runs one CI seed inside vitest (used by seeds-*.test.ts; not a test file itself).
 */
import { expect } from "vitest";
import { formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, runSimulation, type SimulationResult } from "../../bft/sim/index.js";
import { ciOptions } from "./ci-options.js";

export { ciOptions, seedRange } from "./ci-options.js";

/** Runs one CI seed and fails with seed=<n>, the reproduce command and the checker's report. */
export function runCiSeed(seed: number): SimulationResult {
  const result = runSimulation(ciOptions(seed));
  if (!result.ok) {
    const message = `${formatFailure(result)}\n${formatCheckReport(result.report)}`;
    expect.fail(message);
  }
  expect(result.history.events.length).toBeGreaterThan(0);
  return result;
}
