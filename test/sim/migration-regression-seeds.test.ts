/**
 * Migration seeds that once found a bug, kept as fixed runs with their migration fault pinned (so
 * they do not depend on the random fault pool). Each must keep safety (no exception in any core,
 * no safety violation); liveness is judged by the CI suite's bound, not here.
 * - 148 (nonComplyingSource), 60 (targetCrash, f=2): a lagging source committed batches above its
 *   MIGRATION-REQUEST and went on executing them after it retired (fixed: executeReady stops at
 *   retirement, as the `retire` effect promises).
 * How: runMigrationSimulation with the CI suite's options, then the history checker.
 */
import { describe, expect, it } from "vitest";
import { type CheckName, formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, type MigrationFaultKind, runMigrationSimulation } from "../../bft/sim/index.js";
import { migrationCiOptions } from "./migration-ci-options.js";

const SEEDS: readonly [number, MigrationFaultKind][] = [
  [148, "nonComplyingSource"],
  [60, "targetCrash"],
];
const LIVENESS_CHECKS: ReadonlySet<CheckName> = new Set<CheckName>(["liveness", "stall"]);

describe("migration regression seeds", () => {
  it.each(SEEDS)("seed=%i (%s) keeps safety", (seed, fault) => {
    const options = migrationCiOptions(seed);
    const result = runMigrationSimulation({ ...options, migration: { ...options.migration, fault } });
    const report = `${formatFailure(result)}\n${formatCheckReport(result.report)}`;
    expect(result.failure?.kind, report).not.toBe("exception");
    const safety = Object.entries(result.report.violationCounts).filter(
      ([name, count]) => count > 0 && !LIVENESS_CHECKS.has(name as CheckName),
    );
    expect(safety, report).toEqual([]);
  });
});
