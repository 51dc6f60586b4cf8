/**
 * Codec and structural rules for the migration messages (paper section 3) and for the special
 * entries a PRE-PREPARE or a VIEW-CHANGE batch may carry instead of client requests. Split from
 * codec.ts to keep each file about one thing; codec.ts dispatches here by message type.
 *
 * Layout rules are codec.ts's: fields in declaration order, u64 for views, seqs, counters and
 * times; u32 for node ids; u8 for replica ids, cm ids, kinds and small counts; byte fields with a
 * u8 length; addresses as printable ASCII with a u8 length.
 */
import { unreachable } from "../assert.js";
import { DIGEST_BYTES, FAULTS_MAX, MAC_BYTES, REPLICAS_MAX, SIGNATURE_BYTES } from "../limits.js";
import type {
  Evidence,
  InitMigration,
  JoinApproved,
  JoinRequest,
  KeyExchange,
  LeaveRequest,
  MemberAddress,
  MembershipCertificate,
  MigrateNow,
  MigrationDone,
  MigrationMessage,
  MigrationPair,
  MigrationRequest,
  NewMembership,
  NewView,
  OnDemandMigration,
  OrderedSpecial,
} from "../messages.js";
import {
  ADDRESS_CHARS_MAX,
  CM_REPLICAS_MAX,
  KEY_AGREEMENT_KEY_BYTES,
  NODES_MAX,
} from "../migration/limits.js";
import { AUTH_BYTES_MAX } from "./bounds.js";
import { DecodeFailure, type Reader, type Writer } from "./cursor.js";
import type { DecodeReason } from "./reasons.js";

type Verdict = DecodeReason | undefined;

/** Migration messages of fixed shape; EVIDENCE nests a NEW-VIEW and has its own functions below. */
type FlatMigrationMessage = Exclude<MigrationMessage, Evidence>;

/**
 * The NEW-VIEW codec and rules live in codec.ts and validate.ts, which import this file; they are
 * handed to the EVIDENCE functions rather than imported back, so the modules form no cycle.
 */
export interface NewViewCodec {
  size(message: NewView): number;
  write(writer: Writer, message: NewView): void;
  read(reader: Reader): NewView;
}

const U8 = 1;
const U32 = 4;
const U64 = 8;
const PUBLIC_KEY_BYTES = 32;
/** INIT-MIGRATION proofs in a MIGRATION-REQUEST: 2f+1, never more than one per replica. */
export const MIGRATION_PROOFS_MAX = REPLICAS_MAX;
/** S, D and P name f replicas or nodes at most; an on-demand request names 1..f replicas. */
export const MIGRATION_SET_MAX = FAULTS_MAX;
/** NEW-MEMBERSHIP lists every member: 3f+1. */
export const MEMBERS_MAX = REPLICAS_MAX;

const TRIGGERS = ["timer", "onDemand"] as const;
const SPECIAL_KINDS = ["migration", "join", "leave"] as const;

// ---------------------------------------------------------------- checks

const isSafe = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;
const isNodeId = (value: number): boolean => Number.isInteger(value) && value >= 0 && value < NODES_MAX;
const isReplicaId = (value: number): boolean => Number.isInteger(value) && value >= 0 && value < REPLICAS_MAX;

function checkAddress(address: string): Verdict {
  if (address.length === 0 || address.length > ADDRESS_CHARS_MAX) return "addressInvalid";
  for (let index = 0; index < address.length; index++) {
    const code = address.charCodeAt(index);
    if (code < 0x20 || code > 0x7e) return "addressInvalid";
  }
  return undefined;
}

function checkIds(ids: readonly number[], valid: (id: number) => boolean, allowEmpty: boolean): Verdict {
  if (ids.length > MIGRATION_SET_MAX || (!allowEmpty && ids.length === 0)) return "countTooLarge";
  if (new Set(ids).size !== ids.length) return "duplicateEntry";
  return ids.every(valid) ? undefined : "nodeIdRange";
}

