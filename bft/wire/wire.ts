/**
 * Frames: authenticated envelopes around encoded messages, and the checks that turn untrusted
 * bytes into messages a core may trust.
 *
 * Frame layout (big-endian):
 *   version u8 | sender kind u8 | sender id u32 | receiver marker u8 |
 *     marker 0 or 2 (one principal): receiver kind u8 | receiver id u32
 *     marker 1 or 3 (all replicas):  authenticator entry count u8
 *   | encoded message | MAC (markers 0, 2) or authenticator: one MAC per replica id (markers 1, 3)
 *
 * The body has no length field: it is everything between the header and the trailer, whose size
 * the header fixes. Each MAC is an HMAC over header and body (auth.ts), except with markers 2 and
 * 3, which carry a client's REQUEST or a replica's PRE-PREPARE of requests only: there it covers
 * the header and the body with each operation replaced by its request digest (digestMaced). A
 * broadcast is encoded once and MACed once per replica; the sender's own authenticator slot is zero.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { assert } from "../assert.js";
import {
  CLIENTS_MAX,
  DIGEST_BYTES,
  MAC_BYTES,
  MESSAGE_BYTES_MAX,
  REPLICAS_MAX,
  REQUEST_BATCH_MAX,
} from "../limits.js";
import type {
  InitMigration,
  Message,
  MessageType,
  Principal,
  PrincipalKind,
  Request,
  ViewChange,
} from "../messages.js";
import { CM_REPLICAS_MAX, NODES_MAX } from "../migration/limits.js";
import { initMigrationAuthBytes } from "../migration/signing.js";
import {
  computeRequestDigest,
  initMigrationMacInput,
  macInto,
  macMatches,
  requestMacInput,
  sha256,
  signViewChange,
  verifyViewChange,
} from "./auth.js";
import {
  AUTH_BYTES_MAX,
  FRAME_HEADER_BROADCAST_BYTES,
  FRAME_HEADER_BYTES_MAX,
  FRAME_HEADER_BYTES_MIN,
  FRAME_HEADER_POINT_BYTES,
  FRAME_VERSION,
  MESSAGE_BODY_BYTES_MAX,
  SHORT_BYTES_LIMIT,
} from "./bounds.js";
import { decodeMessageRange, encodedSize, encodeMessageInto, encodeMessageUncheckedInto } from "./codec.js";
import { Writer } from "./cursor.js";
import {
  isValidPrincipal,
  type KeyRing,
  PRINCIPAL_KIND_BYTES,
  principalCode,
  publicKeyFromRaw,
  type SessionKeyStore,
} from "./keys.js";
import { DROP_REASONS, type DropReason } from "./reasons.js";

export interface WireOptions {
  readonly self: Principal;
  /** Active replicas (3f+1): replica ids are 0..n-1 and a broadcast carries n MACs. */
  readonly n: number;
  readonly keys: KeyRing;
  /** This replica's Ed25519 key, for VIEW-CHANGE; clients have none. */
  readonly signing?: { readonly privateKey: KeyObject };
  /** Ed25519 public keys by replica id: KeyObjects or 32-byte raw keys. Clients may pass []. */
  readonly replicaPublicKeys: readonly (KeyObject | Uint8Array)[];
  /**
   * Node running each logical replica id (index = replica id). When given, the MAC key for a
   * replica principal is the key of the node that runs it, and `keys` must be this node's (or
   * client's) own key ring; setMember() moves a replica id to a promoted node. See keys.ts.
   */
  readonly membership?: readonly number[];
  /**
   * Session keys from KEY-EXCHANGE (keys.ts): when given, frames between this node and another
   * node use them, except the types in DERIVED_KEY_TYPES. Only for a node's wire (self is a node,
   * or a replica with a membership).
   */
  readonly sessionKeys?: SessionKeyStore;
}

export type Destination = Principal | "replicas";
export type OpenResult =
  | { readonly ok: true; readonly from: Principal; readonly message: Message }
  | { readonly ok: false; readonly reason: DropReason };

/** Pairwise key objects kept at most: every replica and every client a replica serves. */
export const PEER_KEYS_MAX = REPLICAS_MAX + CLIENTS_MAX;

/**
 * Signing keys of the nodes that ran each replica id before its current node, newest first, kept
 * for VIEW-CHANGEs nested in a NEW-VIEW (see viewChangeAuthentic). Two: proactive rounds move an
 * id every fourth round (DESIGN.md section 5), on-demand rounds rarely, and a NEW-VIEW older than
 * two moves of one id is long superseded by a later view's.
 */
export const PREVIOUS_HOLDER_KEYS_MAX = 2;

