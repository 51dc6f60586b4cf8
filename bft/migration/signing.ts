/**
 * The exact bytes each signed migration message's signature covers: a domain tag per message
 * type, then the fields in declaration order (u32/u64 big-endian numbers, length-prefixed bytes
 * and UTF-8 strings). Fixed and codec-independent so a standby, a replica and the CM agree on
 * what was signed whatever the wire codec becomes. The domain tags keep a signature for one
 * message type from ever verifying as another (or as an attestation quote).
 */
import { assert } from "../assert.js";
import type {
  JoinRequest,
  KeyExchange,
  LeaveRequest,
  MigrateNow,
  MigrationPair,
  NewMembership,
} from "./messages.js";

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

export function keyExchangeSignedBytes(message: Omit<KeyExchange, "type" | "signature">): Uint8Array {
  // replicaId null is encoded as 0 with a presence flag, so null and 0 sign differently.
  return new SignedBytesWriter("key-exchange")
    .u64(message.nodeId)
    .u64(message.replicaId === null ? 0 : 1)
    .u64(message.replicaId ?? 0)
    .u64(message.counter)
    .bytes(message.keyAgreementPublicKey)
    .finish();
}
