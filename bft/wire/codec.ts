/**
 * Binary codec for every message in bft/messages.ts.
 *
 * Layout: version u8, type tag u8, then the fields in the order the message's layout below lists
 * them (bft/wire/fields.ts derives the size, the encoder and the decoder from that one list; the
 * migration messages' layouts are in codec-migration.ts). Views, seqs and
 * timestamps are u64 (two big-endian u32; anything >= 2^53 is rejected on decode), client ids,
 * chunk indexes and sizes u32, replica ids u8, array counts u16. Digests, signatures and
 * authenticators carry a u8 length; operations, results and chunk bytes a u32 length. Requests
 * nested in a batch are written without their own version and tag.
 *
 * The encoding is canonical: a valid message has exactly one encoding, and decode(encode(m))
 * equals m field by field. Encoding computes the exact size first and writes into one buffer.
 *
 * Decoded byte fields (digests, operations, authenticators, chunks...) are subarrays of the input,
 * not copies: the caller must not mutate the input bytes after decoding.
 */
import { assert } from "../assert.js";
import {
  MESSAGE_BYTES_MAX,
  OPERATION_BYTES_MAX,
  REQUEST_BATCH_MAX,
  RESULT_BYTES_MAX,
  STATE_CHUNK_BYTES_MAX,
} from "../limits.js";
import type {
  Batch,
  Checkpoint,
  CheckpointClaim,
  Commit,
  FetchState,
  Message,
  MessageType,
  NewView,
  PrePrepare,
  Prepare,
  Reply,
  Request,
  StateChunk,
  Status,
  ViewChange,
  ViewChangeEntry,
} from "../messages.js";
import {
  CHECKPOINT_CLAIMS_MAX,
  CODEC_VERSION,
  MESSAGE_BODY_BYTES_MAX,
  MESSAGE_HEADER_BYTES,
  NEW_VIEW_PRE_PREPARES_MAX,
  NEW_VIEW_VIEW_CHANGES_MAX,
  REQUEST_FIXED_BYTES,
  VIEW_CHANGE_BATCHES_MAX,
  VIEW_CHANGE_ENTRIES_MAX,
} from "./bounds.js";
import { evidenceLayout, MIGRATION_LAYOUTS, special } from "./codec-migration.js";
import { DecodeFailure, Reader, Writer } from "./cursor.js";
import {
  constant,
  enumByte,
  type FieldCodec,
  list,
  longBytes,
  shortBytes,
  struct,
  u8,
  u32,
  u64,
} from "./fields.js";
import type { DecodeReason } from "./reasons.js";
import { validateMessage, validateViewChangeFields } from "./validate.js";

export type DecodeResult = { ok: true; message: Message } | { ok: false; reason: DecodeReason };

/** Type tags on the wire. Never reuse a retired number. */
export const MESSAGE_TAGS: Readonly<Record<MessageType, number>> = {
  Request: 1,
  Reply: 2,
  PrePrepare: 3,
  Prepare: 4,
  Commit: 5,
  Checkpoint: 6,
  ViewChange: 7,
  NewView: 8,
  Status: 9,
  FetchState: 10,
  StateChunk: 11,
  JoinRequest: 12,
  JoinApproved: 13,
  LeaveRequest: 14,
  InitMigration: 15,
  MigrateNow: 16,
  NewMembership: 17,
  KeyExchange: 18,
  MigrationDone: 19,
  OnDemandMigration: 20,
  Evidence: 21,
  MembershipCertificate: 22,
};
/** Tag of the bytes a VIEW-CHANGE signature covers; never a message on the wire. */
const VIEW_CHANGE_SIGNING_TAG = 0x87;

const TYPES_BY_TAG: ReadonlyMap<number, MessageType> = new Map(
  Object.entries(MESSAGE_TAGS).map(([type, tag]) => [tag, type as MessageType]),
);
assert(TYPES_BY_TAG.size === Object.keys(MESSAGE_TAGS).length, "message tags are distinct");
assert(!TYPES_BY_TAG.has(VIEW_CHANGE_SIGNING_TAG), "signing tag is not a message tag");

// ---------------------------------------------------------------- layouts

const EMPTY = new Uint8Array(0);

