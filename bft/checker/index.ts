export {
  type CommittedBatch,
  type CommittedOrder,
  checkAgreement,
  checkExecutionOrder,
} from "./agreement.js";
export { type CheckOptions, type CheckReport, checkHistory, formatCheckReport } from "./check.js";
export { type CheckpointStats, checkCheckpoints } from "./checkpoints.js";
export {
  bytesOfHex,
  type EventOf,
  type ExecutedRecord,
  eventsOf,
  type Hex,
  HISTORY_FORMAT,
  HISTORY_FORMATS,
  type History,
  type HistoryApp,
  type HistoryEvent,
  type HistoryEventKind,
  type HistoryFormat,
  type HistoryPair,
  hexOf,
  isCorrect,
  type MigrationHistoryInfo,
  type OrderedSpecialRecord,
} from "./history.js";
export { checkLiveness, type LivenessStats } from "./liveness.js";
export { checkMigration, expectedSources, MIGRATION_STATS_NONE, type MigrationStats } from "./migration.js";
export { checkStalls, STALL_STATS_NONE, type StallStats } from "./stall.js";
export { checkValidity, type ValidityStats } from "./validity.js";
export {
  CHECK_NAMES,
  type CheckName,
  formatViolation,
  VIOLATIONS_PER_CHECK_MAX,
  type Violation,
  ViolationLog,
} from "./violation.js";
