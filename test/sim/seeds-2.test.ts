/**
 * Proves PBFT keeps safety and regains liveness under seeded random faults with f Byzantine replicas,
 * for seeds 51..100 (one quarter of the 200-seed CI suite; four files so vitest spreads them
 * over its workers). How: runSimulation with ciOptions(seed) (see ci-options.ts), then the history
 * checker; a failure prints seed=<n>, the reproduce command and the checker's report.
 */
import { describe, it } from "vitest";
import { runCiSeed, seedRange } from "./seed-suite.js";

describe("simulation seeds 51..100", () => {
  for (const seed of seedRange(51, 100)) {
    it(`seed=${seed}`, () => void runCiSeed(seed));
  }
});
