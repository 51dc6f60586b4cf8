/**
 * Binary codec for every message in bft/messages.ts.
 *
 * Layout: version u8, type tag u8, then the fields in declaration order. Views, seqs and
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
import { assert, unreachable } from "../assert.js";
import {
  MESSAGE_BYTES_MAX,
  OPERATION_BYTES_MAX,
  REQUEST_BATCH_MAX,
  RESULT_BYTES_MAX,
  STATE_CHUNK_BYTES_MAX,
} from "../limits.js";
import type {
  Batch,
  CheckpointClaim,
  FetchState,
  Message,
  MessageType,
  NewView,
  PrePrepare,
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
import {
  evidenceSize,
  isMigrationType,
  migrationBodySize,
  type NewViewCodec,
  readEvidence,
  readMigrationBody,
  readSpecial,
  specialSize,
  writeEvidence,
  writeMigrationBody,
  writeSpecial,
} from "./codec-migration.js";
import { DecodeFailure, Reader, Writer } from "./cursor.js";
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

// ---------------------------------------------------------------- sizes

const U8 = 1;
const U16 = 2;
const U32 = 4;
const U64 = 8;
const short = (bytes: Uint8Array): number => U8 + bytes.length;
const long = (bytes: Uint8Array): number => U32 + bytes.length;

function requestSize(request: Request): number {
  return REQUEST_FIXED_BYTES + request.operation.length + request.auth.length;
}

function requestsSize(requests: readonly Request[]): number {
  let size = U16;
  for (const request of requests) size += requestSize(request);
  return size;
}

function prePrepareSize(message: PrePrepare): number {
  return U64 + U64 + short(message.digest) + requestsSize(message.requests) + specialSize(message.special);
}

function viewChangeFieldsSize(message: Omit<ViewChange, "signature">): number {
  let size = U64 + U64 + U16 + U16 + U16 + U16 + U8;
  for (const claim of message.checkpoints) size += U64 + short(claim.stateDigest);
  for (const entry of message.prepared) size += U64 + U64 + short(entry.digest);
  for (const entry of message.prePrepared) size += U64 + U64 + short(entry.digest);
  for (const batch of message.batches)
    size += short(batch.digest) + requestsSize(batch.requests) + specialSize(batch.special);
  return size;
}

function newViewSize(message: NewView): number {
  let size = U64 + U16 + U16 + U8;
  for (const viewChange of message.viewChanges)
    size += viewChangeFieldsSize(viewChange) + short(viewChange.signature);
  for (const prePrepare of message.prePrepares) size += prePrepareSize(prePrepare);
  return size + short(message.signature);
}

function bodySize(message: Message): number {
  switch (message.type) {
    case "Request":
      return requestSize(message);
    case "Reply":
      return U64 + U64 + U32 + U8 + long(message.result);
    case "PrePrepare":
      return prePrepareSize(message);
    case "Prepare":
    case "Commit":
      return U64 + U64 + short(message.digest) + U8;
    case "Checkpoint":
      return U64 + short(message.stateDigest) + U8;
    case "ViewChange":
      return viewChangeFieldsSize(message) + short(message.signature);
    case "NewView":
      return newViewSize(message);
    case "Status":
      return U64 + U64 + U64 + U8;
    case "FetchState":
      return U64 + short(message.stateDigest) + U32 + U8;
    case "StateChunk":
      return U64 + short(message.stateDigest) + U32 + U32 + U32 + long(message.bytes) + U8;
    case "Evidence":
      return evidenceSize(message, NEW_VIEW_CODEC);
    default:
      return migrationBodySize(message);
  }
}

/** Exact byte length of encodeMessage(message). */
export function encodedSize(message: Message): number {
  return MESSAGE_HEADER_BYTES + bodySize(message);
}

/** True when `message` can travel in one frame; cores that build large messages check this first. */
export function fitsInFrame(message: Message): boolean {
  return encodedSize(message) <= MESSAGE_BODY_BYTES_MAX;
}

// ---------------------------------------------------------------- writing

function writeRequest(writer: Writer, request: Request): void {
  writer.u32(request.clientId);
  writer.u64(request.timestamp);
  writer.longBytes(request.operation);
  writer.shortBytes(request.auth);
}

function writeRequests(writer: Writer, requests: readonly Request[]): void {
  writer.u16(requests.length);
  for (const request of requests) writeRequest(writer, request);
}

function writePrePrepare(writer: Writer, message: PrePrepare): void {
  writer.u64(message.view);
  writer.u64(message.seq);
  writer.shortBytes(message.digest);
  writeRequests(writer, message.requests);
  writeSpecial(writer, message.special);
}

function writeEntries(writer: Writer, entries: readonly ViewChangeEntry[]): void {
  writer.u16(entries.length);
  for (const entry of entries) {
    writer.u64(entry.seq);
    writer.u64(entry.view);
    writer.shortBytes(entry.digest);
  }
}

