/**
 * The structural rules every message obeys, in one place. The encoder asserts them on what we
 * build (a violation is our bug) and the decoder applies them to what a peer sent (a violation is
 * dropped and counted). Protocol rules that need state (is this the primary? is the batch digest
 * right?) belong to the cores, not here.
 */
import { unreachable } from "../assert.js";
import {
  DIGEST_BYTES,
  MAC_BYTES,
  OPERATION_BYTES_MAX,
  REPLICAS_MAX,
  REQUEST_BATCH_MAX,
  RESULT_BYTES_MAX,
  SIGNATURE_BYTES,
  STATE_BYTES_MAX,
  STATE_CHUNK_BYTES_MAX,
} from "../limits.js";
import type {
  Batch,
  CheckpointClaim,
  Message,
  NewView,
  PrePrepare,
  Request,
  StateChunk,
  ViewChange,
  ViewChangeEntry,
} from "../messages.js";
import {
  AUTH_BYTES_MAX,
  CHECKPOINT_CLAIMS_MAX,
  NEW_VIEW_PRE_PREPARES_MAX,
  NEW_VIEW_VIEW_CHANGES_MAX,
  STATE_CHUNKS_MAX,
  U32_LIMIT,
  VIEW_CHANGE_BATCHES_MAX,
  VIEW_CHANGE_ENTRIES_MAX,
} from "./bounds.js";
import { validateEvidence, validateMigrationMessage, validateOrderedSpecial } from "./codec-migration.js";
import type { DecodeReason } from "./reasons.js";

type Verdict = DecodeReason | undefined;

const isSafe = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;
const isU32 = (value: number): boolean => Number.isInteger(value) && value >= 0 && value < U32_LIMIT;
const isReplicaId = (value: number): boolean => Number.isInteger(value) && value >= 0 && value < REPLICAS_MAX;

function checkSafe(...values: number[]): Verdict {
  for (const value of values) if (!isSafe(value)) return "integerUnsafe";
  return undefined;
}

function checkDigest(digest: Uint8Array): Verdict {
  return digest.length === DIGEST_BYTES ? undefined : "digestLength";
}

function checkReplicaId(replicaId: number): Verdict {
  return isReplicaId(replicaId) ? undefined : "replicaIdRange";
}

/** Returns the first rule `message` breaks, or undefined when it is well-formed. */
export function validateMessage(message: Message): Verdict {
  switch (message.type) {
    case "Request":
      return validateRequest(message);
    case "Reply":
      return (
        checkSafe(message.view, message.timestamp) ??
        (isU32(message.clientId) ? undefined : "integerUnsafe") ??
        checkReplicaId(message.replicaId) ??
        (message.result.length <= RESULT_BYTES_MAX ? undefined : "resultTooLarge")
      );
    case "PrePrepare":
      return validatePrePrepare(message);
    case "Prepare":
    case "Commit":
      return (
        checkSafe(message.view, message.seq) ??
        checkDigest(message.digest) ??
        checkReplicaId(message.replicaId)
      );
    case "Checkpoint":
      return checkSafe(message.seq) ?? checkDigest(message.stateDigest) ?? checkReplicaId(message.replicaId);
    case "ViewChange":
      return validateViewChange(message);
    case "NewView":
      return validateNewView(message);
    case "Status":
      return (
        checkSafe(message.view, message.lastExecutedSeq, message.stableSeq) ??
        checkReplicaId(message.replicaId)
      );
    case "FetchState":
      return (
        checkSafe(message.seq) ??
        checkDigest(message.stateDigest) ??
        (isU32(message.chunkIndex) && message.chunkIndex < STATE_CHUNKS_MAX ? undefined : "chunkRange") ??
        checkReplicaId(message.replicaId)
      );
    case "StateChunk":
      return validateStateChunk(message);
    case "JoinRequest":
    case "JoinApproved":
    case "LeaveRequest":
    case "InitMigration":
    case "MigrateNow":
    case "NewMembership":
    case "KeyExchange":
    case "MigrationDone":
    case "OnDemandMigration":
    case "MembershipCertificate":
      return validateMigrationMessage(message);
    case "Evidence":
      return validateEvidence(message, validateNewView);
    default:
      return unreachable(message, "message type");
  }
}

export function validateRequest(request: Request): Verdict {
  if (!isU32(request.clientId)) return "integerUnsafe";
  if (!isSafe(request.timestamp)) return "integerUnsafe";
  if (request.operation.length > OPERATION_BYTES_MAX) return "operationTooLarge";
  const auth = request.auth.length;
  if (auth % MAC_BYTES !== 0 || auth > AUTH_BYTES_MAX) return "authLength";
  return undefined;
}

