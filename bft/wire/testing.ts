/**
 * One well-formed sample of every message type, for tests, benchmarks and the simulator. Digests,
 * authenticators and signatures are filler of the right length, not valid ones: use Wire to make
 * authentic messages.
 */
import { DIGEST_BYTES, MAC_BYTES, SIGNATURE_BYTES } from "../limits.js";
import type {
  InitMigration,
  JoinRequest,
  Message,
  MessageType,
  PrePrepare,
  Request,
  ViewChange,
} from "../messages.js";

export function filledBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = (seed * 31 + index * 7) & 0xff;
  return bytes;
}

export function sampleRequest(clientId: number, timestamp: number, operationBytes = 16): Request {
  return {
    type: "Request",
    clientId,
    timestamp,
    operation: filledBytes(operationBytes, timestamp),
    auth: filledBytes(4 * MAC_BYTES, clientId),
  };
}

export function samplePrePrepare(seq: number, requestCount = 3): PrePrepare {
  return {
    type: "PrePrepare",
    view: 2,
    seq,
    digest: filledBytes(DIGEST_BYTES, seq),
    requests: Array.from({ length: requestCount }, (_, index) =>
      sampleRequest(100 + index, seq * 10 + index),
    ),
  };
}

export function sampleViewChange(replicaId: number): ViewChange {
  return {
    type: "ViewChange",
    newView: 3,
    stableSeq: 128,
    checkpoints: [
      { seq: 128, stateDigest: filledBytes(DIGEST_BYTES, 1) },
      { seq: 192, stateDigest: filledBytes(DIGEST_BYTES, 2) },
    ],
    prepared: [{ seq: 129, view: 2, digest: filledBytes(DIGEST_BYTES, 3) }],
    prePrepared: [
      { seq: 129, view: 2, digest: filledBytes(DIGEST_BYTES, 3) },
      { seq: 130, view: 1, digest: filledBytes(DIGEST_BYTES, 4) },
    ],
    batches: [
      { digest: filledBytes(DIGEST_BYTES, 3), requests: [sampleRequest(7, 70)] },
      { digest: filledBytes(DIGEST_BYTES, 4), requests: [] },
    ],
    replicaId,
    signature: filledBytes(SIGNATURE_BYTES, replicaId),
  };
}

export function sampleInitMigration(replicaId: number): InitMigration {
  return {
    type: "InitMigration",
    view: 2,
    migrationNumber: 5,
    sources: [3, 2],
    targets: [17, 12],
    trigger: "timer",
    replicaId,
    auth: filledBytes(7 * MAC_BYTES, replicaId),
  };
}

export function sampleJoinRequest(nodeId: number): JoinRequest {
  return {
    type: "JoinRequest",
    counter: 9,
    nodeId,
    publicKey: filledBytes(32, nodeId),
    address: `10.2.0.${nodeId}:7000`,
    signature: filledBytes(SIGNATURE_BYTES, nodeId),
  };
}

/** A PRE-PREPARE carrying a MIGRATION-REQUEST with three proofs (f = 1). */
export function sampleMigrationPrePrepare(seq: number): PrePrepare {
  const proofs = [0, 1, 3].map(sampleInitMigration);
  const { view, migrationNumber, sources, targets, trigger } = proofs[0]!;
  return {
    type: "PrePrepare",
    view: 2,
    seq,
    digest: filledBytes(DIGEST_BYTES, seq),
    requests: [],
    special: {
      kind: "migration",
      request: { type: "MigrationRequest", view, migrationNumber, sources, targets, trigger, proofs },
    },
  };
}