function writeViewChangeFields(writer: Writer, message: Omit<ViewChange, "signature">): void {
  writer.u64(message.newView);
  writer.u64(message.stableSeq);
  writer.u16(message.checkpoints.length);
  for (const claim of message.checkpoints) {
    writer.u64(claim.seq);
    writer.shortBytes(claim.stateDigest);
  }
  writeEntries(writer, message.prepared);
  writeEntries(writer, message.prePrepared);
  writer.u16(message.batches.length);
  for (const batch of message.batches) {
    writer.shortBytes(batch.digest);
    writeRequests(writer, batch.requests);
    writeSpecial(writer, batch.special);
  }
  writer.u8(message.replicaId);
}

function writeNewView(writer: Writer, message: NewView): void {
  writer.u64(message.view);
  writer.u16(message.viewChanges.length);
  for (const viewChange of message.viewChanges) {
    writeViewChangeFields(writer, viewChange);
    writer.shortBytes(viewChange.signature);
  }
  writer.u16(message.prePrepares.length);
  for (const prePrepare of message.prePrepares) writePrePrepare(writer, prePrepare);
  writer.u8(message.replicaId);
  writer.shortBytes(message.signature);
}

function writeBody(writer: Writer, message: Message): void {
  switch (message.type) {
    case "Request":
      writeRequest(writer, message);
      return;
    case "Reply":
      writer.u64(message.view);
      writer.u64(message.timestamp);
      writer.u32(message.clientId);
      writer.u8(message.replicaId);
      writer.longBytes(message.result);
      return;
    case "PrePrepare":
      writePrePrepare(writer, message);
      return;
    case "Prepare":
    case "Commit":
      writer.u64(message.view);
      writer.u64(message.seq);
      writer.shortBytes(message.digest);
      writer.u8(message.replicaId);
      return;
    case "Checkpoint":
      writer.u64(message.seq);
      writer.shortBytes(message.stateDigest);
      writer.u8(message.replicaId);
      return;
    case "ViewChange":
      writeViewChangeFields(writer, message);
      writer.shortBytes(message.signature);
      return;
    case "NewView":
      writeNewView(writer, message);
      return;
    case "Status":
    case "FetchState":
    case "StateChunk":
      writeStateBody(writer, message);
      return;
    case "Evidence":
      writeEvidence(writer, message, NEW_VIEW_CODEC);
      return;
    default:
      writeMigrationBody(writer, message);
  }
}

function writeStateBody(writer: Writer, message: Status | FetchState | StateChunk): void {
  switch (message.type) {
    case "Status":
      writer.u64(message.view);
      writer.u64(message.lastExecutedSeq);
      writer.u64(message.stableSeq);
      writer.u8(message.replicaId);
      return;
    case "FetchState":
      writer.u64(message.seq);
      writer.shortBytes(message.stateDigest);
      writer.u32(message.chunkIndex);
      writer.u8(message.replicaId);
      return;
    case "StateChunk":
      writeStateChunk(writer, message);
      return;
    default:
      unreachable(message, "message type");
  }
}

function writeStateChunk(writer: Writer, message: StateChunk): void {
  writer.u64(message.seq);
  writer.shortBytes(message.stateDigest);
  writer.u32(message.chunkIndex);
  writer.u32(message.chunkCount);
  writer.u32(message.totalBytes);
  writer.longBytes(message.bytes);
  writer.u8(message.replicaId);
}

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
  writeBody(writer, message);
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
  const size = MESSAGE_HEADER_BYTES + viewChangeFieldsSize(message);
  const bytes = new Uint8Array(size);
  const writer = new Writer(bytes, 0);
  writer.u8(CODEC_VERSION);
  writer.u8(VIEW_CHANGE_SIGNING_TAG);
  writeViewChangeFields(writer, message);
  assert(writer.offset === size, "signing bytes size matches the computed size");
  return bytes;
}

// ---------------------------------------------------------------- reading

/** EVIDENCE nests a whole NEW-VIEW; codec-migration.ts gets this file's NEW-VIEW codec handed in. */
const NEW_VIEW_CODEC: NewViewCodec = {
  size: (message) => newViewSize(message),
  write: (writer, message) => writeNewView(writer, message),
  read: (reader) => readNewView(reader),
};

function readRequest(reader: Reader): Request {
  const clientId = reader.u32();
  const timestamp = reader.u64();
  const operation = reader.longBytes(OPERATION_BYTES_MAX, "operationTooLarge");
  const auth = reader.shortBytes();
  return { type: "Request", clientId, timestamp, operation, auth };
}

function readRequests(reader: Reader, countMax: number): Request[] {
  const count = reader.count(countMax, "batchTooLarge");
  const requests: Request[] = [];
  for (let index = 0; index < count; index++) requests.push(readRequest(reader));
  return requests;
}

function readPrePrepare(reader: Reader): PrePrepare {
  const view = reader.u64();
  const seq = reader.u64();
  const digest = reader.shortBytes();
  const requests = readRequests(reader, REQUEST_BATCH_MAX);
  const special = readSpecial(reader);
  if (special === undefined) return { type: "PrePrepare", view, seq, digest, requests };
  return { type: "PrePrepare", view, seq, digest, requests, special };
}