function checkPairs(pairs: readonly MigrationPair[]): Verdict {
  if (pairs.length === 0 || pairs.length > MIGRATION_SET_MAX) return "countTooLarge";
  for (const pair of pairs) {
    if (!isReplicaId(pair.replicaId)) return "replicaIdRange";
    if (!isNodeId(pair.sourceNodeId) || !isNodeId(pair.targetNodeId)) return "nodeIdRange";
  }
  if (new Set(pairs.map((pair) => pair.replicaId)).size !== pairs.length) return "duplicateEntry";
  return undefined;
}

function checkSignature(signature: Uint8Array): Verdict {
  return signature.length === SIGNATURE_BYTES ? undefined : "signatureLength";
}

function checkAuth(auth: Uint8Array): Verdict {
  return auth.length % MAC_BYTES === 0 && auth.length <= AUTH_BYTES_MAX ? undefined : "authLength";
}

function checkFirst(...verdicts: (() => Verdict)[]): Verdict {
  for (const verdict of verdicts) {
    const result = verdict();
    if (result !== undefined) return result;
  }
  return undefined;
}

export function validateJoinRequest(message: JoinRequest): Verdict {
  return checkFirst(
    () => (isSafe(message.counter) ? undefined : "integerUnsafe"),
    () => (isNodeId(message.nodeId) ? undefined : "nodeIdRange"),
    () => (message.publicKey.length === PUBLIC_KEY_BYTES ? undefined : "keyLength"),
    () => checkAddress(message.address),
    () => checkSignature(message.signature),
  );
}

export function validateLeaveRequest(message: LeaveRequest): Verdict {
  return checkFirst(
    () => (isSafe(message.counter) ? undefined : "integerUnsafe"),
    () => (isNodeId(message.nodeId) ? undefined : "nodeIdRange"),
    () => (message.cmId < CM_REPLICAS_MAX && Number.isInteger(message.cmId) ? undefined : "cmIdRange"),
    () => checkSignature(message.signature),
  );
}

function validateInitFields(message: Omit<InitMigration, "type" | "auth" | "replicaId">): Verdict {
  return checkFirst(
    () => (isSafe(message.view) && isSafe(message.migrationNumber) ? undefined : "integerUnsafe"),
    () => checkIds(message.sources, isReplicaId, false),
    () => checkIds(message.targets, isNodeId, false),
    () => (message.sources.length === message.targets.length ? undefined : "countTooLarge"),
    () => (TRIGGERS.includes(message.trigger) ? undefined : "unknownKind"),
  );
}

export function validateInitMigration(message: InitMigration): Verdict {
  return checkFirst(
    () => validateInitFields(message),
    () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
    () => checkAuth(message.auth),
  );
}

export function validateMigrationRequest(message: MigrationRequest): Verdict {
  if (message.proofs.length === 0 || message.proofs.length > MIGRATION_PROOFS_MAX) return "countTooLarge";
  return checkFirst(
    () => validateInitFields(message),
    ...message.proofs.map((proof) => () => validateInitMigration(proof)),
  );
}

export function validateOrderedSpecial(special: OrderedSpecial): Verdict {
  switch (special.kind) {
    case "migration":
      return validateMigrationRequest(special.request);
    case "join":
      return (
        validateJoinRequest(special.request) ?? (isSafe(special.joinTimeMs) ? undefined : "integerUnsafe")
      );
    case "leave":
      return validateLeaveRequest(special.request);
    default:
      return "unknownKind";
  }
}

function validateMembers(members: readonly MemberAddress[]): Verdict {
  if (members.length === 0 || members.length > MEMBERS_MAX) return "countTooLarge";
  for (const member of members) {
    if (!isReplicaId(member.replicaId)) return "replicaIdRange";
    if (!isNodeId(member.nodeId)) return "nodeIdRange";
    const verdict = checkAddress(member.address);
    if (verdict !== undefined) return verdict;
  }
  if (new Set(members.map((member) => member.replicaId)).size !== members.length) return "duplicateEntry";
  return undefined;
}

