/**
 * Every queue, batch, message and window in bft/ is sized from a limit named here.
 * Relationships between limits are asserted at module load, with the reason.
 */
import { assert } from "./assert.js";

/** SHA-256 digests everywhere (the paper's SHA1 is no longer a secure hash). */
export const DIGEST_BYTES = 32;
/** HMAC-SHA256 truncated to 128 bits, one per receiver in an authenticator. */
export const MAC_BYTES = 16;
/** Ed25519 signatures (view-change messages and, later, coprocessor-signed messages). */
export const SIGNATURE_BYTES = 64;

/** f = 1, 2, 3 must work; 3f+1 = 10 active replicas at most. */
export const FAULTS_MAX = 3;
export const REPLICAS_MAX = 3 * FAULTS_MAX + 1;

/** One framed message on the wire, all parts included. Large enough for a state chunk plus headers. */
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024;
/** One client operation or result. The echo benchmark uses 1 KiB. */
export const OPERATION_BYTES_MAX = 64 * 1024;
export const RESULT_BYTES_MAX = 64 * 1024;

/** Requests in one PRE-PREPARE batch. */
export const REQUEST_BATCH_MAX = 64;
/** Requests a primary queues while batches are in flight; beyond this new requests are dropped. */
export const CLIENT_QUEUE_MAX = 4096;
/** Clients a replica keeps a last-reply entry for (duplicate suppression). */
export const CLIENTS_MAX = 65536;

/** Checkpoint every K sequence numbers. */
export const CHECKPOINT_INTERVAL_SEQS = 64;
/** High watermark H = h + L. */
export const LOG_WINDOW_SEQS = 2 * CHECKPOINT_INTERVAL_SEQS;

/** Bytes of state in one state-transfer chunk. */
export const STATE_CHUNK_BYTES_MAX = 1024 * 1024;
/** Application state size, the paper measures up to ~80 MB; the kv app goes to 100 MB. */
export const STATE_BYTES_MAX = 128 * 1024 * 1024;

/** Retransmissions of one request before a client gives up on it. */
export const RETRY_COUNT_MAX = 1000;

// The window must hold at least two checkpoint intervals, so a replica can keep ordering
// past one checkpoint while the previous one becomes stable (PBFT section 4.3).
assert(LOG_WINDOW_SEQS >= 2 * CHECKPOINT_INTERVAL_SEQS, "log window holds two checkpoint intervals");
// A full batch of maximal requests must fit in one PRE-PREPARE frame.
assert(
  REQUEST_BATCH_MAX * (OPERATION_BYTES_MAX + 64 + REPLICAS_MAX * MAC_BYTES) < MESSAGE_BYTES_MAX,
  "a full batch fits in one message",
);
// A state chunk plus its header must fit in one frame.
assert(STATE_CHUNK_BYTES_MAX + 1024 < MESSAGE_BYTES_MAX, "a state chunk fits in one message");
assert(REQUEST_BATCH_MAX <= CLIENT_QUEUE_MAX, "a batch can be filled from the queue");
