/** Public surface of the configuration manager's pure core. */
export { createCmState, type InitialNode, migrateNowInput, step, validateCmConfig } from "./core.js";
export {
  CM_EFFECTS_PER_STEP_MAX,
  CM_NODES_MAX,
  MIGRATE_NOW_VOTES_MAX,
  SANITIZE_ATTEMPTS_MAX,
} from "./limits.js";
export type {
  AdminReason,
  CmConfig,
  CmEffect,
  CmInput,
  CmState,
  IntrusionSource,
  MigrateNowVote,
  Nic,
  NodeEntry,
  NodeRole,
  PendingPromotion,
  SanitizeMethod,
} from "./types.js";
