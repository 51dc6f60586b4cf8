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
  parseByzantineKinds,
  parseDurationMs,
  resolveOptions,
  SIMULATION_DEFAULTS,
  type SimulationApp,
  type SimulationOptions,
  type SimulationProgress,
} from "./options.js";
export { Prng } from "./prng.js";
export { historyDigest } from "./recorder.js";
export { formatFailure, formatProgress, formatSummary, reproduceCommand } from "./report.js";
export { runSimulation, Simulation, type SimulationFailure, type SimulationResult } from "./simulation.js";
