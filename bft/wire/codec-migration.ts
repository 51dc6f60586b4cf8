/**
 * Codec and structural rules for the migration messages (paper section 3) and for the special
 * entries a PRE-PREPARE or a VIEW-CHANGE batch may carry instead of client requests. Split from
 * codec.ts to keep each file about one thing; codec.ts puts these layouts in its table by type.
 *
 * Layout rules are codec.ts's: fields in the order each layout lists them (bft/wire/fields.ts
 * derives size, encoder and decoder from that one list), u64 for views, seqs, counters and
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
import {
  asciiText,
  constant,
  enumByte,
  type FieldCodec,
  list,
  nullableU8,
  optionalVariant,
  shortBytes,
  struct,
  u8,
  u32,
  u64,
} from "./fields.js";
import type { DecodeReason } from "./reasons.js";

type Verdict = DecodeReason | undefined;

/** Migration messages of fixed shape; EVIDENCE nests a NEW-VIEW and has its own functions below. */
type FlatMigrationMessage = Exclude<MigrationMessage, Evidence>;

/*
 * The NEW-VIEW layout and rules live in codec.ts and validate.ts, which import this file; they are
 * handed to the EVIDENCE functions rather than imported back, so the modules form no cycle.
 */

const PUBLIC_KEY_BYTES = 32;
/** INIT-MIGRATION proofs in a MIGRATION-REQUEST: 2f+1, never more than one per replica. */
export const MIGRATION_PROOFS_MAX = REPLICAS_MAX;
/** S, D and P name f replicas or nodes at most; an on-demand request names 1..f replicas. */
export const MIGRATION_SET_MAX = FAULTS_MAX;
/** NEW-MEMBERSHIP lists every member: 3f+1. */
export const MEMBERS_MAX = REPLICAS_MAX;

const TRIGGERS = ["timer", "onDemand"] as const;

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
        () => checkSignature(message.signature),
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
        () => (message.checkpointDigest.length === DIGEST_BYTES ? undefined : "digestLength"),
        () => validateMembers(message.members),
        () => (message.cmId < CM_REPLICAS_MAX && Number.isInteger(message.cmId) ? undefined : "cmIdRange"),
        () => checkSignature(message.signature),
      );
    default:
      return unreachable(message, "migration message type");
  }
}

// ---------------------------------------------------------------- layouts

/** A set with a u8 count, refused above `countMax`. */
function smallList<T>(element: FieldCodec<T>, countMax: number): FieldCodec<readonly T[]> {
  return list(element, { countBytes: 1, countMax, reason: "countTooLarge" });
}

/** KEY-EXCHANGE from a standby has no replica id; 255 is never a replica id (REPLICAS_MAX < 255). */
const NO_REPLICA = 255;

const replicaIds = smallList(u8, MIGRATION_SET_MAX);
const nodeIds = smallList(u32, MIGRATION_SET_MAX);
const address = asciiText("addressInvalid");
const pairs = smallList(
  struct<MigrationPair>({ replicaId: u8, sourceNodeId: u32, targetNodeId: u32 }),
  MIGRATION_SET_MAX,
);

/** What an INIT-MIGRATION and the MIGRATION-REQUEST built from 2f+1 of them share. */
const initFields = {
  view: u64,
  migrationNumber: u64,
  sources: replicaIds,
  targets: nodeIds,
  trigger: enumByte(TRIGGERS, "unknownKind"),
};

const initMigration = struct<InitMigration>({
  type: constant("InitMigration"),
  ...initFields,
  replicaId: u8,
  auth: shortBytes,
});

const migrationRequest = struct<MigrationRequest>({
  type: constant("MigrationRequest"),
  ...initFields,
  proofs: smallList(initMigration, MIGRATION_PROOFS_MAX),
});

const joinRequest = struct<JoinRequest>({
  type: constant("JoinRequest"),
  counter: u64,
  nodeId: u32,
  publicKey: shortBytes,
  address,
  signature: shortBytes,
});

const leaveRequest = struct<LeaveRequest>({
  type: constant("LeaveRequest"),
  nodeId: u32,
  counter: u64,
  cmId: u8,
  signature: shortBytes,
});

/**
 * The bytes after a batch's requests: a kind byte (0 for a plain batch, then 1 migration, 2 join,
 * 3 leave in this order) and the special entry.
 */
export const special = optionalVariant<OrderedSpecial>(
  {
    migration: struct({ kind: constant("migration"), request: migrationRequest }),
    join: struct({ kind: constant("join"), request: joinRequest, joinTimeMs: u64 }),
    leave: struct({ kind: constant("leave"), request: leaveRequest }),
  },
  "unknownKind",
);

/** Layouts of the migration messages of fixed shape, by type; codec.ts adds them to its table. */
const members = smallList(struct<MemberAddress>({ replicaId: u8, nodeId: u32, address }), MEMBERS_MAX);

export const MIGRATION_LAYOUTS: {
  readonly [K in FlatMigrationMessage["type"]]: FieldCodec<Extract<FlatMigrationMessage, { type: K }>>;
} = {
  JoinRequest: joinRequest,
  JoinApproved: struct<JoinApproved>({
    type: constant("JoinApproved"),
    counter: u64,
    seq: u64,
    nodeId: u32,
    replicaId: u8,
    signature: shortBytes,
  }),
  LeaveRequest: leaveRequest,
  InitMigration: initMigration,
  MigrateNow: struct<MigrateNow>({
    type: constant("MigrateNow"),
    view: u64,
    seq: u64,
    checkpointDigest: shortBytes,
    pairs,
    replicaId: u8,
    signature: shortBytes,
  }),
  NewMembership: struct<NewMembership>({
    type: constant("NewMembership"),
    view: u64,
    seq: u64,
    pairs,
    members,
    replicaId: u8,
    signature: shortBytes,
  }),
  MembershipCertificate: struct<MembershipCertificate>({
    type: constant("MembershipCertificate"),
    seq: u64,
    checkpointDigest: shortBytes,
    members,
    cmId: u8,
    signature: shortBytes,
  }),
  KeyExchange: struct<KeyExchange>({
    type: constant("KeyExchange"),
    nodeId: u32,
    replicaId: nullableU8(NO_REPLICA),
    counter: u64,
    peerNodeId: u32,
    peerCounter: u64,
    keyAgreementPublicKey: shortBytes,
    signature: shortBytes,
  }),
  MigrationDone: struct<MigrationDone>({
    type: constant("MigrationDone"),
    seq: u64,
    nodeId: u32,
    replicaId: u8,
  }),
  OnDemandMigration: struct<OnDemandMigration>({
    type: constant("OnDemandMigration"),
    replicaIds,
    counter: u64,
    cmId: u8,
    signature: shortBytes,
  }),
};

// ---------------------------------------------------------------- EVIDENCE (section 3.4)

/**
 * EVIDENCE: the offender's node id (u32), the accuser's replica id (u8), then the nested NEW-VIEW
 * as codec.ts lays it out. Its size needs no bound of its own: the NEW-VIEW's bounds apply, and the
 * whole body must fit one frame like any message (a replica checks that before it broadcasts).
 */
export function evidenceLayout(newView: FieldCodec<NewView>): FieldCodec<Evidence> {
  return struct<Evidence>({ type: constant("Evidence"), offenderNodeId: u32, replicaId: u8, newView });
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
