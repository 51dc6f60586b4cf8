/**
 * Runs migration CI seeds inside vitest (used by migration-seeds-*.test.ts; not a test file).
 *
 * Every seed must keep safety: no exception in any core, and no violation of agreement, order,
 * validity, checkpoint, state transfer, round selection, applied migration state, four-round
 * coverage or standby isolation. Liveness around migrations under faults (the `liveness` and
 * `stall` checks) is not yet reliable: issue 4's closing note and docs/migration-progress.md list
 * the open causes. Each file therefore asserts safety per seed and bounds the number of seeds whose
 * liveness fails, so the suite catches any safety bug and any regression in liveness, and prints
 * every liveness failure with the command that replays it.
 */
import { expect, it } from "vitest";
import { type CheckName, formatCheckReport } from "../../bft/checker/index.js";
import { formatFailure, runMigrationSimulation } from "../../bft/sim/index.js";
import { seedRange } from "./ci-options.js";
import { migrationCiOptions } from "./migration-ci-options.js";

export { seedRange };

const LIVENESS_CHECKS: ReadonlySet<CheckName> = new Set<CheckName>(["liveness", "stall"]);

/**
 * Seeds of one 50-seed file whose liveness may fail before the file fails. Measured on 200 seeds;
 * docs/migration-progress.md ("How liveness is measured") keeps the history per merge: it went
 * from 12 to 0 as causes were fixed, and since every seed of the 200 keeps liveness there is no
 * slack left. A change that makes any seed lose liveness fails CI, and the seed it names must be
 * diagnosed like the regression seeds below (the simulator is deterministic, so it is not noise).
 */
export const LIVENESS_FAILURES_PER_FILE_MAX = 0;

/**
 * Seeds whose liveness loss was diagnosed and fixed (docs/migration-progress.md): they must keep
 * liveness too, not only safety.
 * - 7, 17, 21, 26, 28, 41, 52: the promoted target started in the MIGRATION-REQUEST's view and could
 *   not verify the later NEW-VIEWs (signed by the sources' nodes); it now starts in the view the
 *   round executed in.
 * - 36, 53: a promoted target rejected batches holding requests clients authenticated for the
 *   replaced node, lagged, and missed the next round (quorum-vouched batches, CHECKPOINTs to lagging
 *   peers in any view, STATUS at once on promotion).
 * - 2, 29, 163, 176, 195 (stall bound): a backup that could not authenticate a request in a
 *   PRE-PREPARE waited for a certificate its own vote was needed for; it now takes the batch once
 *   it holds the request from the client (Slot.parked). 134 (stall bound): a backup lacking a
 *   PRE-PREPARE while level with the others got it only by the "stuck" rule, a view-change timeout
 *   late (StatusResponder.resendUnvoted, STATUS on entering a view).
 */
export const LIVENESS_REGRESSION_SEEDS: ReadonlySet<number> = new Set([
  2, 7, 17, 21, 26, 28, 29, 36, 41, 52, 53, 134, 163, 176, 195,
]);

/** Runs one seed: fails on any exception or safety violation; returns a liveness failure's report. */
export function runMigrationCiSeed(seed: number): string | null {
  const result = runMigrationSimulation(migrationCiOptions(seed));
  const report = `${formatFailure(result)}\n${formatCheckReport(result.report)}`;
  if (result.failure?.kind === "exception") expect.fail(report);
  const safety = Object.entries(result.report.violationCounts).filter(
    ([name, count]) => count > 0 && !LIVENESS_CHECKS.has(name as CheckName),
  );
  if (safety.length > 0) expect.fail(report);
  expect(result.history.migration).toBeDefined();
  return result.ok ? null : report;
}

/** The tests of one file: one per seed (safety), then the liveness bound over the file's seeds. */
export function migrationSeedTests(from: number, to: number): void {
  const livenessFailures: string[] = [];
  for (const seed of seedRange(from, to)) {
    const regression = LIVENESS_REGRESSION_SEEDS.has(seed);
    it(`seed=${seed} keeps safety${regression ? " and liveness" : ""}`, () => {
      const failure = runMigrationCiSeed(seed);
      if (failure !== null && regression) expect.fail(failure);
      if (failure !== null) livenessFailures.push(failure);
    });
  }
  it(`liveness fails in at most ${LIVENESS_FAILURES_PER_FILE_MAX} of seeds ${from}..${to}`, () => {
    if (livenessFailures.length > 0) {
      const lines = livenessFailures.map((failure) =>
        failure.split("\n")[0]!.replace(/^FAILED /, "liveness lost: "),
      );
      console.log(
        `${livenessFailures.length} of ${to - from + 1} seeds lost liveness (safety held):\n${lines.join("\n")}`,
      );
    }
    expect(livenessFailures.length).toBeLessThanOrEqual(LIVENESS_FAILURES_PER_FILE_MAX);
  });
}