const RECEIVER_POINT = 0;
const RECEIVER_REPLICAS = 1;
/** The same receivers, with the frame MAC over request digests (digestMaced). */
const RECEIVER_POINT_DIGEST_MACED = 2;
const RECEIVER_REPLICAS_DIGEST_MACED = 3;
const KINDS_BY_BYTE: readonly PrincipalKind[] = ["replica", "client", "node", "cm"];
assert(
  KINDS_BY_BYTE.every((kind, byte) => PRINCIPAL_KIND_BYTES[kind] === byte),
  "kind bytes match their table",
);

interface Route {
  readonly from: readonly PrincipalKind[];
  readonly to: readonly PrincipalKind[];
}
const REPLICA: readonly PrincipalKind[] = ["replica"];
const AMONG_REPLICAS: Route = { from: REPLICA, to: REPLICA };

/**
 * Who may send each message type, and who may receive it (raft's isLocalMsg, as a table). Nodes
 * are standbys (and promoted targets before they run a replica); the CM is the configuration
 * manager (paper section 2).
 */
const ROUTES: Readonly<Record<MessageType, Route>> = {
  // A backup relays a client's REQUEST to the primary (PBFT section 4.1): the request keeps its
  // client's authenticator, which the receiving replica checks for its own entry.
  Request: { from: ["client", "replica"], to: REPLICA },
  Reply: { from: REPLICA, to: ["client"] },
  PrePrepare: AMONG_REPLICAS,
  Prepare: AMONG_REPLICAS,
  Commit: AMONG_REPLICAS,
  Checkpoint: AMONG_REPLICAS,
  ViewChange: AMONG_REPLICAS,
  NewView: AMONG_REPLICAS,
  Status: AMONG_REPLICAS,
  // A migration target fetches the checkpoint as a node (section 3.2, state transfer).
  FetchState: { from: ["replica", "node"], to: REPLICA },
  StateChunk: { from: REPLICA, to: ["replica", "node"] },
  JoinRequest: { from: ["node"], to: REPLICA },
  JoinApproved: { from: REPLICA, to: ["node"] },
  LeaveRequest: { from: ["cm"], to: REPLICA },
  InitMigration: AMONG_REPLICAS,
  // Also to the other replicas, which relay it to targets still pending (the target checks the
  // signer's signature, so a relay adds no trust; docs/migration.md, "Migration round").
  MigrateNow: { from: REPLICA, to: ["node", "cm", "replica"] },
  NewMembership: { from: REPLICA, to: ["client", "node"] },
  KeyExchange: { from: ["node", "replica"], to: ["node", "replica"] },
  MigrationDone: { from: ["node"], to: REPLICA },
  OnDemandMigration: { from: ["cm"], to: REPLICA },
  // Section 3.4: a replica holding proof that a primary lied forwards it to every replica. The
  // proof is the primary's own signature; the frame MAC only names the accuser.
  Evidence: AMONG_REPLICAS,
  // The CM's signed membership (docs/migration.md, "Membership certificates"): from the CM to
  // replicas and standbys, relayed by replicas to clients and standbys.
  MembershipCertificate: { from: ["cm", "replica"], to: ["replica", "client", "node"] },
};

/**
 * Types whose frame MAC the receiver does not check. MEMBERSHIP-CERTIFICATE is for receivers whose
 * membership is stale: they key a replica principal by the node that ran the id when they last
 * learned the membership, so no MAC from the current node would verify, and the frame's sender is
 * not what they trust anyway: the receiving core checks the CM's signature over the content and
 * attributes nothing to the sender. (A MAC from the node that ran the id when the receiver last
 * learned the membership would say nothing about the current one either.) The sender still MACs
 * the frame as usual.
 */
const SIGNATURE_ONLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["MembershipCertificate"]);

/**
 * Whether a frame's MAC covers request digests instead of the requests' operations (markers 2 and
 * 3, frame version 5): a client's REQUEST, and a replica's PRE-PREPARE of requests (one with a
 * special entry is MACed over its body). The input (macInputByDigest) is the header and the body
 * with each request's operation replaced by the request digest, which covers clientId, timestamp
 * and operation at fixed offsets; every other field, the authenticators included, is covered as
 * it is, with its length. The encoding is canonical (codec.ts), so this binds exactly what a MAC
 * over header and body binds: the sender, the type (marker, ROUTES and the fields) and the
 * content. The receiver needs the digests anyway, for its authenticator entry (checkMessage, or
 * the core for a PRE-PREPARE) and for the batch digest, so each such frame MAC becomes an HMAC
 * over about a hundred bytes per request instead of the operations (1 KiB each in the
 * benchmarks), on both ends: docs/protocol.md, Performance notes, third round.
 */
function digestMaced(from: PrincipalKind, message: Message): boolean {
  if (message.type === "Request") return from === "client";
  return message.type === "PrePrepare" && from === "replica" && message.special === undefined;
}

