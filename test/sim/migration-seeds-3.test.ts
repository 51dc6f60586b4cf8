/**
 * Proves the whole system with migration (standbys, the CM, a round every simulated second) keeps
 * safety, replaces exactly the selected sources by the selected targets with the certified state,
 * covers every id in four timer rounds, keeps client traffic off standbys and regains liveness,
 * under seeded swarm faults plus one migration fault per seed (a corrupt designated state sender,
 * a target crashing mid-transfer, a non-complying source, a withheld MIGRATION-REQUEST), for seeds
 * 101..150 (a quarter of the 200-seed suite). How: runMigrationSimulation with
 * migrationCiOptions(seed), then the history checker; a failure prints seed=<n> and the command
 * that replays it. Seeds in MIGRATION_KNOWN_FAILING_SEEDS fail today for reported reasons.
 */
import { describe, it } from "vitest";
import { MIGRATION_KNOWN_FAILING_SEEDS, runMigrationCiSeed, seedRange } from "./migration-seed-suite.js";

describe("migration simulation seeds 101..150", () => {
  for (const seed of seedRange(101, 150)) {
    const known = MIGRATION_KNOWN_FAILING_SEEDS.get(seed);
    if (known === undefined) it(`seed=${seed}`, () => void runMigrationCiSeed(seed));
    else it.fails(`seed=${seed} (known failure: ${known})`, () => void runMigrationCiSeed(seed));
  }
});
