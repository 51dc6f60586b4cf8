/**
 * The deterministic simulator's public surface: runSimulation and its options and result, plus the
 * building blocks tests and tools reuse (PRNG, event queue, network model, fault plan).
 */
export { BYZANTINE_KINDS, type ByzantineKind, isByzantineKind } from "./byzantine-kinds.js";
export { SimulationError } from "./errors.js";
export { EventQueue } from "./event-queue.js";
export {
  type ByzantineAssignment,
  type CrashWindow,
  createFaultPlan,
  describeFaultPlan,
  type FaultPlan,
  type PartitionWindow,
  type ReplicaTuning,
} from "./fault-plan.js";
export {
  chooseMigrationFault,
  createMigrationFaultPlan,
  describeMigrationFault,
  MIGRATION_FAULT_KINDS,
  type MigrationFaultKind,
  type MigrationFaultPlan,
} from "./migration-faults.js";
export {
  type MigrationRunResult,
  MigrationSimulation,
  runMigrationSimulation,
} from "./migration-simulation.js";
export {
  type Delivery,
  type DropReason,
  LINK_FAULTS_NONE,
  type LinkFaults,
  type NetworkStats,
  SimNetwork,
} from "./network.js";
export {
  type FaultMode,
  formatDurationMs,
  KV_STATE_BYTES_SIM_MAX,
  MIGRATION_RUN_DEFAULTS,
  type MigrationRoundReport,
  type MigrationRunOptions,
  parseByzantineKinds,
  parseDurationMs,
  resolveOptions,
  SIMULATION_DEFAULTS,
  type SimulationApp,
  type SimulationOptions,
  type SimulationProgress,
  SOAK_DEFAULTS,
  soakF,
  soakSeedOptions,
} from "./options.js";
export { Prng } from "./prng.js";
export { historyDigest } from "./recorder.js";
export { formatFailure, formatProgress, formatRound, formatSummary, reproduceCommand } from "./report.js";
export { runSimulation, Simulation, type SimulationFailure, type SimulationResult } from "./simulation.js";
