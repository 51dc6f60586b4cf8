/**
 * The replica core's public surface. Other folders import only from here.
 */

export { bytesEqual } from "../bytes.js";
export type {
  CoreDeps,
  CoreLogger,
  Effect,
  ExecutedRequest,
  MigrationDeps,
  MigrationSettings,
  ReplicaConfig,
  ReplicaInput,
  TimerId,
} from "./api.js";
export { batchDigest, batchDigestOfRequests, proposalDigest, specialDigest } from "./batch-digest.js";
export { type ClientEntry, ClientTable } from "./client-table.js";
export { defaultReplicaConfig, validateReplicaConfig } from "./config.js";
export {
  checkNewView,
  type EvidenceContext,
  type EvidenceRejection,
  type EvidenceVerdict,
  type NewViewCheck,
  type NewViewFault,
  type NewViewRules,
  verifyEvidence,
} from "./evidence.js";
export { DROP_REASONS, type DropReason, type ReplicaMetrics } from "./metrics.js";
export { initMatches, type LastMigration, Middleware, proofsProblem, type Selection } from "./middleware.js";
export { designatedStateSender } from "./migration-role.js";
export {
  type BatchBody,
  chooseCheckpoint,
  type DecidedBatch,
  type DecidedCheckpoint,
  decideNewView,
  type NewViewDecision,
  type NewViewDecisionInput,
} from "./new-view.js";
export { primaryOf, quorumOf, replicaCountOf, VoteSet, weakQuorumOf } from "./quorum.js";
export { Replica } from "./replica.js";
export {
  membershipKey,
  StandbyNode,
  type StandbyNodeConfig,
  type StandbyNodeDeps,
  type StandbyNodeEffect,
  type StandbyNodeInput,
  type StandbyNodeMetrics,
  type StandbyNodeTimerId,
} from "./standby-node.js";
export {
  decodeState,
  encodeState,
  type StateParts,
  stateDigestOf,
  stateMatchesDigest,
} from "./state-encoding.js";
export {
  type ChunkResult,
  type FetchRequest,
  StateFetch,
  type StateFetchOptions,
  stateChunkOf,
} from "./state-transfer.js";
export {
  buildViewChangeBody,
  type LoggedBatch,
  PRE_PREPARED_DIGESTS_PER_SEQ_MAX,
  viewChangeProblem,
} from "./view-change.js";
export { highWatermarkOf, inWindow, isCheckpointSeq } from "./watermarks.js";