/** Per request in a PRE-PREPARE's MAC input: its digest, the authenticator's length and bytes. */
const REQUEST_MAC_INPUT_BYTES_MAX = DIGEST_BYTES + 1 + AUTH_BYTES_MAX;
/** Largest MAC input macInputByDigest builds: a PRE-PREPARE of REQUEST_BATCH_MAX requests. */
const DIGEST_MAC_INPUT_BYTES_MAX =
  FRAME_HEADER_BYTES_MAX +
  8 +
  8 +
  1 +
  SHORT_BYTES_LIMIT +
  2 +
  REQUEST_BATCH_MAX * REQUEST_MAC_INPUT_BYTES_MAX;

/**
 * Frames between nodes that keep the derived (cluster-secret) key even with session keys: the
 * receiving core checks a coprocessor signature on each (JOIN-REQUEST, JOIN-APPROVED, KEY-EXCHANGE,
 * MIGRATE-NOW, NEW-MEMBERSHIP); JOIN-REQUEST and JOIN-APPROVED precede any key exchange anyway.
 */
const DERIVED_KEY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "JoinRequest",
  "JoinApproved",
  "KeyExchange",
  "MigrateNow",
  "NewMembership",
]);

/** Largest id per principal kind (exclusive); replica ids are bounded by n instead. */
const ID_LIMITS: Readonly<Record<Exclude<PrincipalKind, "replica">, number>> = {
  client: Number.POSITIVE_INFINITY,
  node: NODES_MAX,
  cm: CM_REPLICAS_MAX,
};

interface FrameHeader {
  readonly from: Principal;
  readonly headerBytes: number;
  /** Point-to-point receiver, or undefined for a broadcast to the replicas. */
  readonly to: Principal | undefined;
  readonly macCount: number;
  /** Markers 2 and 3: the MAC covers request digests instead of operations (digestMaced). */
  readonly digestMaced: boolean;
}

export class Wire {
  readonly self: Principal;
  readonly n: number;
  /** Frames open() rejected, by reason. */
  readonly dropped: Record<DropReason, number>;
  private readonly keys: KeyRing;
  private readonly privateKey: KeyObject | undefined;
  private readonly publicKeys: KeyObject[];
  /** Per replica id, the keys of its previous nodes (PREVIOUS_HOLDER_KEYS_MAX each, newest first). */
  private readonly previousPublicKeys: KeyObject[][];
  private readonly membership: number[] | undefined;
  private readonly sessionKeys: SessionKeyStore | undefined;
  private readonly macKeys = new Map<number, KeyObject>();
  /**
   * Request digests by operation bytes (the same object in a client's request body and the request
   * it authenticates; a fresh subarray per decoded request), checked against clientId and timestamp.
   */
  private readonly requestDigests = new WeakMap<
    Uint8Array,
    { readonly clientId: number; readonly timestamp: number; readonly digest: Uint8Array }
  >();
  /** Frame MAC inputs over request digests are assembled here (digestMaced); synchronous use only. */
  private readonly digestMacInput = new Uint8Array(DIGEST_MAC_INPUT_BYTES_MAX);

  constructor(options: WireOptions) {
    assert(isValidPrincipal(options.self), "wire owner is a valid principal");
    assert(
      Number.isInteger(options.n) && options.n >= 1 && options.n <= REPLICAS_MAX,
      "n in 1..REPLICAS_MAX",
    );
    assert(options.self.kind !== "replica" || options.self.id < options.n, "replica id below n");
    assert(options.signing === undefined || options.self.kind === "replica", "only replicas sign");
    assert(
      options.membership === undefined || options.membership.length === options.n,
      "membership names a node for every replica id",
    );
    this.membership = options.membership === undefined ? undefined : [...options.membership];
    assert(
      options.sessionKeys === undefined ||
        options.self.kind === "node" ||
        (options.self.kind === "replica" && options.membership !== undefined),
      "session keys belong to a node's wire",
    );
    this.sessionKeys = options.sessionKeys;
    this.self = { kind: options.self.kind, id: options.self.id };
    this.n = options.n;
    this.keys = options.keys;
    this.privateKey = options.signing?.privateKey;
    this.publicKeys = options.replicaPublicKeys.map((key) =>
      key instanceof Uint8Array ? publicKeyFromRaw(key) : key,
    );
    this.previousPublicKeys = Array.from({ length: options.n }, () => []);
    this.dropped = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<
      DropReason,
      number
    >;
  }