function validateRequests(requests: readonly Request[]): Verdict {
  if (requests.length > REQUEST_BATCH_MAX) return "batchTooLarge";
  for (const request of requests) {
    const verdict = validateRequest(request);
    if (verdict !== undefined) return verdict;
  }
  return undefined;
}

function validateSpecial(batch: Pick<PrePrepare, "requests" | "special">): Verdict {
  if (batch.special === undefined) return undefined;
  if (batch.requests.length > 0) return "specialNotAlone";
  return validateOrderedSpecial(batch.special);
}

function validatePrePrepare(message: PrePrepare): Verdict {
  return (
    checkSafe(message.view, message.seq) ??
    checkDigest(message.digest) ??
    validateRequests(message.requests) ??
    validateSpecial(message)
  );
}

function validateEntries(entries: readonly ViewChangeEntry[]): Verdict {
  if (entries.length > VIEW_CHANGE_ENTRIES_MAX) return "countTooLarge";
  for (const entry of entries) {
    const verdict = checkSafe(entry.seq, entry.view) ?? checkDigest(entry.digest);
    if (verdict !== undefined) return verdict;
  }
  return undefined;
}

function validateClaims(claims: readonly CheckpointClaim[]): Verdict {
  if (claims.length > CHECKPOINT_CLAIMS_MAX) return "countTooLarge";
  for (const claim of claims) {
    const verdict = checkSafe(claim.seq) ?? checkDigest(claim.stateDigest);
    if (verdict !== undefined) return verdict;
  }
  return undefined;
}

function validateBatches(batches: readonly Batch[]): Verdict {
  if (batches.length > VIEW_CHANGE_BATCHES_MAX) return "countTooLarge";
  for (const batch of batches) {
    const verdict = checkDigest(batch.digest) ?? validateRequests(batch.requests) ?? validateSpecial(batch);
    if (verdict !== undefined) return verdict;
  }
  return undefined;
}

/** Everything but the signature: the part a signature covers. */
export function validateViewChangeFields(message: Omit<ViewChange, "signature">): Verdict {
  return (
    checkSafe(message.newView, message.stableSeq) ??
    validateClaims(message.checkpoints) ??
    validateEntries(message.prepared) ??
    validateEntries(message.prePrepared) ??
    validateBatches(message.batches) ??
    checkReplicaId(message.replicaId)
  );
}

function validateViewChange(message: ViewChange): Verdict {
  return (
    validateViewChangeFields(message) ??
    (message.signature.length === SIGNATURE_BYTES ? undefined : "signatureLength")
  );
}

function validateNewView(message: NewView): Verdict {
  const verdict = checkSafe(message.view) ?? checkReplicaId(message.replicaId);
  if (verdict !== undefined) return verdict;
  // Signed by a replica with migration, empty in plain PBFT (messages.ts NewView).
  const signature = message.signature.length;
  if (signature !== 0 && signature !== SIGNATURE_BYTES) return "signatureLength";
  if (message.viewChanges.length > NEW_VIEW_VIEW_CHANGES_MAX) return "countTooLarge";
  if (message.prePrepares.length > NEW_VIEW_PRE_PREPARES_MAX) return "countTooLarge";
  for (const viewChange of message.viewChanges) {
    const nested = validateViewChange(viewChange);
    if (nested !== undefined) return nested;
  }
  for (const prePrepare of message.prePrepares) {
    const nested = validatePrePrepare(prePrepare);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

function validateStateChunk(message: StateChunk): Verdict {
  const verdict =
    checkSafe(message.seq) ?? checkDigest(message.stateDigest) ?? checkReplicaId(message.replicaId);
  if (verdict !== undefined) return verdict;
  if (message.bytes.length > STATE_CHUNK_BYTES_MAX) return "chunkTooLarge";
  if (!isU32(message.chunkCount) || message.chunkCount < 1 || message.chunkCount > STATE_CHUNKS_MAX) {
    return "chunkRange";
  }
  if (!isU32(message.chunkIndex) || message.chunkIndex >= message.chunkCount) return "chunkRange";
  if (!isU32(message.totalBytes) || message.totalBytes > STATE_BYTES_MAX) return "chunkRange";
  if (message.bytes.length > message.totalBytes) return "chunkRange";
  return undefined;
}
