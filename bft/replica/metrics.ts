/**
 * Counters a replica keeps about itself. Drops are counted by reason so a simulation or a test can
 * tell a Byzantine peer's bad message from an ordinary stale one.
 */
export const DROP_REASONS = [
  "senderKind",
  "senderMismatch",
  "unknownReplica",
  "unexpectedType",
  "wrongView",
  "viewChanging",
  "wrongPrimary",
  "outsideWindow",
  "badDigest",
  "batchTooLarge",
  "conflictingPrePrepare",
  "conflictingVote",
  "duplicate",
  "prepareFromPrimary",
  "staleRequest",
  "duplicateRequest",
  "queueFull",
  "pendingFull",
  "relayUncertified",
  "relayToPrimary",
  "requestUnauthenticated",
  "initMigrationUnauthenticated",
  "badCheckpointSeq",
  "staleCheckpoint",
  "badViewChange",
  "staleViewChange",
  "badNewView",
  "staleNewView",
  "ownNewView",
  "unknownCheckpoint",
  "badChunk",
  "noStateTransfer",
  "notMember",
  "retired",
  "badJoin",
  "badLeave",
  "badSpecial",
  "joinTimeSkew",
  "staleInit",
  "initMismatch",
  "badSignature",
  "staleOnDemand",
  "staleCertificate",
  "staleMigrationDone",
  "badEvidence",
  "staleEvidence",
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export interface ReplicaMetrics {
  readonly dropped: Record<DropReason, number>;
  droppedTotal: number;
  requestsReceived: number;
  requestsExecuted: number;
  repliesResent: number;
  batchesProposed: number;
  batchesExecuted: number;
  checkpointsTaken: number;
  checkpointsStable: number;
  viewChangesStarted: number;
  viewsEntered: number;
  stateTransfersStarted: number;
  stateTransfersCompleted: number;
  stateTransferBadCopies: number;
  stateChunksServed: number;
  retransmissions: number;
  joinsExecuted: number;
  leavesExecuted: number;
  initMigrationsSent: number;
  migrationsExecuted: number;
  /** Ordered MIGRATION-REQUESTs that failed the execution-time check (no-ops everywhere). */
  migrationsRejected: number;
  /** Rounds we passed by state transfer and then vouched for with MIGRATE-NOW (vouchSkippedRound). */
  skippedRoundsVouched: number;
  /** Migration timer expiries that waited for a round's pending target (targetWaitMsMax). */
  migrationTimerHolds: number;
  /** Proofs of a lying primary this replica verified (section 3.4, evidence.ts). */
  evidenceAccepted: number;
}

export function newReplicaMetrics(): ReplicaMetrics {
  const dropped = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
  return {
    dropped,
    droppedTotal: 0,
    requestsReceived: 0,
    requestsExecuted: 0,
    repliesResent: 0,
    batchesProposed: 0,
    batchesExecuted: 0,
    checkpointsTaken: 0,
    checkpointsStable: 0,
    viewChangesStarted: 0,
    viewsEntered: 0,
    stateTransfersStarted: 0,
    stateTransfersCompleted: 0,
    stateTransferBadCopies: 0,
    stateChunksServed: 0,
    retransmissions: 0,
    joinsExecuted: 0,
    leavesExecuted: 0,
    initMigrationsSent: 0,
    migrationsExecuted: 0,
    migrationsRejected: 0,
    skippedRoundsVouched: 0,
    migrationTimerHolds: 0,
    evidenceAccepted: 0,
  };
}