  /**
   * Moves logical replica `replicaId` to node `nodeId` (a promoted migration target), with the
   * node's Ed25519 key for its VIEW-CHANGE signatures. The host calls this when a core reports a
   * membership change; the old node's MAC key is forgotten at once.
   */
  setMember(replicaId: number, nodeId: number, publicKey?: KeyObject | Uint8Array): void {
    assert(this.membership !== undefined, "setMember needs a wire made with a membership");
    assert(Number.isInteger(replicaId) && replicaId >= 0 && replicaId < this.n, "replica id below n");
    assert(Number.isInteger(nodeId) && nodeId >= 0 && nodeId < NODES_MAX, "node id below NODES_MAX");
    const moved = this.membership[replicaId] !== nodeId;
    this.membership[replicaId] = nodeId;
    this.macKeys.delete(principalCode({ kind: "replica", id: replicaId }));
    if (publicKey !== undefined) {
      const previousKey = this.publicKeys[replicaId];
      const previous = this.previousPublicKeys[replicaId]!;
      if (moved && previousKey !== undefined) {
        previous.unshift(previousKey);
        if (previous.length > PREVIOUS_HOLDER_KEYS_MAX) previous.pop();
      }
      this.publicKeys[replicaId] = publicKey instanceof Uint8Array ? publicKeyFromRaw(publicKey) : publicKey;
    }
    assert(this.previousPublicKeys[replicaId]!.length <= PREVIOUS_HOLDER_KEYS_MAX, "previous keys bounded");
  }

  /** The node running `replicaId`, when this wire keys replicas by node. */
  nodeOf(replicaId: number): number | undefined {
    return this.membership?.[replicaId];
  }

  /** Frames a message we built; a message this principal may not send is our bug (asserted). */
  seal(message: Message, to: Destination): Uint8Array {
    const route = ROUTES[message.type];
    assert(route.from.includes(this.self.kind), `a ${this.self.kind} does not send ${message.type}`);
    if (to === "replicas") {
      assert(route.to.includes("replica"), `${message.type} is not broadcast to replicas`);
    } else {
      assert(isValidPrincipal(to), "receiver is a valid principal");
      assert(route.to.includes(to.kind), `${message.type} does not go to a ${to.kind}`);
      assert(to.kind !== "replica" || to.id < this.n, "receiver replica id below n");
    }
    // Forwarded messages name their author, not the sender: a relayed REQUEST its client, a
    // NEW-VIEW resent to a lagging replica its view's primary (see relaysAuthor below).
    if (
      "replicaId" in message &&
      this.self.kind === "replica" &&
      !relaysAuthor(message, to === "replicas" ? "replica" : to.kind)
    )
      assert(message.replicaId === this.self.id, "replicaId field names the sender");
    if (message.type === "Request" && this.self.kind === "client")
      assert(message.clientId === this.self.id, "clientId field names the sender");
    return this.sealFrame(message, to, true);
  }

  /**
   * seal() without the sender-role assertions and message rules. For tests and the simulator's
   * Byzantine replicas, which must be able to send what a correct principal never would.
   */
  sealUnchecked(message: Message, to: Destination): Uint8Array {
    return this.sealFrame(message, to, false);
  }

  private sealFrame(message: Message, to: Destination, checked: boolean): Uint8Array {
    const bodyBytes = encodedSize(message);
    assert(bodyBytes <= MESSAGE_BODY_BYTES_MAX, `${message.type} of ${bodyBytes} bytes exceeds one frame`);
    const broadcast = to === "replicas";
    const byDigest = digestMaced(this.self.kind, message);
    const headerBytes = broadcast ? FRAME_HEADER_BROADCAST_BYTES : FRAME_HEADER_POINT_BYTES;
    const macCount = broadcast ? this.n : 1;
    const frame = allocateFrame(headerBytes + bodyBytes + macCount * MAC_BYTES);
    frame[0] = FRAME_VERSION;
    frame[1] = PRINCIPAL_KIND_BYTES[this.self.kind];
    writeU32(frame, 2, this.self.id);
    if (to === "replicas") {
      frame[6] = byDigest ? RECEIVER_REPLICAS_DIGEST_MACED : RECEIVER_REPLICAS;
      frame[7] = macCount;
    } else {
      frame[6] = byDigest ? RECEIVER_POINT_DIGEST_MACED : RECEIVER_POINT;
      frame[7] = PRINCIPAL_KIND_BYTES[to.kind];
      writeU32(frame, 8, to.id);
    }
    const encode = checked ? encodeMessageInto : encodeMessageUncheckedInto;
    const bodyEnd = encode(message, frame, headerBytes, bodyBytes);
    // The MAC covers the header too: the sender (a frame from A to B replayed to A as if B had sent
    // it fails, pair keys being symmetric), the receiver or MAC count, and the version byte, which
    // keeps frame MACs apart from authenticator entries under the same key (auth.ts).
    const input = byDigest ? this.macInputByDigest(frame, headerBytes, message) : frame.subarray(0, bodyEnd);
    // A receiver we hold no session key with gets a zero MAC, which it drops (keys.ts).
    // The frame's memory is not zeroed (allocateFrame): slots left without a MAC are zeroed here.
    if (to !== "replicas") {
      const key = this.frameKey(to, message.type);
      if (key !== undefined) macInto(key, input, frame, bodyEnd);
      else frame.fill(0, bodyEnd, bodyEnd + MAC_BYTES);
    } else {
      for (let replicaId = 0; replicaId < this.n; replicaId++) {
        const slot = bodyEnd + replicaId * MAC_BYTES;
        const key =
          this.self.kind === "replica" && replicaId === this.self.id
            ? undefined
            : this.frameKey({ kind: "replica", id: replicaId }, message.type);
        if (key !== undefined) macInto(key, input, frame, slot);
        else frame.fill(0, slot, slot + MAC_BYTES);
      }
    }
    assert(bodyEnd + macCount * MAC_BYTES === frame.length, "header, body and MACs fill the frame");
    assert(frame.length <= MESSAGE_BYTES_MAX, "sealed frame within MESSAGE_BYTES_MAX");
    return frame;
  }

