/**
 * The migration protocol's messages (Zhao & Zhang, section 3), in the style of bft/messages.ts:
 * decoded, validated forms the cores see; readonly fields; a `type` discriminant; ids as numbers;
 * digests are Uint8Array of DIGEST_BYTES. The lead merges these into bft/messages.ts and the wire
 * codec; until then they live here.
 *
 * Identifiers: `replicaId` is a logical replica id (0..3f); `nodeId` names a physical node
 * (active or standby) and never changes. A promoted standby assumes the logical replica id of
 * the node it replaces (DESIGN.md section 5), so membership messages carry both.
 *
 * Signatures are Ed25519 by the sender's coprocessor over the bytes given by the matching
 * function in ./signing.ts. `auth` fields are PBFT authenticators (one MAC per replica) kept
 * because the message is forwarded inside another one, like Request.auth.
 */

/** A node and where its NIC2 (inter-pool network) is reached, e.g. "10.2.0.7:7000". */
export interface NodeAddress {
  readonly nodeId: number;
  /** At most ADDRESS_CHARS_MAX characters. */
  readonly address: string;
}

/**
 * Section 3.1: ⟨JOIN-REQUEST, l, i_s⟩σ_is. Sent by a standby to every active replica after each
 * sanitization. `counter` (l) is the coprocessor counter, bumped once per sanitization, so a
 * replayed or stale request has a lower l and is rejected. `publicKey` and `address` must match
 * the trusted roster the CM provisioned; the signature covers every field but itself.
 */
export interface JoinRequest {
  readonly type: "JoinRequest";
  /** l */
  readonly counter: number;
  /** i_s */
  readonly nodeId: number;
  /** Raw Ed25519 key of the node's coprocessor (32 bytes). */
  readonly publicKey: Uint8Array;
  /** NIC2 address for JOIN-APPROVED, key exchange and state transfer. */
  readonly address: string;
  /** σ_is: Ed25519 over joinRequestSignedBytes(...). */
  readonly signature: Uint8Array;
}

/**
 * Section 3.1: ⟨JOIN-APPROVED, l, n_r⟩σ_i, sent by replica i to the standby when it executes the
 * JOIN-REQUEST at sequence number n_r. The standby needs 2f+1 with the same l and n_r from
 * distinct replicas. `nodeId` names the standby approved, so a misdelivered approval is ignored.
 */
export interface JoinApproved {
  readonly type: "JoinApproved";
  /** l */
  readonly counter: number;
  /** n_r: the sequence number at which the JOIN-REQUEST was ordered. */
  readonly seq: number;
  readonly nodeId: number;
  /** i */
  readonly replicaId: number;
}

/**
 * Section 3.1: the CM deregisters a registered standby that needs a lengthy repair. Handled like
 * JOIN-REQUEST (ordered, then applied at execution). `counter` is the l of the registration it
 * revokes: a leave never removes a later registration, so replaying an old leave is harmless.
 * Signed by the CM replica `cmId` (the CM is trusted and fail-stop).
 */
export interface LeaveRequest {
  readonly type: "LeaveRequest";
  readonly nodeId: number;
  readonly counter: number;
  readonly cmId: number;
  /** Ed25519 over leaveRequestSignedBytes(...) by CM replica cmId. */
  readonly signature: Uint8Array;
}

/** Why a migration round starts: the migration timer (section 3.2) or on demand (section 3.4). */
export type MigrationTrigger = "timer" | "onDemand";

/**
 * Section 3.2: ⟨INIT-MIGRATION, v, l, S, D, i⟩σ_i, multicast by replica i when its migration
 * timer expires (or on demand). A receiver accepts it only if S and D equal its own selection
 * (selectSources/selectTargets, or selectOnDemand for section 3.4) and it has not accepted one from
 * i in view v with the same or higher l.
 */
export interface InitMigration {
  readonly type: "InitMigration";
  /** v */
  readonly view: number;
  /** l: number of successful migration rounds replica i has recorded. */
  readonly migrationNumber: number;
  /** S: logical replica ids to migrate, in selection order. */
  readonly sources: readonly number[];
  /** D: standby node ids chosen as targets, in selection order (target k replaces source k). */
  readonly targets: readonly number[];
  readonly trigger: MigrationTrigger;
  /** i */
  readonly replicaId: number;
  /** Authenticator, kept because the message travels as proof inside MIGRATION-REQUEST. */
  readonly auth: Uint8Array;
}

