/**
 * checkHistory: runs every check over one recorded history and returns a report. Pure: the history
 * and a factory for fresh application instances in, a report out.
 */
import type { Application } from "../apps/app.js";
import { createApp } from "../apps/index.js";
import { checkAgreement, checkExecutionOrder } from "./agreement.js";
import { type CheckpointStats, checkCheckpoints } from "./checkpoints.js";
import { HISTORY_FORMAT, HISTORY_FORMATS, type History } from "./history.js";
import { checkLiveness, type LivenessStats } from "./liveness.js";
import { checkMigration, type MigrationStats } from "./migration.js";
import { checkStalls, type StallStats } from "./stall.js";
import { checkValidity, type ValidityStats } from "./validity.js";
import { type CheckName, formatViolation, type Violation, ViolationLog } from "./violation.js";

export interface CheckOptions {
  /** A fresh instance of the history's application; defaults to bft/apps createApp(history.app). */
  readonly createApp?: () => Application;
}

export interface CheckReport {
  readonly ok: boolean;
  /** At most VIOLATIONS_PER_CHECK_MAX per check; `violationCounts` has the full counts. */
  readonly violations: readonly Violation[];
  readonly violationCounts: Readonly<Record<CheckName, number>>;
  readonly stats: {
    readonly seqsCommitted: number;
    readonly migration: MigrationStats;
    readonly stall: StallStats;
  } & ValidityStats &
    LivenessStats &
    CheckpointStats;
}

export function checkHistory(history: History, options: CheckOptions = {}): CheckReport {
  if (!HISTORY_FORMATS.includes(history.format)) {
    throw new Error(`unsupported history format "${String(history.format)}"; expected "${HISTORY_FORMAT}"`);
  }
  const violations = new ViolationLog();
  const order = checkAgreement(history, violations);
  checkExecutionOrder(history, violations);
  const appFactory = options.createApp ?? (() => createApp(history.app));
  const validity = checkValidity(history, order, appFactory, violations);
  const liveness = checkLiveness(history, violations);
  const checkpoints = checkCheckpoints(history, violations);
  const migration = checkMigration(history, order, violations);
  const stall = checkStalls(history, violations);
  return {
    ok: violations.total === 0,
    violations: violations.kept,
    violationCounts: violations.counts,
    stats: {
      seqsCommitted: order.batches.length,
      ...validity,
      ...liveness,
      ...checkpoints,
      migration,
      stall,
    },
  };
}

/** A multi-line human-readable report: "checker: ok" or one block per violation. */
export function formatCheckReport(report: CheckReport): string {
  const s = report.stats;
  const summary =
    `${s.seqsCommitted} seqs, ${s.requestsCommitted} requests committed, ` +
    `${s.completionsChecked} accepted results checked, ${s.stableSeqs} stable checkpoints, ` +
    `${s.installsVerified} state installs verified` +
    (s.installsUnverified > 0 ? ` (${s.installsUnverified} unverified)` : "") +
    (s.migration.roundsJudged > 0
      ? `, ${s.migration.roundsJudged} migration rounds judged (${s.migration.roundsProactive} timer,` +
        ` ${s.migration.roundsOnDemand} on-demand, ${s.migration.promotionsVerified} promotions verified,` +
        ` ${s.migration.coverageWindows} coverage windows), ${s.stall.stallJudged} requests stall-checked`
      : "");
  if (report.ok) return `checker: ok (${summary})`;
  const counts = Object.entries(report.violationCounts)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name}=${count}`)
    .join(" ");
  const lines = [`checker: VIOLATIONS ${counts} (${summary})`];
  for (const violation of report.violations) lines.push(`  ${formatViolation(violation)}`);
  return lines.join("\n");
}
