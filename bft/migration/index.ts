/**
 * Public surface of the migration protocol's pure building blocks (paper section 3): messages,
 * the bytes their signatures cover, source/target selection, the migration interval, the
 * standby's registration state machine and the active replicas' standby registry.
 */

export type {
  InitMigration,
  JoinApproved,
  JoinRequest,
  KeyExchange,
  LeaveRequest,
  MemberAddress,
  MembershipCertificate,
  MigrateNow,
  MigrationDone,
  MigrationMessage,
  MigrationMessageType,
  MigrationPair,
  MigrationRequest,
  MigrationTrigger,
  NewMembership,
  NodeAddress,
  OnDemandMigration,
  OrderedSpecial,
} from "../messages.js";
export { MigrationConfigError } from "./errors.js";
export {
  type AdminNotification,
  DEFAULT_INTERVAL_PARAMS,
  IntervalController,
  type IntervalParams,
  type IntervalPlan,
  initialTimeoutMs,
  migrationTimeoutMs,
  requestsPerRound,
  targetAvailability,
  validateIntervalParams,
} from "./interval.js";
export {
  type JoinAcceptance,
  type JoinApprovalInfo,
  type JoinExecution,
  JoinRegistry,
  type JoinRegistryConfig,
  type JoinRegistryDeps,
  type JoinRegistryDropCounts,
  type JoinRegistrySnapshot,
  type JoinRejection,
  type LeaveAcceptance,
  type LeaveExecution,
  type LeaveRejection,
  makeJoinApproved,
  type RosterEntry,
  rosterPublicKey,
  type StandbyRecord,
} from "./join-registry.js";
export {
  KEY_EXCHANGE_DROPS,
  type KeyExchangeConfig,
  type KeyExchangeDeps,
  type KeyExchangeDrop,
  type KeyExchangeEffect,
  type KeyExchangeSetup,
  KeyExchangeTable,
  type KeyPeer,
} from "./key-exchange.js";
export {
  ADDRESS_CHARS_MAX,
  CM_VOUCH_AFTER_MS,
  JOIN_RETRANSMIT_COUNT_MAX,
  JOIN_TIME_SKEW_MS_DEFAULT,
  NODES_MAX,
  ORDER_EXECUTE_MS_FLOOR,
  REQUESTS_PER_ROUND_MIN_MAX,
  STANDBYS_MAX,
} from "./limits.js";
export { membershipCertificateValid } from "./membership-certificate.js";
export {
  compareTargetPreference,
  type OnDemandSelection,
  pairSourcesWithTargets,
  type StandbyCandidate,
  selectOnDemand,
  selectSources,
  selectTargets,
  type TargetSelection,
} from "./selection.js";
export {
  initMigrationAuthBytes,
  joinApprovedSignedBytes,
  joinRequestSignedBytes,
  type KeyExchangeSide,
  keyExchangeKeyInfo,
  keyExchangeSignedBytes,
  leaveRequestSignedBytes,
  membershipCertificateSignedBytes,
  migrateNowSignedBytes,
  newMembershipSignedBytes,
  newViewSignedBytes,
  onDemandMigrationSignedBytes,
  orderedSpecialBytes,
} from "./signing.js";
export {
  type StandbyConfig,
  type StandbyDeps,
  type StandbyDropCounts,
  type StandbyEffect,
  type StandbyInput,
  type StandbyPhase,
  StandbyRegistration,
  type StandbyTimerId,
  validateStandbyConfig,
} from "./standby.js";
