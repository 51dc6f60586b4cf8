/**
 * Stable reason codes for input the wire layer rejects. Peers may be Byzantine, so malformed or
 * unauthentic input is an operating error: it is dropped and counted under one of these codes,
 * never asserted on. The codes are part of the public surface (counters, logs): rename none.
 */

/** Why decodeMessage rejected bytes. */
export const DECODE_REASONS = [
  /** Input longer than MESSAGE_BYTES_MAX. */
  "messageTooLarge",
  /** A field or count runs past the end of the input. */
  "truncated",
  /** Bytes left after the last field. */
  "trailingBytes",
  "unknownVersion",
  "unknownType",
  /** A u64 at or above 2^53 (not a safe integer). */
  "integerUnsafe",
  /** A digest that is not DIGEST_BYTES long. */
  "digestLength",
  /** A signature that is not SIGNATURE_BYTES long. */
  "signatureLength",
  /** An authenticator that is not a whole number of MACs, or has more than REPLICAS_MAX. */
  "authLength",
  /** A replica id at or above REPLICAS_MAX. */
  "replicaIdRange",
  "operationTooLarge",
  "resultTooLarge",
  /** More than REQUEST_BATCH_MAX requests in one batch. */
  "batchTooLarge",
  /** Any other array above its bound (see bounds.ts). */
  "countTooLarge",
  /** State chunk bytes above STATE_CHUNK_BYTES_MAX. */
  "chunkTooLarge",
  /** Chunk index, chunk count or total state size out of range or inconsistent. */
  "chunkRange",
  /** A node id at or above NODES_MAX. */
  "nodeIdRange",
  /** A CM replica id at or above CM_REPLICAS_MAX. */
  "cmIdRange",
  /** A public key of the wrong length. */
  "keyLength",
  /** An address that is empty, too long or not printable ASCII. */
  "addressInvalid",
  /** A repeated id in a set (S, D, P, members). */
  "duplicateEntry",
  /** An unknown enumeration value (trigger, special entry kind). */
  "unknownKind",
  /** A PRE-PREPARE or batch with both a special entry and client requests. */
  "specialNotAlone",
] as const;
export type DecodeReason = (typeof DECODE_REASONS)[number];

/** Why Wire.open dropped a frame (in the order open() checks). */
export const FRAME_REASONS = [
  /** Frame shorter than a header or longer than MESSAGE_BYTES_MAX. */
  "frameSize",
  /**
   * Unknown frame version, principal kind or receiver marker, a body that does not fit, or a MAC
   * form (receiver marker) that is not the one its message takes (wire.ts, digestMaced).
   */
  "frameHeader",
  /** Sender id out of range (replica id >= n). */
  "senderRange",
  /**
   * The receiver said, before authentication, that it has no use for this message (Wire.open's
   * `wanted`): a reply to a request already completed, a vote for a slot already decided.
   */
  "unneeded",
  /** Point-to-point frame addressed to someone else, or a broadcast received by a client. */
  "wrongReceiver",
  /** The authenticator has no entry for this replica. */
  "macMissing",
  "macInvalid",
  /** A frame between nodes that needs a session key (KEY-EXCHANGE) from a node we have none with. */
  "sessionKeyMissing",
  /** This message type may not come from this kind of sender or go to this kind of receiver. */
  "wrongDirection",
  /** The replicaId (or clientId) field inside the message differs from the authenticated sender. */
  "senderMismatch",
  /** A client request without a valid MAC entry for this replica. */
  "requestAuthInvalid",
  /** A VIEW-CHANGE (direct, or nested in a NEW-VIEW) whose signature does not verify. */
  "signatureInvalid",
  /** An INIT-MIGRATION (direct, or a proof in a MIGRATION-REQUEST) without a valid MAC entry for us. */
  "initMigrationAuthInvalid",
] as const;
export type FrameReason = (typeof FRAME_REASONS)[number];

export type DropReason = DecodeReason | FrameReason;
export const DROP_REASONS: readonly DropReason[] = [...FRAME_REASONS, ...DECODE_REASONS];