  /**
   * Authenticates and decodes a frame. Never throws on any input. The message's byte fields are
   * subarrays of `frame`: do not mutate the frame afterwards.
   *
   * `wanted`, when given, sees the decoded message and its claimed sender BEFORE the MAC is
   * checked, and may decline it (dropped as "unneeded"): MACs are the costliest part of opening
   * a frame, and a reply to a request already completed or a vote for a slot already decided
   * changes nothing. Since nothing is authenticated yet, it must not act on what it sees: it only
   * answers whether an authentic message like this one could still matter, so a forgery can at
   * worst get itself dropped.
   */
  open(frame: Uint8Array, wanted?: (from: Principal, message: Message) => boolean): OpenResult {
    const result = this.check(frame, wanted);
    if (!result.ok) this.dropped[result.reason] += 1;
    return result;
  }

  private check(frame: Uint8Array, wanted?: (from: Principal, message: Message) => boolean): OpenResult {
    if (frame.length < FRAME_HEADER_BYTES_MIN || frame.length > MESSAGE_BYTES_MAX) return drop("frameSize");
    const header = readHeader(frame);
    if (header === undefined) return drop("frameHeader");
    const bodyEnd = frame.length - header.macCount * MAC_BYTES;
    if (bodyEnd < header.headerBytes) return drop("frameHeader");
    const decoded = decodeMessageRange(frame, header.headerBytes, bodyEnd);
    if (!decoded.ok) return decoded;
    const { from } = header;
    if (from.kind === "replica" ? from.id >= this.n : from.id >= ID_LIMITS[from.kind])
      return drop("senderRange");
    if (wanted !== undefined && !wanted(from, decoded.message)) return drop("unneeded");
    const macReason = this.checkFrameMac(frame, header, bodyEnd, decoded.message);
    if (macReason !== undefined) return drop(macReason);
    const messageReason = this.checkMessage(from, decoded.message);
    if (messageReason !== undefined) return drop(messageReason);
    return { ok: true, from, message: decoded.message };
  }

  private checkFrameMac(
    frame: Uint8Array,
    header: FrameHeader,
    bodyEnd: number,
    message: Message,
  ): DropReason | undefined {
    const type = message.type;
    let slot: number;
    if (header.to !== undefined) {
      if (header.to.kind !== this.self.kind || header.to.id !== this.self.id) return "wrongReceiver";
      slot = 0;
    } else {
      if (this.self.kind !== "replica") return "wrongReceiver";
      if (this.self.id >= header.macCount) return "macMissing";
      slot = this.self.id;
    }
    if (header.digestMaced !== digestMaced(header.from.kind, message)) return "frameHeader";
    if (SIGNATURE_ONLY_TYPES.has(type)) return undefined;
    const input = header.digestMaced
      ? this.macInputByDigest(frame, header.headerBytes, message)
      : frame.subarray(0, bodyEnd);
    const key = this.frameKey(header.from, type);
    if (key === undefined) return "sessionKeyMissing";
    return macMatches(key, input, frame, bodyEnd + slot * MAC_BYTES) ? undefined : "macInvalid";
  }

