/**
 * Proves the whole system with migration (standbys, the CM, a round every simulated second) keeps
 * safety, replaces exactly the selected sources by the selected targets with the certified state,
 * covers every id in four timer rounds and keeps client traffic off standbys (liveness is bounded),
 * under seeded swarm faults plus one migration fault per seed (a corrupt designated state sender,
 * a target crashing mid-transfer, a non-complying source, a withheld MIGRATION-REQUEST), for seeds
 * 1..50 (a quarter of the 200-seed suite). How: runMigrationSimulation with
 * migrationCiOptions(seed), then the history checker; a failure prints seed=<n> and the command
 * that replays it. Safety must hold on every seed; liveness failures are bounded per file
 * (see migration-seed-suite.ts).
 */
import { describe } from "vitest";
import { migrationSeedTests } from "./migration-seed-suite.js";

describe("migration simulation seeds 1..50", () => {
  migrationSeedTests(1, 50);
});