export function validateMigrationMessage(message: FlatMigrationMessage): Verdict {
  switch (message.type) {
    case "JoinRequest":
      return validateJoinRequest(message);
    case "JoinApproved":
      return checkFirst(
        () => (isSafe(message.counter) && isSafe(message.seq) ? undefined : "integerUnsafe"),
        () => (isNodeId(message.nodeId) ? undefined : "nodeIdRange"),
        () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
      );
    case "LeaveRequest":
      return validateLeaveRequest(message);
    case "InitMigration":
      return validateInitMigration(message);
    case "MigrateNow":
      return checkFirst(
        () => (isSafe(message.view) && isSafe(message.seq) ? undefined : "integerUnsafe"),
        () => (message.checkpointDigest.length === DIGEST_BYTES ? undefined : "digestLength"),
        () => checkPairs(message.pairs),
        () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
        () => checkSignature(message.signature),
      );
    case "NewMembership":
      return checkFirst(
        () => (isSafe(message.view) && isSafe(message.seq) ? undefined : "integerUnsafe"),
        () => checkPairs(message.pairs),
        () => validateMembers(message.members),
        () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
        () => checkSignature(message.signature),
      );
    case "KeyExchange":
      return checkFirst(
        () => (isSafe(message.counter) ? undefined : "integerUnsafe"),
        () => (isNodeId(message.nodeId) ? undefined : "nodeIdRange"),
        () => (message.replicaId === null || isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
        () => (isNodeId(message.peerNodeId) ? undefined : "nodeIdRange"),
        () => (isSafe(message.peerCounter) ? undefined : "integerUnsafe"),
        () => (message.keyAgreementPublicKey.length === KEY_AGREEMENT_KEY_BYTES ? undefined : "keyLength"),
        () => checkSignature(message.signature),
      );
    case "MigrationDone":
      return checkFirst(
        () => (isSafe(message.seq) ? undefined : "integerUnsafe"),
        () => (isNodeId(message.nodeId) ? undefined : "nodeIdRange"),
        () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
      );
    case "OnDemandMigration":
      return checkFirst(
        () => (isSafe(message.counter) ? undefined : "integerUnsafe"),
        () => checkIds(message.replicaIds, isReplicaId, false),
        () => (message.cmId < CM_REPLICAS_MAX && Number.isInteger(message.cmId) ? undefined : "cmIdRange"),
        () => checkSignature(message.signature),
      );
    case "MembershipCertificate":
      return checkFirst(
        () => (isSafe(message.seq) ? undefined : "integerUnsafe"),
        () => validateMembers(message.members),
        () => (message.cmId < CM_REPLICAS_MAX && Number.isInteger(message.cmId) ? undefined : "cmIdRange"),
        () => checkSignature(message.signature),
      );
    default:
      return unreachable(message, "migration message type");
  }
}

// ---------------------------------------------------------------- sizes

const short = (bytes: Uint8Array): number => U8 + bytes.length;
const text = (value: string): number => U8 + new TextEncoder().encode(value).length;
const ids = (values: readonly number[], width: number): number => U8 + values.length * width;
const pairsSize = (pairs: readonly MigrationPair[]): number => U8 + pairs.length * (U8 + U32 + U32);

function membersSize(members: readonly MemberAddress[]): number {
  let size = U8;
  for (const member of members) size += U8 + U32 + text(member.address);
  return size;
}

function initSize(message: InitMigration): number {
  return U64 + U64 + ids(message.sources, U8) + ids(message.targets, U32) + U8 + U8 + short(message.auth);
}

function migrationRequestSize(message: MigrationRequest): number {
  let size = U64 + U64 + ids(message.sources, U8) + ids(message.targets, U32) + U8 + U8;
  for (const proof of message.proofs) size += initSize(proof);
  return size;
}

function joinRequestSize(message: JoinRequest): number {
  return U64 + U32 + short(message.publicKey) + text(message.address) + short(message.signature);
}

function leaveRequestSize(message: LeaveRequest): number {
  return U32 + U64 + U8 + short(message.signature);
}

/** Bytes after a batch's requests: a kind byte (0 for a plain batch) and the special entry. */
export function specialSize(special: OrderedSpecial | undefined): number {
  if (special === undefined) return U8;
  switch (special.kind) {
    case "migration":
      return U8 + migrationRequestSize(special.request);
    case "join":
      return U8 + joinRequestSize(special.request) + U64;
    case "leave":
      return U8 + leaveRequestSize(special.request);
    default:
      return unreachable(special, "special kind");
  }
}

export function migrationBodySize(message: FlatMigrationMessage): number {
  switch (message.type) {
    case "JoinRequest":
      return joinRequestSize(message);
    case "JoinApproved":
      return U64 + U64 + U32 + U8;
    case "LeaveRequest":
      return leaveRequestSize(message);
    case "InitMigration":
      return initSize(message);
    case "MigrateNow":
      return (
        U64 + U64 + short(message.checkpointDigest) + pairsSize(message.pairs) + U8 + short(message.signature)
      );
    case "NewMembership":
      return (
        U64 + U64 + pairsSize(message.pairs) + membersSize(message.members) + U8 + short(message.signature)
      );
    case "MembershipCertificate":
      return U64 + membersSize(message.members) + U8 + short(message.signature);
    case "KeyExchange":
      return U32 + U8 + U64 + U32 + U64 + short(message.keyAgreementPublicKey) + short(message.signature);
    case "MigrationDone":
      return U64 + U32 + U8;
    case "OnDemandMigration":
      return ids(message.replicaIds, U8) + U64 + U8 + short(message.signature);
    default:
      return unreachable(message, "migration message type");
  }
}

// ---------------------------------------------------------------- writing

function writeText(writer: Writer, value: string): void {
  writer.shortBytes(new TextEncoder().encode(value));
}

function writeIds(writer: Writer, values: readonly number[], width: 1 | 4): void {
  writer.u8(values.length);
  for (const value of values) {
    if (width === 1) writer.u8(value);
    else writer.u32(value);
  }
}

function writeMembers(writer: Writer, members: readonly MemberAddress[]): void {
  writer.u8(members.length);
  for (const member of members) {
    writer.u8(member.replicaId);
    writer.u32(member.nodeId);
    writeText(writer, member.address);
  }
}

function writePairs(writer: Writer, pairs: readonly MigrationPair[]): void {
  writer.u8(pairs.length);
  for (const pair of pairs) {
    writer.u8(pair.replicaId);
    writer.u32(pair.sourceNodeId);
    writer.u32(pair.targetNodeId);
  }
}

function writeInitFields(writer: Writer, message: Omit<InitMigration, "type" | "auth" | "replicaId">): void {
  writer.u64(message.view);
  writer.u64(message.migrationNumber);
  writeIds(writer, message.sources, 1);
  writeIds(writer, message.targets, 4);
  // An unknown trigger (only an unchecked encoding can hold one) becomes a byte no decoder accepts.
  const trigger = TRIGGERS.indexOf(message.trigger);
  writer.u8(trigger < 0 ? 0xff : trigger);
}

function writeInit(writer: Writer, message: InitMigration): void {
  writeInitFields(writer, message);
  writer.u8(message.replicaId);
  writer.shortBytes(message.auth);
}

function writeJoinRequest(writer: Writer, message: JoinRequest): void {
  writer.u64(message.counter);
  writer.u32(message.nodeId);
  writer.shortBytes(message.publicKey);
  writeText(writer, message.address);
  writer.shortBytes(message.signature);
}

function writeLeaveRequest(writer: Writer, message: LeaveRequest): void {
  writer.u32(message.nodeId);
  writer.u64(message.counter);
  writer.u8(message.cmId);
  writer.shortBytes(message.signature);
}

export function writeSpecial(writer: Writer, special: OrderedSpecial | undefined): void {
  if (special === undefined) {
    writer.u8(0);
    return;
  }
  writer.u8(SPECIAL_KINDS.indexOf(special.kind) + 1);
  switch (special.kind) {
    case "migration": {
      const request = special.request;
      writeInitFields(writer, request);
      writer.u8(request.proofs.length);
      for (const proof of request.proofs) writeInit(writer, proof);
      return;
    }
    case "join":
      writeJoinRequest(writer, special.request);
      writer.u64(special.joinTimeMs);
      return;
    case "leave":
      writeLeaveRequest(writer, special.request);
      return;
    default:
      unreachable(special, "special kind");
  }
}

export function writeMigrationBody(writer: Writer, message: FlatMigrationMessage): void {
  switch (message.type) {
    case "JoinRequest":
      writeJoinRequest(writer, message);
      return;
    case "JoinApproved":
      writer.u64(message.counter);
      writer.u64(message.seq);
      writer.u32(message.nodeId);
      writer.u8(message.replicaId);
      return;
    case "LeaveRequest":
      writeLeaveRequest(writer, message);
      return;
    case "InitMigration":
      writeInit(writer, message);
      return;
    case "MigrateNow":
      writer.u64(message.view);
      writer.u64(message.seq);
      writer.shortBytes(message.checkpointDigest);
      writePairs(writer, message.pairs);
      writer.u8(message.replicaId);
      writer.shortBytes(message.signature);
      return;
    case "NewMembership":
      writer.u64(message.view);
      writer.u64(message.seq);
      writePairs(writer, message.pairs);
      writeMembers(writer, message.members);
      writer.u8(message.replicaId);
      writer.shortBytes(message.signature);
      return;
    case "MembershipCertificate":
      writer.u64(message.seq);
      writeMembers(writer, message.members);
      writer.u8(message.cmId);
      writer.shortBytes(message.signature);
      return;
    case "KeyExchange":
      writer.u32(message.nodeId);
      writer.u8(message.replicaId === null ? NO_REPLICA : message.replicaId);
      writer.u64(message.counter);
      writer.u32(message.peerNodeId);
      writer.u64(message.peerCounter);
      writer.shortBytes(message.keyAgreementPublicKey);
      writer.shortBytes(message.signature);
      return;
    case "MigrationDone":
      writer.u64(message.seq);
      writer.u32(message.nodeId);
      writer.u8(message.replicaId);
      return;
    case "OnDemandMigration":
      writeIds(writer, message.replicaIds, 1);
      writer.u64(message.counter);
      writer.u8(message.cmId);
      writer.shortBytes(message.signature);
      return;
    default:
      unreachable(message, "migration message type");
  }
}

/** KEY-EXCHANGE from a standby has no replica id; 255 is never a replica id (REPLICAS_MAX < 255). */
const NO_REPLICA = 255;

// ---------------------------------------------------------------- reading

function readText(reader: Reader): string {
  const bytes = reader.shortBytes();
  let value = "";
  for (const byte of bytes) {
    if (byte < 0x20 || byte > 0x7e) throw new DecodeFailure("addressInvalid");
    value += String.fromCharCode(byte);
  }
  return value;
}

function readIds(reader: Reader, width: 1 | 4): number[] {
  const count = reader.u8();
  if (count > MIGRATION_SET_MAX) throw new DecodeFailure("countTooLarge");
  const values: number[] = [];
  for (let index = 0; index < count; index++) values.push(width === 1 ? reader.u8() : reader.u32());
  return values;
}

function readPairs(reader: Reader): MigrationPair[] {
  const count = reader.u8();
  if (count > MIGRATION_SET_MAX) throw new DecodeFailure("countTooLarge");
  const pairs: MigrationPair[] = [];
  for (let index = 0; index < count; index++) {
    const replicaId = reader.u8();
    const sourceNodeId = reader.u32();
    pairs.push({ replicaId, sourceNodeId, targetNodeId: reader.u32() });
  }
  return pairs;
}

function readTrigger(reader: Reader): InitMigration["trigger"] {
  const trigger = TRIGGERS[reader.u8()];
  if (trigger === undefined) throw new DecodeFailure("unknownKind");
  return trigger;
}

function readInit(reader: Reader): InitMigration {
  const view = reader.u64();
  const migrationNumber = reader.u64();
  const sources = readIds(reader, 1);
  const targets = readIds(reader, 4);
  const trigger = readTrigger(reader);
  const replicaId = reader.u8();
  const auth = reader.shortBytes();
  return { type: "InitMigration", view, migrationNumber, sources, targets, trigger, replicaId, auth };
}

function readJoinRequest(reader: Reader): JoinRequest {
  const counter = reader.u64();
  const nodeId = reader.u32();
  const publicKey = reader.shortBytes();
  const address = readText(reader);
  return { type: "JoinRequest", counter, nodeId, publicKey, address, signature: reader.shortBytes() };
}

function readLeaveRequest(reader: Reader): LeaveRequest {
  const nodeId = reader.u32();
  const counter = reader.u64();
  const cmId = reader.u8();
  return { type: "LeaveRequest", nodeId, counter, cmId, signature: reader.shortBytes() };
}

export function readSpecial(reader: Reader): OrderedSpecial | undefined {
  const kindByte = reader.u8();
  if (kindByte === 0) return undefined;
  const kind = SPECIAL_KINDS[kindByte - 1];
  switch (kind) {
    case "migration": {
      const view = reader.u64();
      const migrationNumber = reader.u64();
      const sources = readIds(reader, 1);
      const targets = readIds(reader, 4);
      const trigger = readTrigger(reader);
      const proofCount = reader.u8();
      if (proofCount > MIGRATION_PROOFS_MAX) throw new DecodeFailure("countTooLarge");
      const proofs: InitMigration[] = [];
      for (let index = 0; index < proofCount; index++) proofs.push(readInit(reader));
      const request: MigrationRequest = {
        type: "MigrationRequest",
        view,
        migrationNumber,
        sources,
        targets,
        trigger,
        proofs,
      };
      return { kind, request };
    }
    case "join": {
      const request = readJoinRequest(reader);
      return { kind, request, joinTimeMs: reader.u64() };
    }
    case "leave":
      return { kind, request: readLeaveRequest(reader) };
    default:
      throw new DecodeFailure("unknownKind");
  }
}

export function readMigrationBody(reader: Reader, type: FlatMigrationMessage["type"]): FlatMigrationMessage {
  switch (type) {
    case "JoinRequest":
      return readJoinRequest(reader);
    case "JoinApproved": {
      const counter = reader.u64();
      const seq = reader.u64();
      const nodeId = reader.u32();
      return { type, counter, seq, nodeId, replicaId: reader.u8() } satisfies JoinApproved;
    }
    case "LeaveRequest":
      return readLeaveRequest(reader);
    case "InitMigration":
      return readInit(reader);
    case "MigrateNow": {
      const view = reader.u64();
      const seq = reader.u64();
      const checkpointDigest = reader.shortBytes();
      const pairs = readPairs(reader);
      const replicaId = reader.u8();
      const signature = reader.shortBytes();
      return { type, view, seq, checkpointDigest, pairs, replicaId, signature } satisfies MigrateNow;
    }
    case "NewMembership":
      return readNewMembership(reader);
    case "MembershipCertificate": {
      const seq = reader.u64();
      const members = readMembers(reader);
      const cmId = reader.u8();
      return { type, seq, members, cmId, signature: reader.shortBytes() } satisfies MembershipCertificate;
    }
    case "KeyExchange": {
      const nodeId = reader.u32();
      const replicaByte = reader.u8();
      const counter = reader.u64();
      const peerNodeId = reader.u32();
      const peerCounter = reader.u64();
      const keyAgreementPublicKey = reader.shortBytes();
      const signature = reader.shortBytes();
      const replicaId = replicaByte === NO_REPLICA ? null : replicaByte;
      return {
        type,
        nodeId,
        replicaId,
        counter,
        peerNodeId,
        peerCounter,
        keyAgreementPublicKey,
        signature,
      } satisfies KeyExchange;
    }
    case "MigrationDone": {
      const seq = reader.u64();
      const nodeId = reader.u32();
      return { type, seq, nodeId, replicaId: reader.u8() } satisfies MigrationDone;
    }
    case "OnDemandMigration": {
      const replicaIds = readIds(reader, 1);
      const counter = reader.u64();
      const cmId = reader.u8();
      return { type, replicaIds, counter, cmId, signature: reader.shortBytes() } satisfies OnDemandMigration;
    }
    default:
      return unreachable(type, "migration message type");
  }
}

function readMembers(reader: Reader): MemberAddress[] {
  const memberCount = reader.u8();
  if (memberCount > MEMBERS_MAX) throw new DecodeFailure("countTooLarge");
  const members: MemberAddress[] = [];
  for (let index = 0; index < memberCount; index++) {
    const replicaId = reader.u8();
    const nodeId = reader.u32();
    members.push({ replicaId, nodeId, address: readText(reader) });
  }
  return members;
}

function readNewMembership(reader: Reader): NewMembership {
  const view = reader.u64();
  const seq = reader.u64();
  const pairs = readPairs(reader);
  const members = readMembers(reader);
  const replicaId = reader.u8();
  return { type: "NewMembership", view, seq, pairs, members, replicaId, signature: reader.shortBytes() };
}

export const MIGRATION_TYPES = [
  "JoinRequest",
  "JoinApproved",
  "LeaveRequest",
  "InitMigration",
  "MigrateNow",
  "NewMembership",
  "KeyExchange",
  "MigrationDone",
  "OnDemandMigration",
  "MembershipCertificate",
] as const satisfies readonly FlatMigrationMessage["type"][];

/** A fixed-shape migration type (EVIDENCE is dispatched on its own, see NewViewCodec). */
export function isMigrationType(type: string): type is FlatMigrationMessage["type"] {
  return (MIGRATION_TYPES as readonly string[]).includes(type);
}

// ---------------------------------------------------------------- EVIDENCE (section 3.4)

/**
 * EVIDENCE: the offender's node id (u32), the accuser's replica id (u8), then the nested NEW-VIEW
 * as codec.ts writes it. Its size needs no bound of its own: the NEW-VIEW's bounds apply, and the
 * whole body must fit one frame like any message (a replica checks that before it broadcasts).
 */
export function evidenceSize(message: Evidence, newView: NewViewCodec): number {
  return U32 + U8 + newView.size(message.newView);
}

export function writeEvidence(writer: Writer, message: Evidence, newView: NewViewCodec): void {
  writer.u32(message.offenderNodeId);
  writer.u8(message.replicaId);
  newView.write(writer, message.newView);
}

export function readEvidence(reader: Reader, newView: NewViewCodec): Evidence {
  const offenderNodeId = reader.u32();
  const replicaId = reader.u8();
  return { type: "Evidence", newView: newView.read(reader), offenderNodeId, replicaId };
}

/**
 * Structure only: the nested NEW-VIEW obeys the NEW-VIEW rules (passed in by validate.ts) and is
 * signed (an unsigned NEW-VIEW proves nothing), and the ids are in range. Whether it is a proof
 * is the replica core's question (bft/replica/evidence.ts).
 */
export function validateEvidence(message: Evidence, validateNewView: (message: NewView) => Verdict): Verdict {
  return checkFirst(
    () => (isNodeId(message.offenderNodeId) ? undefined : "nodeIdRange"),
    () => (isReplicaId(message.replicaId) ? undefined : "replicaIdRange"),
    () => validateNewView(message.newView),
    () => checkSignature(message.newView.signature),
  );
}