  /** Rules that depend on the message: direction, the sender named inside, nested authentication. */
  private checkMessage(from: Principal, message: Message): DropReason | undefined {
    const route = ROUTES[message.type];
    if (!route.from.includes(from.kind) || !route.to.includes(this.self.kind)) return "wrongDirection";
    const mismatch = senderFieldMismatch(from, message, this.self.kind);
    if (mismatch) return "senderMismatch";
    switch (message.type) {
      case "Request":
        // From a client, the client itself; from a replica, a relay vouched for only by the
        // client's own authenticator (the frame MAC authenticates just the relaying replica).
        if (from.kind === "client" && message.clientId !== from.id) return "senderMismatch";
        return this.requestAuthentic(message) ? undefined : "requestAuthInvalid";
      case "Reply":
        return message.clientId === this.self.id ? undefined : "wrongReceiver";
      case "PrePrepare":
        // Each request keeps its client's authenticator so a backup knows the client asked for it,
        // but the replica core checks those (CoreDeps.requestAuthentic): a backup that cannot
        // authenticate a request, e.g. one a client authenticated for the node that ran this id
        // before a migration, still takes the batch once a quorum vouches for it. Likewise each
        // INIT-MIGRATION proof keeps its sender's authenticator, so a backup knows 2f+1 asked,
        // and the core checks them (MigrationDeps.initMigrationAuthentic): a proof made before
        // its sender or this replica restarted without memory no longer verifies here.
        return undefined;
      case "InitMigration":
        return this.initMigrationAuthentic(message) ? undefined : "initMigrationAuthInvalid";
      case "ViewChange":
        return this.viewChangeAuthentic(message) ? undefined : "signatureInvalid";
      case "NewView":
        // Nested VIEW-CHANGEs are checked against their own signers' keys. Requests inside the
        // NEW-VIEW's PRE-PREPAREs and inside VIEW-CHANGE batches are not MAC-checked: a
        // replica other than the one that first accepted them may not hold a valid MAC entry
        // (authenticators are per receiver), and they are vouched for otherwise: prepared
        // requests were accepted by a quorum, and the new view only re-proposes digests that
        // signed VIEW-CHANGEs name (PBFT, TOCS 2002, section 4.5).
        for (const viewChange of message.viewChanges) {
          if (!this.viewChangeAuthentic(viewChange, true)) return "signatureInvalid";
        }
        return undefined;
      default:
        return undefined;
    }
  }

  /** Whether the client's authenticator entry for this receiver is valid (requests in PRE-PREPAREs). */
  requestAuthentic(request: Request): boolean {
    const input = requestMacInput(this.requestDigest(request));
    const key = this.macKey({ kind: "client", id: request.clientId });
    return macMatches(key, input, request.auth, this.self.id * MAC_BYTES);
  }

  /** Whether the sender's authenticator entry for us is valid (INIT-MIGRATION, and proofs in PRE-PREPAREs). */
  initMigrationAuthentic(message: InitMigration): boolean {
    if (this.self.kind !== "replica" || message.replicaId >= this.n) return false;
    const input = initMigrationMacInput(sha256(initMigrationAuthBytes(message)));
    const key = this.frameKey({ kind: "replica", id: message.replicaId }, "InitMigration");
    return key !== undefined && macMatches(key, input, message.auth, this.self.id * MAC_BYTES);
  }

  /**
   * A replica's authenticator for its INIT-MIGRATION: one MAC per replica id (its own slot too,
   * since the message comes back to it as a proof inside the primary's PRE-PREPARE).
   */
  authenticateInitMigration(message: Omit<InitMigration, "auth">): Uint8Array {
    assert(this.self.kind === "replica", "only replicas send INIT-MIGRATION");
    assert(message.replicaId === this.self.id, "a replica authenticates its own INIT-MIGRATION");
    const input = initMigrationMacInput(sha256(initMigrationAuthBytes(message)));
    const auth = new Uint8Array(this.n * MAC_BYTES);
    for (let replicaId = 0; replicaId < this.n; replicaId++) {
      const key = this.frameKey({ kind: "replica", id: replicaId }, "InitMigration");
      if (key !== undefined) macInto(key, input, auth, replicaId * MAC_BYTES);
    }
    return auth;
  }

  /**
   * A VIEW-CHANGE received directly must be signed by the node running its id now. One nested in
   * a NEW-VIEW may also be signed by a node that ran the id before (`nested`): the view change
   * may predate a migration we applied since, and its VIEW-CHANGEs were signed by the nodes of
   * that time. Without this, a replica that missed the NEW-VIEW, or a target promoted after it,
   * could never verify it and stayed in its old view until the next view change (docs/
   * migration-progress.md, lyingNewPrimary runs). A previous node counts as one of the f faulty
   * replicas until the CM sanitized it, as while it ran the id; a sanitized node signs no
   * VIEW-CHANGE (one pre-signed while compromised is the known limit of roster keys that outlive
   * sanitization, docs/migration.md, "Evidence"). Each id still has one VIEW-CHANGE in a NEW-VIEW.
   */
  private viewChangeAuthentic(viewChange: ViewChange, nested = false): boolean {
    if (viewChange.replicaId >= this.n) return false;
    const publicKey = this.publicKeys[viewChange.replicaId];
    if (publicKey !== undefined && verifyViewChange(publicKey, viewChange)) return true;
    if (!nested) return false;
    const previous = this.previousPublicKeys[viewChange.replicaId] ?? [];
    return previous.some((key) => verifyViewChange(key, viewChange));
  }