const request = struct<Request>({
  type: constant("Request"),
  clientId: u32,
  timestamp: u64,
  operation: longBytes(OPERATION_BYTES_MAX, "operationTooLarge"),
  auth: shortBytes,
});
// Pair the layout with the bound that sizes a batch (bounds.ts) before anything is encoded.
assert(
  request.size({ type: "Request", clientId: 0, timestamp: 0, operation: EMPTY, auth: EMPTY }) ===
    REQUEST_FIXED_BYTES,
  "the request layout's fixed part is REQUEST_FIXED_BYTES",
);

/** An array with a u16 count, refused above `countMax` (the bounds in bounds.ts). */
function countedList<T>(element: FieldCodec<T>, countMax: number): FieldCodec<readonly T[]> {
  return list(element, { countBytes: 2, countMax, reason: "countTooLarge" });
}

const requests = list(request, { countBytes: 2, countMax: REQUEST_BATCH_MAX, reason: "batchTooLarge" });

const prePrepare = struct<PrePrepare>({
  type: constant("PrePrepare"),
  view: u64,
  seq: u64,
  digest: shortBytes,
  requests,
  special,
});

/** PREPARE and COMMIT share their fields. */
const voteFields = { view: u64, seq: u64, digest: shortBytes, replicaId: u8 };

const viewChangeEntries = countedList(
  struct<ViewChangeEntry>({ seq: u64, view: u64, digest: shortBytes }),
  VIEW_CHANGE_ENTRIES_MAX,
);

/** Every VIEW-CHANGE field but the signature: what the signature covers. */
const viewChangeFields = {
  newView: u64,
  stableSeq: u64,
  checkpoints: countedList(
    struct<CheckpointClaim>({ seq: u64, stateDigest: shortBytes }),
    CHECKPOINT_CLAIMS_MAX,
  ),
  prepared: viewChangeEntries,
  prePrepared: viewChangeEntries,
  batches: countedList(struct<Batch>({ digest: shortBytes, requests, special }), VIEW_CHANGE_BATCHES_MAX),
  replicaId: u8,
};

const viewChangeSigned = struct<Omit<ViewChange, "type" | "signature">>(viewChangeFields);

const viewChange = struct<ViewChange>({
  type: constant("ViewChange"),
  ...viewChangeFields,
  signature: shortBytes,
});

const newView = struct<NewView>({
  type: constant("NewView"),
  view: u64,
  viewChanges: countedList(viewChange, NEW_VIEW_VIEW_CHANGES_MAX),
  prePrepares: countedList(prePrepare, NEW_VIEW_PRE_PREPARES_MAX),
  replicaId: u8,
  signature: shortBytes,
});

/** The body layout of every message, by type: the one place a layout is stated. */
const LAYOUTS: { readonly [K in MessageType]: FieldCodec<Extract<Message, { type: K }>> } = {
  Request: request,
  Reply: struct<Reply>({
    type: constant("Reply"),
    view: u64,
    timestamp: u64,
    clientId: u32,
    replicaId: u8,
    result: longBytes(RESULT_BYTES_MAX, "resultTooLarge"),
  }),
  PrePrepare: prePrepare,
  Prepare: struct<Prepare>({ type: constant("Prepare"), ...voteFields }),
  Commit: struct<Commit>({ type: constant("Commit"), ...voteFields }),
  Checkpoint: struct<Checkpoint>({
    type: constant("Checkpoint"),
    seq: u64,
    stateDigest: shortBytes,
    replicaId: u8,
  }),
  ViewChange: viewChange,
  NewView: newView,
  Status: struct<Status>({
    type: constant("Status"),
    view: u64,
    viewActive: enumByte([false, true], "unknownKind"),
    lastExecutedSeq: u64,
    stableSeq: u64,
    replicaId: u8,
  }),
  FetchState: struct<FetchState>({
    type: constant("FetchState"),
    seq: u64,
    stateDigest: shortBytes,
    chunkIndex: u32,
    replicaId: u8,
  }),
  StateChunk: struct<StateChunk>({
    type: constant("StateChunk"),
    seq: u64,
    stateDigest: shortBytes,
    chunkIndex: u32,
    chunkCount: u32,
    totalBytes: u32,
    bytes: longBytes(STATE_CHUNK_BYTES_MAX, "chunkTooLarge"),
    replicaId: u8,
  }),
  Evidence: evidenceLayout(newView),
  ...MIGRATION_LAYOUTS,
};

assert(Object.keys(LAYOUTS).length === TYPES_BY_TAG.size, "every tagged type has a layout");