/** One sample per message type, keyed by type. */
export function sampleMessages(): Record<MessageType, Message> {
  const digest = filledBytes(DIGEST_BYTES, 9);
  return {
    Request: sampleRequest(42, 2 ** 53 - 1, 1024),
    Reply: { type: "Reply", view: 5, timestamp: 17, clientId: 42, replicaId: 3, result: filledBytes(100, 5) },
    PrePrepare: samplePrePrepare(77),
    Prepare: { type: "Prepare", view: 1, seq: 2 ** 40 + 3, digest, replicaId: 1 },
    Commit: { type: "Commit", view: 1, seq: 9, digest, replicaId: 2 },
    Checkpoint: { type: "Checkpoint", seq: 128, stateDigest: digest, replicaId: 0 },
    ViewChange: sampleViewChange(1),
    NewView: {
      type: "NewView",
      view: 3,
      viewChanges: [sampleViewChange(0), sampleViewChange(1), sampleViewChange(2)],
      prePrepares: [samplePrePrepare(129, 1), { ...samplePrePrepare(130, 0), view: 3 }],
      replicaId: 3,
      signature: filledBytes(SIGNATURE_BYTES, 3),
    },
    Status: {
      type: "Status",
      view: 4,
      viewActive: true,
      lastExecutedSeq: 1000,
      stableSeq: 960,
      replicaId: 2,
    },
    FetchState: { type: "FetchState", seq: 960, stateDigest: digest, chunkIndex: 5, replicaId: 1 },
    StateChunk: {
      type: "StateChunk",
      seq: 960,
      stateDigest: digest,
      chunkIndex: 1,
      chunkCount: 3,
      totalBytes: 5000,
      bytes: filledBytes(2000, 8),
      replicaId: 0,
    },
    JoinRequest: sampleJoinRequest(17),
    JoinApproved: {
      type: "JoinApproved",
      counter: 9,
      seq: 33,
      nodeId: 17,
      replicaId: 2,
      signature: filledBytes(SIGNATURE_BYTES, 6),
    },
    LeaveRequest: {
      type: "LeaveRequest",
      nodeId: 17,
      counter: 9,
      cmId: 1,
      signature: filledBytes(SIGNATURE_BYTES, 4),
    },
    InitMigration: sampleInitMigration(1),
    MigrateNow: {
      type: "MigrateNow",
      view: 2,
      seq: 130,
      checkpointDigest: digest,
      pairs: [
        { replicaId: 3, sourceNodeId: 3, targetNodeId: 17 },
        { replicaId: 2, sourceNodeId: 2, targetNodeId: 12 },
      ],
      replicaId: 1,
      signature: filledBytes(SIGNATURE_BYTES, 5),
    },
    NewMembership: {
      type: "NewMembership",
      view: 2,
      seq: 130,
      pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 17 }],
      members: [0, 1, 2, 3].map((replicaId) => ({
        replicaId,
        nodeId: replicaId === 3 ? 17 : replicaId,
        address: `10.1.0.${replicaId}:7000`,
      })),
      replicaId: 0,
      signature: filledBytes(SIGNATURE_BYTES, 6),
    },
    MembershipCertificate: {
      type: "MembershipCertificate",
      seq: 130,
      checkpointDigest: filledBytes(DIGEST_BYTES, 9),
      members: [0, 1, 2, 3].map((replicaId) => ({
        replicaId,
        nodeId: replicaId === 3 ? 17 : replicaId,
        address: `10.1.0.${replicaId}:7000`,
      })),
      cmId: 0,
      signature: filledBytes(SIGNATURE_BYTES, 8),
    },
    KeyExchange: {
      type: "KeyExchange",
      nodeId: 17,
      replicaId: null,
      counter: 9,
      peerNodeId: 2,
      peerCounter: 0,
      keyAgreementPublicKey: filledBytes(32, 7),
      signature: filledBytes(SIGNATURE_BYTES, 7),
    },
    MigrationDone: { type: "MigrationDone", seq: 130, nodeId: 17, replicaId: 3 },
    OnDemandMigration: {
      type: "OnDemandMigration",
      replicaIds: [2],
      counter: 4,
      cmId: 0,
      signature: filledBytes(SIGNATURE_BYTES, 8),
    },
    Evidence: {
      type: "Evidence",
      newView: {
        type: "NewView",
        view: 5,
        viewChanges: [sampleViewChange(0), sampleViewChange(2), sampleViewChange(3)],
        prePrepares: [{ ...samplePrePrepare(129, 1), view: 5 }],
        replicaId: 1,
        signature: filledBytes(SIGNATURE_BYTES, 9),
      },
      offenderNodeId: 17,
      replicaId: 2,
    },
  };
}