  /** Client side: one MAC per replica (index = replica id) over the request digest. */
  authenticateRequest(request: Omit<Request, "auth">): Uint8Array {
    assert(this.self.kind === "client", "only clients authenticate requests");
    assert(request.clientId === this.self.id, "a client authenticates its own requests");
    const input = requestMacInput(this.requestDigest(request));
    const auth = new Uint8Array(this.n * MAC_BYTES);
    for (let replicaId = 0; replicaId < this.n; replicaId++) {
      macInto(this.macKey({ kind: "replica", id: replicaId }), input, auth, replicaId * MAC_BYTES);
    }
    return auth;
  }

  /**
   * SHA-256 over clientId, timestamp and operation; cached by operation bytes (it is hot: the
   * client's authenticator and frame MAC, a replica's frame MAC, entry check and batch digest).
   */
  requestDigest(request: Request | Omit<Request, "auth">): Uint8Array {
    const cached = this.requestDigests.get(request.operation);
    if (
      cached !== undefined &&
      cached.clientId === request.clientId &&
      cached.timestamp === request.timestamp
    )
      return cached.digest;
    const digest = computeRequestDigest(request);
    this.requestDigests.set(request.operation, {
      clientId: request.clientId,
      timestamp: request.timestamp,
      digest,
    });
    return digest;
  }

  /**
   * The frame MAC input of a message digestMaced names: the frame header, then the body's fields
   * with each request's operation replaced by the request digest. In a scratch buffer that the
   * next call overwrites.
   */
  private macInputByDigest(frame: Uint8Array, headerBytes: number, message: Message): Uint8Array {
    const input = this.digestMacInput;
    input.set(frame.subarray(0, headerBytes), 0);
    const writer = new Writer(input, headerBytes);
    if (message.type === "Request") {
      this.writeRequestMacInput(writer, message);
    } else {
      assert(message.type === "PrePrepare" && message.special === undefined, "a PRE-PREPARE of requests");
      assert(message.requests.length <= REQUEST_BATCH_MAX, "batch within REQUEST_BATCH_MAX");
      writer.u64(message.view);
      writer.u64(message.seq);
      writer.shortBytes(message.digest);
      writer.u16(message.requests.length);
      for (const request of message.requests) this.writeRequestMacInput(writer, request);
    }
    return input.subarray(0, writer.offset);
  }

  private writeRequestMacInput(writer: Writer, request: Request): void {
    // Decoded authenticators are within AUTH_BYTES_MAX (validate.ts); so are the ones we build.
    assert(request.auth.length <= AUTH_BYTES_MAX, "authenticator within AUTH_BYTES_MAX");
    const digest = this.requestDigest(request);
    writer.bytes.set(digest, writer.offset);
    writer.offset += DIGEST_BYTES;
    writer.shortBytes(request.auth);
  }

  signViewChange(viewChange: Omit<ViewChange, "signature">): Uint8Array {
    assert(this.privateKey !== undefined, "this wire has a signing key");
    assert(viewChange.replicaId === this.self.id, "a replica signs its own VIEW-CHANGE");
    return signViewChange(this.privateKey, viewChange);
  }

  /**
   * The MAC key for a frame of `type` to or from `peer`: the session key when both ends are nodes
   * and the type needs one (undefined if we hold none yet), the derived key otherwise.
   */
  private frameKey(peer: Principal, type: MessageType): KeyObject | undefined {
    const sessionKeys = this.sessionKeys;
    if (sessionKeys === undefined || DERIVED_KEY_TYPES.has(type)) return this.macKey(peer);
    const keyed = this.keyedPrincipal(peer);
    if (keyed.kind !== "node") return this.macKey(peer);
    const ownNode = this.self.kind === "node" ? this.self.id : this.membership?.[this.self.id];
    return keyed.id === ownNode ? sessionKeys.own : sessionKeys.get(keyed.id);
  }

  /** One KeyObject per peer, made once: HMAC setup from a raw key costs on every call otherwise. */
  private macKey(peer: Principal): KeyObject {
    const code = principalCode(peer);
    const cached = this.macKeys.get(code);
    if (cached !== undefined) return cached;
    if (this.macKeys.size >= PEER_KEYS_MAX) {
      // Forget the oldest entry; it is re-derived if that peer comes back.
      const oldest = this.macKeys.keys().next();
      if (oldest.done !== true) this.macKeys.delete(oldest.value);
    }
    const key = createSecretKey(this.keys.macKey(this.keyedPrincipal(peer)));
    this.macKeys.set(code, key);
    return key;
  }

