/**
 * Migration CI seeds whose failure was diagnosed and fixed, kept as fixed runs that must pass every
 * check, liveness and stall included (the 200-seed suite only bounds liveness failures per file).
 * Causes (docs/migration-progress.md):
 * - 150: an exception in the simulator: a partition naming two replica ids whose hostOf entries map
 *   to one node (a target never promoted, its node since promoted to the other id) put the node on
 *   an island twice.
 * How: runMigrationSimulation with migrationCiOptions(seed), then the history checker.
 */
import { describe, expect, it } from "vitest";
import { runMigrationCiSeed } from "./migration-seed-suite.js";

const SEEDS = [150];

describe("migration regression seeds", () => {
  it.each(SEEDS)("seed=%i keeps safety and liveness", (seed) => {
    const failure = runMigrationCiSeed(seed);
    if (failure !== null) expect.fail(failure);
  });
});
