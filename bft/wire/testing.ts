/**
 * One well-formed sample of every message type, for tests, benchmarks and the simulator. Digests,
 * authenticators and signatures are filler of the right length, not valid ones: use Wire to make
 * authentic messages.
 */
import { DIGEST_BYTES, MAC_BYTES, SIGNATURE_BYTES } from "../limits.js";
import type { Message, MessageType, PrePrepare, Request, ViewChange } from "../messages.js";

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
    },
    Status: { type: "Status", view: 4, lastExecutedSeq: 1000, stableSeq: 960, replicaId: 2 },
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
  };
}