function layoutOf(type: MessageType): FieldCodec<Message> {
  return LAYOUTS[type] as FieldCodec<Message>;
}

/** Exact byte length of encodeMessage(message). */
export function encodedSize(message: Message): number {
  return MESSAGE_HEADER_BYTES + layoutOf(message.type).size(message);
}

/** True when `message` can travel in one frame; cores that build large messages check this first. */
export function fitsInFrame(message: Message): boolean {
  return encodedSize(message) <= MESSAGE_BODY_BYTES_MAX;
}

// ---------------------------------------------------------------- encoding

/**
 * Writes the encoding of `message` into `target` at `offset`, which must have room for
 * encodedSize(message) bytes; returns the offset after it. Frames use this to avoid a copy.
 */
export function encodeMessageInto(
  message: Message,
  target: Uint8Array,
  offset: number,
  size: number,
): number {
  const verdict = validateMessage(message);
  assert(verdict === undefined, `encoding a malformed ${message.type}: ${verdict}`);
  return encodeMessageUncheckedInto(message, target, offset, size);
}

/** encodeMessageInto without the message rules; see encodeMessageUnchecked. */
export function encodeMessageUncheckedInto(
  message: Message,
  target: Uint8Array,
  offset: number,
  size: number,
): number {
  assert(offset + size <= target.length, "target has room for the message");
  const writer = new Writer(target, offset);
  writer.u8(CODEC_VERSION);
  writer.u8(MESSAGE_TAGS[message.type]);
  layoutOf(message.type).write(writer, message);
  assert(writer.offset === offset + size, "encoded size matches the computed size");
  return writer.offset;
}

/** Encodes a well-formed message (asserted: building a malformed one is our bug). */
export function encodeMessage(message: Message): Uint8Array {
  const size = encodedSize(message);
  assert(size <= MESSAGE_BODY_BYTES_MAX, `${message.type} of ${size} bytes exceeds one frame`);
  const bytes = new Uint8Array(size);
  encodeMessageInto(message, bytes, 0, size);
  return bytes;
}

/**
 * Encodes without checking the message rules (only that each field is representable). For tests
 * and the simulator's Byzantine replicas, which must be able to send what a correct one never does.
 */
export function encodeMessageUnchecked(message: Message): Uint8Array {
  const size = encodedSize(message);
  const bytes = new Uint8Array(size);
  encodeMessageUncheckedInto(message, bytes, 0, size);
  return bytes;
}

/** The bytes a VIEW-CHANGE signature covers: every field but the signature, under its own tag. */
export function viewChangeSigningBytes(message: Omit<ViewChange, "signature">): Uint8Array {
  const verdict = validateViewChangeFields(message);
  assert(verdict === undefined, `signing a malformed ViewChange: ${verdict}`);
  const size = MESSAGE_HEADER_BYTES + viewChangeSigned.size(message);
  const bytes = new Uint8Array(size);
  const writer = new Writer(bytes, 0);
  writer.u8(CODEC_VERSION);
  writer.u8(VIEW_CHANGE_SIGNING_TAG);
  viewChangeSigned.write(writer, message);
  assert(writer.offset === size, "signing bytes size matches the computed size");
  return bytes;
}

// ---------------------------------------------------------------- decoding

/** Decodes bytes[offset, end) as exactly one message. Never throws on any input. */
export function decodeMessageRange(bytes: Uint8Array, offset: number, end: number): DecodeResult {
  assert(offset >= 0 && offset <= end && end <= bytes.length, "decode range inside its bytes");
  if (end - offset > MESSAGE_BYTES_MAX) return { ok: false, reason: "messageTooLarge" };
  try {
    const reader = new Reader(bytes, offset, end);
    if (reader.u8() !== CODEC_VERSION) return { ok: false, reason: "unknownVersion" };
    const type = TYPES_BY_TAG.get(reader.u8());
    if (type === undefined) return { ok: false, reason: "unknownType" };
    const message = layoutOf(type).read(reader);
    if (reader.remaining !== 0) return { ok: false, reason: "trailingBytes" };
    const verdict = validateMessage(message);
    if (verdict !== undefined) return { ok: false, reason: verdict };
    return { ok: true, message };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, reason: error.reason };
    throw error;
  }
}

/**
 * Decodes and validates one message. Never throws on any input; byte fields of the result are
 * subarrays of `bytes`, so `bytes` must not be mutated afterwards.
 */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  return decodeMessageRange(bytes, 0, bytes.length);
}