function readEntries(reader: Reader): ViewChangeEntry[] {
  const count = reader.count(VIEW_CHANGE_ENTRIES_MAX, "countTooLarge");
  const entries: ViewChangeEntry[] = [];
  for (let index = 0; index < count; index++) {
    const seq = reader.u64();
    const view = reader.u64();
    entries.push({ seq, view, digest: reader.shortBytes() });
  }
  return entries;
}

function readViewChange(reader: Reader): ViewChange {
  const newView = reader.u64();
  const stableSeq = reader.u64();
  const claimCount = reader.count(CHECKPOINT_CLAIMS_MAX, "countTooLarge");
  const checkpoints: CheckpointClaim[] = [];
  for (let index = 0; index < claimCount; index++) {
    checkpoints.push({ seq: reader.u64(), stateDigest: reader.shortBytes() });
  }
  const prepared = readEntries(reader);
  const prePrepared = readEntries(reader);
  const batchCount = reader.count(VIEW_CHANGE_BATCHES_MAX, "countTooLarge");
  const batches: Batch[] = [];
  for (let index = 0; index < batchCount; index++) {
    const digest = reader.shortBytes();
    const requests = readRequests(reader, REQUEST_BATCH_MAX);
    const special = readSpecial(reader);
    batches.push(special === undefined ? { digest, requests } : { digest, requests, special });
  }
  const replicaId = reader.u8();
  const signature = reader.shortBytes();
  return {
    type: "ViewChange",
    newView,
    stableSeq,
    checkpoints,
    prepared,
    prePrepared,
    batches,
    replicaId,
    signature,
  };
}

function readNewView(reader: Reader): NewView {
  const view = reader.u64();
  const viewChangeCount = reader.count(NEW_VIEW_VIEW_CHANGES_MAX, "countTooLarge");
  const viewChanges: ViewChange[] = [];
  for (let index = 0; index < viewChangeCount; index++) viewChanges.push(readViewChange(reader));
  const prePrepareCount = reader.count(NEW_VIEW_PRE_PREPARES_MAX, "countTooLarge");
  const prePrepares: PrePrepare[] = [];
  for (let index = 0; index < prePrepareCount; index++) prePrepares.push(readPrePrepare(reader));
  const replicaId = reader.u8();
  return { type: "NewView", view, viewChanges, prePrepares, replicaId, signature: reader.shortBytes() };
}

function readStateChunk(reader: Reader): StateChunk {
  const seq = reader.u64();
  const stateDigest = reader.shortBytes();
  const chunkIndex = reader.u32();
  const chunkCount = reader.u32();
  const totalBytes = reader.u32();
  const bytes = reader.longBytes(STATE_CHUNK_BYTES_MAX, "chunkTooLarge");
  const replicaId = reader.u8();
  return { type: "StateChunk", seq, stateDigest, chunkIndex, chunkCount, totalBytes, bytes, replicaId };
}

function readBody(reader: Reader, type: MessageType): Message {
  switch (type) {
    case "Request":
      return readRequest(reader);
    case "Reply": {
      const view = reader.u64();
      const timestamp = reader.u64();
      const clientId = reader.u32();
      const replicaId = reader.u8();
      const result = reader.longBytes(RESULT_BYTES_MAX, "resultTooLarge");
      return { type: "Reply", view, timestamp, clientId, replicaId, result };
    }
    case "PrePrepare":
      return readPrePrepare(reader);
    case "Prepare":
    case "Commit":
      return {
        type,
        view: reader.u64(),
        seq: reader.u64(),
        digest: reader.shortBytes(),
        replicaId: reader.u8(),
      };
    case "Checkpoint":
      return { type, seq: reader.u64(), stateDigest: reader.shortBytes(), replicaId: reader.u8() };
    case "ViewChange":
      return readViewChange(reader);
    case "NewView":
      return readNewView(reader);
    case "Status": {
      const view = reader.u64();
      const lastExecutedSeq = reader.u64();
      return { type, view, lastExecutedSeq, stableSeq: reader.u64(), replicaId: reader.u8() };
    }
    case "FetchState": {
      const seq = reader.u64();
      const stateDigest = reader.shortBytes();
      return { type, seq, stateDigest, chunkIndex: reader.u32(), replicaId: reader.u8() };
    }
    case "StateChunk":
      return readStateChunk(reader);
    case "Evidence":
      return readEvidence(reader, NEW_VIEW_CODEC);
    default:
      if (isMigrationType(type)) return readMigrationBody(reader, type);
      return unreachable(type, "message type");
  }
}

/** Decodes bytes[offset, end) as exactly one message. Never throws on any input. */
export function decodeMessageRange(bytes: Uint8Array, offset: number, end: number): DecodeResult {
  assert(offset >= 0 && offset <= end && end <= bytes.length, "decode range inside its bytes");
  if (end - offset > MESSAGE_BYTES_MAX) return { ok: false, reason: "messageTooLarge" };
  try {
    const reader = new Reader(bytes, offset, end);
    if (reader.u8() !== CODEC_VERSION) return { ok: false, reason: "unknownVersion" };
    const type = TYPES_BY_TAG.get(reader.u8());
    if (type === undefined) return { ok: false, reason: "unknownType" };
    const message = readBody(reader, type);
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
