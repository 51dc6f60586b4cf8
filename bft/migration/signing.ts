/**
 * The exact bytes each signed migration message's signature covers: a domain tag per message
 * type, then the fields in declaration order (u32/u64 big-endian numbers, length-prefixed bytes
 * and UTF-8 strings). Fixed and codec-independent so a standby, a replica and the CM agree on
 * what was signed whatever the wire codec becomes. The domain tags keep a signature for one
 * message type from ever verifying as another (or as an attestation quote).
 */
import { assert } from "../assert.js";
import type {
  InitMigration,
  JoinApproved,
  JoinRequest,
  KeyExchange,
  LeaveRequest,
  MembershipCertificate,
  MigrateNow,
  MigrationPair,
  MigrationRequest,
  NewMembership,
  NewView,
  OnDemandMigration,
  OrderedSpecial,
  PrePrepare,
  Request,
  ViewChange,
} from "../messages.js";

class SignedBytesWriter {
  readonly #parts: Uint8Array[] = [];

  constructor(domain: string) {
    this.bytes(new TextEncoder().encode(`migrate-bft/${domain}/v1`));
  }

  u64(value: number): this {
    assert(Number.isSafeInteger(value) && value >= 0, "signed field is a non-negative safe integer");
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(value));
    this.#parts.push(out);
    return this;
  }

  bytes(value: Uint8Array): this {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, value.length);
    this.#parts.push(length, value);
    return this;
  }

  text(value: string): this {
    return this.bytes(new TextEncoder().encode(value));
  }

  ids(ids: readonly number[]): this {
    this.u64(ids.length);
    for (const id of ids) this.u64(id);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    return this;
  }

  pairs(pairs: readonly MigrationPair[]): this {
    this.u64(pairs.length);
    for (const pair of pairs) this.u64(pair.replicaId).u64(pair.sourceNodeId).u64(pair.targetNodeId);
    return this;
  }

  finish(): Uint8Array {
    const total = this.#parts.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

export function joinRequestSignedBytes(message: Omit<JoinRequest, "type" | "signature">): Uint8Array {
  return new SignedBytesWriter("join-request")
    .u64(message.counter)
    .u64(message.nodeId)
    .bytes(message.publicKey)
    .text(message.address)
    .finish();
}

export function joinApprovedSignedBytes(message: Omit<JoinApproved, "type" | "signature">): Uint8Array {
  return new SignedBytesWriter("join-approved")
    .u64(message.counter)
    .u64(message.seq)
    .u64(message.nodeId)
    .u64(message.replicaId)
    .finish();
}

export function leaveRequestSignedBytes(message: Omit<LeaveRequest, "type" | "signature">): Uint8Array {
  return new SignedBytesWriter("leave-request")
    .u64(message.nodeId)
    .u64(message.counter)
    .u64(message.cmId)
    .finish();
}

export function migrateNowSignedBytes(message: Omit<MigrateNow, "type" | "signature">): Uint8Array {
  return new SignedBytesWriter("migrate-now")
    .u64(message.view)
    .u64(message.seq)
    .bytes(message.checkpointDigest)
    .pairs(message.pairs)
    .u64(message.replicaId)
    .finish();
}

export function newMembershipSignedBytes(message: Omit<NewMembership, "type" | "signature">): Uint8Array {
  const writer = new SignedBytesWriter("new-membership")
    .u64(message.view)
    .u64(message.seq)
    .pairs(message.pairs)
    .u64(message.members.length);
  for (const member of message.members) writer.u64(member.replicaId).u64(member.nodeId).text(member.address);
  return writer.u64(message.replicaId).finish();
}

/** What the CM signs in a MEMBERSHIP-CERTIFICATE: every field but the signature. */
export function membershipCertificateSignedBytes(
  message: Omit<MembershipCertificate, "type" | "signature">,
): Uint8Array {
  const writer = new SignedBytesWriter("membership-certificate")
    .u64(message.seq)
    .bytes(message.checkpointDigest)
    .u64(message.members.length);
  for (const member of message.members) writer.u64(member.replicaId).u64(member.nodeId).text(member.address);
  return writer.u64(message.cmId).finish();
}

export function keyExchangeSignedBytes(message: Omit<KeyExchange, "type" | "signature">): Uint8Array {
  // replicaId null is encoded as 0 with a presence flag, so null and 0 sign differently.
  return new SignedBytesWriter("key-exchange")
    .u64(message.nodeId)
    .u64(message.replicaId === null ? 0 : 1)
    .u64(message.replicaId ?? 0)
    .u64(message.counter)
    .u64(message.peerNodeId)
    .u64(message.peerCounter)
    .bytes(message.keyAgreementPublicKey)
    .finish();
}

/** One side of a finished key exchange: its node, its counter and the X25519 key it sent. */
export interface KeyExchangeSide {
  readonly nodeId: number;
  readonly counter: number;
  readonly publicKey: Uint8Array;
}

/**
 * HKDF info for the pair's MAC key: both nodes, both counters and both key-agreement keys, the
 * initiator first. Binding the ids and counters keeps a key from one exchange (or pair) from ever
 * being derived for another even if key-agreement keys were reused.
 */
export function keyExchangeKeyInfo(initiator: KeyExchangeSide, responder: KeyExchangeSide): Uint8Array {
  return new SignedBytesWriter("key-exchange-mac")
    .u64(initiator.nodeId)
    .u64(initiator.counter)
    .bytes(initiator.publicKey)
    .u64(responder.nodeId)
    .u64(responder.counter)
    .bytes(responder.publicKey)
    .finish();
}

export function onDemandMigrationSignedBytes(
  message: Omit<OnDemandMigration, "type" | "signature">,
): Uint8Array {
  return new SignedBytesWriter("on-demand-migration")
    .ids(message.replicaIds)
    .u64(message.counter)
    .u64(message.cmId)
    .finish();
}

/**
 * What a NEW-VIEW's signature covers (section 3.4 evidence): every field but the signature, with
 * each enclosed VIEW-CHANGE whole (its signature included) and every batch body, so the signed
 * bytes fix everything the new-view decision reads. A special entry is covered by its canonical
 * bytes (orderedSpecialBytes), which leave out the proofs' authenticators: the decision does not
 * read them (a batch body is matched by its digest, which does not cover them either).
 */
export function newViewSignedBytes(message: Omit<NewView, "type" | "signature">): Uint8Array {
  const writer = new SignedBytesWriter("new-view").u64(message.view).u64(message.replicaId);
  writer.u64(message.viewChanges.length);
  for (const viewChange of message.viewChanges) viewChangeBytes(writer, viewChange);
  writer.u64(message.prePrepares.length);
  for (const prePrepare of message.prePrepares) prePrepareBytes(writer, prePrepare);
  return writer.finish();
}

function viewChangeBytes(writer: SignedBytesWriter, message: ViewChange): void {
  writer.u64(message.newView).u64(message.stableSeq).u64(message.replicaId);
  writer.u64(message.checkpoints.length);
  for (const claim of message.checkpoints) writer.u64(claim.seq).bytes(claim.stateDigest);
  for (const entries of [message.prepared, message.prePrepared]) {
    writer.u64(entries.length);
    for (const entry of entries) writer.u64(entry.seq).u64(entry.view).bytes(entry.digest);
  }
  writer.u64(message.batches.length);
  for (const batch of message.batches) {
    writer.bytes(batch.digest);
    bodyBytes(writer, batch.requests, batch.special);
  }
  writer.bytes(message.signature);
}

function prePrepareBytes(writer: SignedBytesWriter, message: PrePrepare): void {
  writer.u64(message.view).u64(message.seq).bytes(message.digest);
  bodyBytes(writer, message.requests, message.special);
}

/** Requests, then a presence flag and the special entry, so "none" and any entry sign differently. */
function bodyBytes(
  writer: SignedBytesWriter,
  requests: readonly Request[],
  special: OrderedSpecial | undefined,
): void {
  writer.u64(requests.length);
  for (const request of requests)
    writer.u64(request.clientId).u64(request.timestamp).bytes(request.operation).bytes(request.auth);
  writer.u64(special === undefined ? 0 : 1);
  if (special !== undefined) writer.bytes(orderedSpecialBytes(special));
}

/**
 * What an INIT-MIGRATION's authenticator covers (one MAC per replica over the digest of these
 * bytes, like a client request's): every field but `auth`.
 */
export function initMigrationAuthBytes(message: Omit<InitMigration, "type" | "auth">): Uint8Array {
  return new SignedBytesWriter("init-migration")
    .u64(message.view)
    .u64(message.migrationNumber)
    .ids(message.sources)
    .ids(message.targets)
    .text(message.trigger)
    .u64(message.replicaId)
    .finish();
}

function migrationRequestBytes(writer: SignedBytesWriter, request: MigrationRequest): void {
  writer
    .u64(request.view)
    .u64(request.migrationNumber)
    .ids(request.sources)
    .ids(request.targets)
    .text(request.trigger)
    .u64(request.proofs.length);
  // The proofs' authenticators are not covered: they differ per forwarder's view of them and
  // are checked separately; the digest binds what was proved (every proof's fields).
  for (const proof of request.proofs) writer.bytes(initMigrationAuthBytes(proof));
}

/**
 * Canonical bytes of a special ordered entry, hashed into the PRE-PREPARE digest
 * (bft/replica/batch-digest.ts), so PREPARE and COMMIT votes bind the entry and its join time.
 */
export function orderedSpecialBytes(special: OrderedSpecial): Uint8Array {
  const writer = new SignedBytesWriter(`ordered-${special.kind}`);
  switch (special.kind) {
    case "migration":
      migrationRequestBytes(writer, special.request);
      break;
    case "join":
      writer
        .raw(joinRequestSignedBytes(special.request))
        .bytes(special.request.signature)
        .u64(special.joinTimeMs);
      break;
    case "leave":
      writer.raw(leaveRequestSignedBytes(special.request)).bytes(special.request.signature);
      break;
  }
  return writer.finish();
}