  /** Replicas are keyed by the node running them when the wire has a membership (keys.ts). */
  private keyedPrincipal(peer: Principal): Principal {
    if (peer.kind !== "replica" || this.membership === undefined) return peer;
    const nodeId = this.membership[peer.id];
    assert(nodeId !== undefined, "membership names every replica id");
    return { kind: "node", id: nodeId };
  }
}

/**
 * Whether the sender named inside a message differs from the authenticated one: replica ids for
 * replicas, node ids for nodes (a target's FETCH-STATE names the logical id it will assume, which
 * the replica core checks against its membership), cm ids for the CM.
 */
function senderFieldMismatch(from: Principal, message: Message, receiver: PrincipalKind): boolean {
  switch (from.kind) {
    case "replica":
      return "replicaId" in message && message.replicaId !== from.id && !relaysAuthor(message, receiver);
    case "node":
      return "nodeId" in message && message.nodeId !== from.id;
    case "cm":
      return "cmId" in message && message.cmId !== from.id;
    case "client":
      return false;
    default:
      return true;
  }
}

/**
 * Messages any replica may forward although their replicaId names another author. NEW-VIEW,
 * resent to a replica that missed it (STATUS retransmission): its content is checked by re-running
 * the new-view decision on the enclosed signed VIEW-CHANGEs (PBFT, TOCS 2002, section 4.5), so the
 * frame's sender does not matter. The replica core accepts a relayed NEW-VIEW only if its replicaId
 * is the primary of its view and trusts nothing else in it but what the signatures vouch for.
 * MIGRATE-NOW relayed to a migration target (a node) or to the CM: the standby core and the CM
 * count it only under the signature of the node running its replicaId, whoever relayed it
 * (section 3.2).
 */
function relaysAuthor(message: Message, receiver: PrincipalKind): boolean {
  return (
    message.type === "NewView" ||
    (message.type === "MigrateNow" && (receiver === "node" || receiver === "cm"))
  );
}

/**
 * The point-to-point receiver a frame's header names, read without authenticating anything; for
 * a gateway that hands each frame to the right principal's Wire, whose open() then checks it (a
 * forged receiver only sends the frame to a Wire that drops it). Undefined for a broadcast or a
 * malformed header.
 */
export function peekReceiver(frame: Uint8Array): Principal | undefined {
  if (frame.length < FRAME_HEADER_POINT_BYTES || frame.length > MESSAGE_BYTES_MAX) return undefined;
  return readHeader(frame)?.to;
}

/**
 * A frame's bytes, not zeroed: sealFrame writes every byte. Buffer.allocUnsafe carves frames under
 * 4 KiB (requests, replies, votes) out of node's shared pool instead of giving each its own
 * ArrayBuffer, whose allocation and collection cost more than the encoding of a 1 KiB request
 * (docs/protocol.md, Performance notes, third round). Returned as a plain Uint8Array view, as
 * decoded byte fields are.
 */
function allocateFrame(byteCount: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(byteCount);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, byteCount);
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] as number) * 2 ** 24 +
    (((bytes[offset + 1] as number) << 16) |
      ((bytes[offset + 2] as number) << 8) |
      (bytes[offset + 3] as number))
  );
}

function drop(reason: DropReason): { ok: false; reason: DropReason } {
  return { ok: false, reason };
}

/** Parses the frame header; undefined when any header field is unknown or out of range. */
function readHeader(frame: Uint8Array): FrameHeader | undefined {
  if (frame[0] !== FRAME_VERSION) return undefined;
  const senderKind = KINDS_BY_BYTE[frame[1] as number];
  if (senderKind === undefined) return undefined;
  const from: Principal = { kind: senderKind, id: readU32(frame, 2) };
  const marker = frame[6];
  if (marker === RECEIVER_REPLICAS || marker === RECEIVER_REPLICAS_DIGEST_MACED) {
    const macCount = frame[7] as number;
    if (macCount < 1 || macCount > REPLICAS_MAX) return undefined;
    const digestMaced = marker === RECEIVER_REPLICAS_DIGEST_MACED;
    return { from, headerBytes: FRAME_HEADER_BROADCAST_BYTES, to: undefined, macCount, digestMaced };
  }
  if (marker !== RECEIVER_POINT && marker !== RECEIVER_POINT_DIGEST_MACED) return undefined;
  if (frame.length < FRAME_HEADER_POINT_BYTES) return undefined;
  const receiverKind = KINDS_BY_BYTE[frame[7] as number];
  if (receiverKind === undefined) return undefined;
  return {
    from,
    headerBytes: FRAME_HEADER_POINT_BYTES,
    to: { kind: receiverKind, id: readU32(frame, 8) },
    macCount: 1,
    digestMaced: marker === RECEIVER_POINT_DIGEST_MACED,
  };
}