/**
 * Section 3.2: ⟨MIGRATION-REQUEST, v, l, S, D⟩σ_p with the 2f+1 INIT-MIGRATION messages from
 * distinct replicas that justify it. The primary orders it alone in a batch, at the head of its
 * queue, and piggybacks it on the PRE-PREPARE; backups check every proof matches (v, l, S, D).
 */
export interface MigrationRequest {
  readonly type: "MigrationRequest";
  readonly view: number;
  readonly migrationNumber: number;
  readonly sources: readonly number[];
  readonly targets: readonly number[];
  readonly trigger: MigrationTrigger;
  /** Exactly 2f+1 INIT-MIGRATIONs from distinct replicas, all with these v, l, S, D. */
  readonly proofs: readonly InitMigration[];
}

/**
 * One ⟨s, d⟩ tuple of P (section 3.2 "State Transfer"). `replicaId` is s, the logical id the
 * target assumes; `sourceNodeId` is the node running s now (so the CM can cut it off without a
 * lookup, and cross-check its own view); `targetNodeId` is d.
 */
export interface MigrationPair {
  readonly replicaId: number;
  readonly sourceNodeId: number;
  readonly targetNodeId: number;
}

/**
 * Section 3.2: ⟨MIGRATE-NOW, v, n, C, P, i⟩σ_i, sent by replica i when it executes the
 * MIGRATION-REQUEST at sequence number n, to the f targets and every CM replica. A target needs
 * 2f+1 with the same n and C; the CM acts on f+1 with the same v, n, C and P. Signed (not MACed)
 * because the CM and the standbys verify it without a shared key.
 */
export interface MigrateNow {
  readonly type: "MigrateNow";
  /** v */
  readonly view: number;
  /** n: sequence number of the MIGRATION-REQUEST. */
  readonly seq: number;
  /** C: digest of the checkpoint taken at n. */
  readonly checkpointDigest: Uint8Array;
  /** P: f pairs, in selection order. */
  readonly pairs: readonly MigrationPair[];
  /** i */
  readonly replicaId: number;
  /** Ed25519 over migrateNowSignedBytes(...). */
  readonly signature: Uint8Array;
}

/** One member of the active set after a migration. */
export interface MemberAddress {
  readonly replicaId: number;
  readonly nodeId: number;
  /** Where clients reach it (NIC1), at most ADDRESS_CHARS_MAX characters. */
  readonly address: string;
}

/**
 * Section 3.3: ⟨NEW-MEMBERSHIP, v, n, P, i⟩σ_i, MIGRATE-NOW without the checkpoint. Sent lazily
 * by pre-existing replicas to a client whose request is ordered after n, or at once to every
 * known client when a new replica becomes primary. Carries the full new membership with
 * addresses so a client can reach new replicas and ignore retired ones.
 */
export interface NewMembership {
  readonly type: "NewMembership";
  readonly view: number;
  readonly seq: number;
  readonly pairs: readonly MigrationPair[];
  /** All 3f+1 members after the migration, by ascending replicaId. */
  readonly members: readonly MemberAddress[];
  readonly replicaId: number;
  /** Ed25519 over newMembershipSignedBytes(...). */
  readonly signature: Uint8Array;
}

/**
 * Section 3.1 / section 2 ("key exchange messages are protected by digital signatures"): after
 * registering, a standby and the active replicas exchange fresh X25519 key-agreement keys; each
 * pair derives its MAC key from the shared secret. `counter` is the sender's coprocessor counter
 * when the key was made; a receiver keeps only the key with the highest counter per node.
 */
export interface KeyExchange {
  readonly type: "KeyExchange";
  readonly nodeId: number;
  /** The sender's logical replica id if it is active, null for a standby. */
  readonly replicaId: number | null;
  readonly counter: number;
  /** Raw X25519 public key, 32 bytes. */
  readonly keyAgreementPublicKey: Uint8Array;
  /** Ed25519 over keyExchangeSignedBytes(...) by the sender's coprocessor. */
  readonly signature: Uint8Array;
}

export type MigrationMessage =
  | JoinRequest
  | JoinApproved
  | LeaveRequest
  | InitMigration
  | MigrationRequest
  | MigrateNow
  | NewMembership
  | KeyExchange;
export type MigrationMessageType = MigrationMessage["type"];
