/**
 * Sizes and bounds of the wire format, derived from bft/limits.ts. The encoder computes sizes from
 * these, the decoder rejects anything outside them, and the assertions below check at module load
 * that the two agree with the protocol limits (a change to limits.ts that the wire format cannot
 * carry fails here, not on a peer).
 */
import { assert } from "../assert.js";
import {
  CHECKPOINT_INTERVAL_SEQS,
  DIGEST_BYTES,
  LOG_WINDOW_SEQS,
  MAC_BYTES,
  MESSAGE_BYTES_MAX,
  OPERATION_BYTES_MAX,
  REPLICAS_MAX,
  REQUEST_BATCH_MAX,
  RESULT_BYTES_MAX,
  SIGNATURE_BYTES,
  STATE_BYTES_MAX,
  STATE_CHUNK_BYTES_MAX,
} from "../limits.js";

/**
 * Version byte of an encoded message; bump on any layout change (3: JOIN-APPROVED is signed; 4:
 * MEMBERSHIP-CERTIFICATE carries the round's checkpoint digest; 5: STATUS carries viewActive).
 */
export const CODEC_VERSION = 5;
/**
 * Version byte of a frame header (sender, receivers, MACs). 4: the frame MAC covers header and
 * body directly (1 MACed a digest of the body). 5: the frame MAC of a client's REQUEST and of a
 * PRE-PREPARE of requests covers request digests instead of operations (wire.ts, digestMaced).
 * Never 2 or 3, the authenticator tags (auth.ts).
 */
export const FRAME_VERSION = 5;

/** Views, seqs and timestamps travel as u64 (two u32); a safe integer's high word is below 2^21. */
export const U64_SAFE_HIGH_WORD_LIMIT = 2 ** 21;
/** Client ids, chunk indexes and similar travel as u32. */
export const U32_LIMIT = 2 ** 32;

/** An authenticator holds one MAC per replica, indexed by replica id. */
export const AUTH_BYTES_MAX = REPLICAS_MAX * MAC_BYTES;
/**
 * C set: stable checkpoint h plus every checkpoint inside the window [h, h + L], the retained
 * migration checkpoints included (bft/replica/view-change.ts MIGRATION_CHECKPOINTS_MAX): distinct
 * seqs in [h, h + L], so at most L + 1 whatever that constant is. A replica may be
 * configured with any checkpointIntervalSeqs >= 1 and logWindowSeqs <= LOG_WINDOW_SEQS (see
 * bft/replica/config.ts), so the bound is per seq of the largest window, not per default interval:
 * with the default interval a replica with a short interval would build VIEW-CHANGEs it cannot send.
 */
export const CHECKPOINT_CLAIMS_MAX = LOG_WINDOW_SEQS + 2;
/**
 * P and Q sets: P has at most one entry per seq in the window (h, h + L]; Q keeps up to two digests
 * per seq (bft/replica/view-change.ts PRE_PREPARED_DIGESTS_PER_SEQ_MAX), so one bound of 2L serves both.
 */
export const VIEW_CHANGE_ENTRIES_MAX = 2 * LOG_WINDOW_SEQS;
/** Batches of a VIEW-CHANGE: each digest named by P or Q once; P's digests also appear in Q, so 2L. */
export const VIEW_CHANGE_BATCHES_MAX = 2 * LOG_WINDOW_SEQS + LOG_WINDOW_SEQS;
/** A NEW-VIEW carries 2f+1 VIEW-CHANGEs, never more than one per replica. */
export const NEW_VIEW_VIEW_CHANGES_MAX = REPLICAS_MAX;
/** A NEW-VIEW re-proposes at most one PRE-PREPARE per seq in the window. */
export const NEW_VIEW_PRE_PREPARES_MAX = LOG_WINDOW_SEQS;
/**
 * State is cut into chunks of STATE_CHUNK_BYTES_MAX (the last may be shorter), so a checkpoint has
 * at most this many chunks. A sender that used smaller chunks would exceed it and be rejected.
 */
export const STATE_CHUNKS_MAX = Math.ceil(STATE_BYTES_MAX / STATE_CHUNK_BYTES_MAX);

