/**
 * Runs one migration CI seed inside vitest (used by migration-seeds-*.test.ts; not a test file).
 */
import { expect } from "vitest";
import { formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, type MigrationRunResult, runMigrationSimulation } from "../../bft/sim/index.js";
import { migrationCiOptions } from "./migration-ci-options.js";

export { seedRange } from "./ci-options.js";
export { MIGRATION_KNOWN_FAILING_SEEDS, migrationCiOptions } from "./migration-ci-options.js";

/** Runs one seed; a failure names seed=<n>, the reproduce command and the checker's report. */
export function runMigrationCiSeed(seed: number): MigrationRunResult {
  const result = runMigrationSimulation(migrationCiOptions(seed));
  if (!result.ok) expect.fail(`${formatFailure(result)}\n${formatCheckReport(result.report)}`);
  expect(result.history.migration).toBeDefined();
  return result;
}