/** Array counts travel as u16. */
export const COUNT_LIMIT = 2 ** 16;
/** Short byte fields (digests, signatures, authenticators) carry a u8 length. */
export const SHORT_BYTES_LIMIT = 2 ** 8;

/** version + type tag. */
export const MESSAGE_HEADER_BYTES = 2;
/** Replica ids travel as u8. */
export const REPLICA_ID_BYTES = 1;

/**
 * Frame header: version u8, sender kind u8, sender id u32, receiver marker u8, then either the
 * receiver (kind u8, id u32) or the authenticator's entry count (u8).
 */
export const FRAME_HEADER_POINT_BYTES = 12;
export const FRAME_HEADER_BROADCAST_BYTES = 8;
export const FRAME_HEADER_BYTES_MAX = Math.max(FRAME_HEADER_POINT_BYTES, FRAME_HEADER_BROADCAST_BYTES);
export const FRAME_HEADER_BYTES_MIN = Math.min(FRAME_HEADER_POINT_BYTES, FRAME_HEADER_BROADCAST_BYTES);
/** Largest encoded message body: a frame adds at most its header and a full authenticator. */
export const MESSAGE_BODY_BYTES_MAX = MESSAGE_BYTES_MAX - FRAME_HEADER_BYTES_MAX - AUTH_BYTES_MAX;

/** Encoded request inside a batch: clientId u32, timestamp u64, operation (u32 len), auth (u8 len). */
export const REQUEST_FIXED_BYTES = 4 + 8 + 4 + 1;
export const REQUEST_BYTES_MAX = REQUEST_FIXED_BYTES + OPERATION_BYTES_MAX + AUTH_BYTES_MAX;

// Short fields carry a u8 length: every digest, signature and authenticator must fit.
assert(DIGEST_BYTES < SHORT_BYTES_LIMIT, "a digest length fits in a u8");
assert(SIGNATURE_BYTES < SHORT_BYTES_LIMIT, "a signature length fits in a u8");
assert(AUTH_BYTES_MAX < SHORT_BYTES_LIMIT, "an authenticator length fits in a u8");
// Replica ids travel as u8 and authenticator entry counts as u8.
assert(REPLICAS_MAX < SHORT_BYTES_LIMIT, "a replica id fits in a u8");
// Every bounded array count must be representable as u16, else the bound could not be enforced.
for (const bound of [
  REQUEST_BATCH_MAX,
  CHECKPOINT_CLAIMS_MAX,
  VIEW_CHANGE_ENTRIES_MAX,
  VIEW_CHANGE_BATCHES_MAX,
  NEW_VIEW_VIEW_CHANGES_MAX,
  NEW_VIEW_PRE_PREPARES_MAX,
]) {
  assert(Number.isInteger(bound) && bound > 0 && bound < COUNT_LIMIT, "array bound fits in a u16");
}
// Byte lengths and the state size travel as u32.
assert(MESSAGE_BYTES_MAX < U32_LIMIT, "a frame length fits in a u32");
assert(STATE_BYTES_MAX < U32_LIMIT, "the state size fits in a u32");
assert(STATE_CHUNKS_MAX < U32_LIMIT, "a chunk index fits in a u32");
// The C set bound assumes the window is a whole number of checkpoint intervals.
assert(LOG_WINDOW_SEQS % CHECKPOINT_INTERVAL_SEQS === 0, "window is whole checkpoint intervals");
// A full PRE-PREPARE of maximal requests must be encodable: the primary never builds one it cannot send.
assert(
  MESSAGE_HEADER_BYTES + 8 + 8 + 1 + DIGEST_BYTES + 2 + REQUEST_BATCH_MAX * REQUEST_BYTES_MAX <=
    MESSAGE_BODY_BYTES_MAX,
  "a full batch of maximal requests fits in one frame",
);
// A full state chunk with its fixed fields must be encodable.
assert(STATE_CHUNK_BYTES_MAX + 256 <= MESSAGE_BODY_BYTES_MAX, "a state chunk fits in one frame");
assert(RESULT_BYTES_MAX + 256 <= MESSAGE_BODY_BYTES_MAX, "a reply fits in one frame");
assert(MESSAGE_BODY_BYTES_MAX > 0, "frame overhead leaves room for a body");
