/**
 * The protocol's messages, named as in the papers (PBFT, Castro & Liskov TOCS 2002; migration,
 * Zhao & Zhang). These are the decoded, validated forms the cores see. Transport-level
 * authentication (MACs, authenticators) lives in bft/wire: by the time a message reaches a core
 * its sender has been authenticated, except where a message carries authentication that must
 * travel with it when it is forwarded (a client REQUEST inside a PRE-PREPARE keeps its
 * authenticator; a VIEW-CHANGE keeps its signature inside a NEW-VIEW).
 *
 * Numbers: views, sequence numbers and timestamps are non-negative safe integers (< 2^53).
 * Digests are DIGEST_BYTES long.
 */

/**
 * Who sent or receives a message. Replica ids are logical (0..3f) and move between physical nodes
 * when a standby is promoted (paper section 3.2); client ids are their own space; a `node` is a
 * physical node by its node id (a standby, or an active node speaking as itself during migration);
 * a `cm` is one replica of the configuration manager.
 */
export type PrincipalKind = "replica" | "client" | "node" | "cm";
export interface Principal {
  readonly kind: PrincipalKind;
  readonly id: number;
}

/** A client's operation. `auth` is the client's authenticator: one MAC per replica, by replica id. */
export interface Request {
  readonly type: "Request";
  readonly clientId: number;
  /** Per-client monotonically increasing; the paper's t. Used for exactly-once semantics. */
  readonly timestamp: number;
  readonly operation: Uint8Array;
  readonly auth: Uint8Array;
}

export interface Reply {
  readonly type: "Reply";
  readonly view: number;
  readonly timestamp: number;
  readonly clientId: number;
  readonly replicaId: number;
  readonly result: Uint8Array;
}

/**
 * A special entry the primary orders alone instead of a batch of client requests (paper sections
 * 3.1 and 3.2): a MIGRATION-REQUEST with its 2f+1 INIT-MIGRATION proofs, a standby's JOIN-REQUEST
 * with the join time the primary assigned, or the CM's LEAVE-REQUEST. Never batched with requests.
 */
export type OrderedSpecial =
  | { readonly kind: "migration"; readonly request: MigrationRequest }
  | { readonly kind: "join"; readonly request: JoinRequest; readonly joinTimeMs: number }
  | { readonly kind: "leave"; readonly request: LeaveRequest };

/**
 * The primary's proposal at (view, seq): a batch of client requests, or (when `special` is set,
 * with `requests` empty) one special entry. digest = batchDigest(requests) for a batch and
 * specialDigest(special) for a special entry (bft/replica/batch-digest.ts), so the digest that the
 * three phases agree on covers the special entry too.
 */
export interface PrePrepare {
  readonly type: "PrePrepare";
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly requests: readonly Request[];
  readonly special?: OrderedSpecial | undefined;
}

export interface Prepare {
  readonly type: "Prepare";
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly replicaId: number;
}

export interface Commit {
  readonly type: "Commit";
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly replicaId: number;
}

/** stateDigest covers the application state and the replica's last-reply table at seq. */
export interface Checkpoint {
  readonly type: "Checkpoint";
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly replicaId: number;
}

/** An entry of the P set (prepared) or Q set (pre-prepared) of a VIEW-CHANGE. */
export interface ViewChangeEntry {
  readonly seq: number;
  readonly view: number;
  readonly digest: Uint8Array;
}

export interface CheckpointClaim {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
}

/**
 * VIEW-CHANGE, signed (Ed25519) by its sender so that the new primary can forward it inside
 * NEW-VIEW and every backup can re-run the new-view decision on the same evidence.
 * `batches` holds the request bodies of every digest named in `prepared` and `prePrepared`, so
 * the new primary can re-propose them without a fetch round.
 */
export interface ViewChange {
  readonly type: "ViewChange";
  readonly newView: number;
  /** The sender's low watermark h (its last stable checkpoint). */
  readonly stableSeq: number;
  /** Checkpoints the sender holds at or above h (the C set). */
  readonly checkpoints: readonly CheckpointClaim[];
  /** The P set: for each seq above h, the highest view in which the sender prepared it. */
  readonly prepared: readonly ViewChangeEntry[];
  /** The Q set: for each seq above h, the highest view in which the sender pre-prepared it. */
  readonly prePrepared: readonly ViewChangeEntry[];
  /** Request bodies for the digests above: each batch once. */
  readonly batches: readonly Batch[];
  readonly replicaId: number;
  /** Ed25519 over the encoding of every field above; filled by CoreDeps.signViewChange. */
  readonly signature: Uint8Array;
}

export interface Batch {
  readonly digest: Uint8Array;
  readonly requests: readonly Request[];
  /** Set when the batch is a special entry (then `requests` is empty); see PrePrepare. */
  readonly special?: OrderedSpecial | undefined;
}

/**
 * NEW-VIEW: the 2f+1 VIEW-CHANGE messages the new primary chose and the PRE-PREPAREs it derived
 * from them (a PRE-PREPARE with no requests is the null request). Backups recompute the decision.
 */
export interface NewView {
  readonly type: "NewView";
  readonly view: number;
  readonly viewChanges: readonly ViewChange[];
  readonly prePrepares: readonly PrePrepare[];
  readonly replicaId: number;
  /**
   * Ed25519 by the node running the new primary over newViewSignedBytes (bft/migration/signing.ts),
   * so that a NEW-VIEW contradicting its own VIEW-CHANGEs is evidence any replica can check alone
   * (paper section 3.4, see Evidence). Empty without migration: plain PBFT has no use for it, and
   * backups never need it to accept a NEW-VIEW (they re-run the decision).
   */
  readonly signature: Uint8Array;
}

/** Periodic retransmission aid: tells peers how far the sender got, so they resend what it misses. */
export interface Status {
  readonly type: "Status";
  readonly view: number;
  /**
   * False while the sender waits for the NEW-VIEW of `view` (PBFT's status-pending): a peer
   * active in that view then resends it, which a peer level in view number could not tell.
   */
  readonly viewActive: boolean;
  readonly lastExecutedSeq: number;
  readonly stableSeq: number;
  readonly replicaId: number;
}

/** Ask a replica for chunk `chunkIndex` of the checkpoint at seq (state transfer). */
export interface FetchState {
  readonly type: "FetchState";
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly chunkIndex: number;
  readonly replicaId: number;
}

export interface StateChunk {
  readonly type: "StateChunk";
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly chunkIndex: number;
  readonly chunkCount: number;
  readonly totalBytes: number;
  readonly bytes: Uint8Array;
  readonly replicaId: number;
}

/** Messages exchanged among replicas. */
export type ReplicaMessage =
  | PrePrepare
  | Prepare
  | Commit
  | Checkpoint
  | ViewChange
  | NewView
  | Status
  | FetchState
  | StateChunk
  | InitMigration
  | MigrationDone
  | Evidence;

/** Every message type the wire carries. */
export type Message = Request | Reply | ReplicaMessage | MigrationMessage;
export type MessageType = Message["type"];

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
 * Signed by the coprocessor of the node running replica i: the standby holds no session key with
 * the replicas yet, and a MAC under a key derived from the cluster secret proves nothing about
 * which replica approved (every holder of the secret can compute it).
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
  /** σ_i: Ed25519 over joinApprovedSignedBytes(...). */
  readonly signature: Uint8Array;
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
 * The CM's signed statement of the membership after a migration round it applied (the round
 * whose MIGRATION-REQUEST executed at `seq`): who runs each logical replica id, with addresses.
 * A client, standby or replica that missed NEW-MEMBERSHIP notices, and so holds MAC keys for
 * nodes that no longer run any id, needs no old key to trust it: the CM is trusted and its public
 * keys are provisioned everywhere. Replicas relay it as they got it; `seq` orders certificates
 * (it grows with every round, as the migration number l does; MIGRATE-NOW does not carry l, so
 * the CM names rounds by n). The wire admits it without a frame MAC check (see wire.ts).
 */
export interface MembershipCertificate {
  readonly type: "MembershipCertificate";
  /** n of the round's MIGRATION-REQUEST. */
  readonly seq: number;
  /**
   * C of the round: the checkpoint digest its f+1 matching MIGRATE-NOWs named at the CM (one of
   * them a correct replica's), so a replica that missed the round can fetch exactly that state.
   */
  readonly checkpointDigest: Uint8Array;
  /** All 3f+1 members after the round, by ascending replicaId. */
  readonly members: readonly MemberAddress[];
  readonly cmId: number;
  /** Ed25519 over membershipCertificateSignedBytes(...) by CM replica `cmId`. */
  readonly signature: Uint8Array;
}

/**
 * Section 3.1 / section 2 ("key exchange messages are protected by digital signatures"): a node
 * that needs MAC keys (a registered standby, a replica that booted or saw a new member) sends each
 * peer node a fresh X25519 key-agreement key; the peer answers with its own fresh key, and both
 * derive the pair's MAC key from the shared secret (bft/migration/key-exchange.ts).
 *
 * `counter` is the sender's coprocessor counter when it started exchanging keys: it only grows
 * (across reboots and sanitizations), so a receiver rejects an initiation whose counter is below
 * the highest it has seen from that node. An answer names the initiation it answers by
 * `peerCounter` (0 in an initiation), and both name the receiver (`peerNodeId`), so neither can
 * be replayed to another node or as an answer to a later exchange.
 */
export interface KeyExchange {
  readonly type: "KeyExchange";
  readonly nodeId: number;
  /** The sender's logical replica id if it is active, null for a standby. */
  readonly replicaId: number | null;
  readonly counter: number;
  /** The node this message is for. */
  readonly peerNodeId: number;
  /** 0 in an initiation; in an answer, the counter of the initiation it answers (at least 1). */
  readonly peerCounter: number;
  /** Raw X25519 public key, 32 bytes. */
  readonly keyAgreementPublicKey: Uint8Array;
  /** Ed25519 over keyExchangeSignedBytes(...) by the sender's coprocessor. */
  readonly signature: Uint8Array;
}

/**
 * The promoted target's notice to every replica that it applied the checkpoint of the
 * MIGRATION-REQUEST at `seq` and now runs logical replica `replicaId` on node `nodeId`. Replicas
 * measure the migration latency Ts up to it (section 3.2, Equation 2) and stop retransmitting
 * MIGRATE-NOW to that target. Sent with the node's own identity (principal kind "node").
 */
export interface MigrationDone {
  readonly type: "MigrationDone";
  readonly seq: number;
  readonly nodeId: number;
  readonly replicaId: number;
}

/**
 * Section 3.4: the CM asks for an on-demand migration of the named logical replicas (it found
 * the node running them faulty after promotion: failed probes, an intrusion report). Signed by CM
 * replica `cmId` (Ed25519 over onDemandMigrationSignedBytes) so each replica checks it on its own;
 * `counter` grows per CM request, so a replayed request is rejected.
 */
export interface OnDemandMigration {
  readonly type: "OnDemandMigration";
  /** Logical replica ids to migrate, 1..f of them. */
  readonly replicaIds: readonly number[];
  readonly counter: number;
  readonly cmId: number;
  readonly signature: Uint8Array;
}

/**
 * Section 3.4, "solid evidence that one or more replicas are faulty, such as a lying primary": a
 * NEW-VIEW signed by the primary of its view whose PRE-PREPAREs (or chosen checkpoint) do not
 * follow from its own VIEW-CHANGEs, or that holds fewer than 2f+1 well-formed ones. A correct
 * primary never signs such a NEW-VIEW, so any replica can check the proof by itself: the
 * signature under the roster key of `offenderNodeId`, then the new-view decision re-run on the
 * enclosed VIEW-CHANGEs. The offender is the logical id `newView.replicaId` as run by node
 * `offenderNodeId`; a receiver migrates that id only while the same node still runs it.
 * Broadcast by `replicaId`, the accuser.
 */
export interface Evidence {
  readonly type: "Evidence";
  readonly newView: NewView;
  readonly offenderNodeId: number;
  readonly replicaId: number;
}

/**
 * Migration messages on the wire. MIGRATION-REQUEST is not among them: it only travels inside a
 * PRE-PREPARE (OrderedSpecial) and inside VIEW-CHANGE batches.
 */
export type MigrationMessage =
  | JoinRequest
  | JoinApproved
  | LeaveRequest
  | InitMigration
  | MigrateNow
  | NewMembership
  | KeyExchange
  | MigrationDone
  | OnDemandMigration
  | Evidence
  | MembershipCertificate;
export type MigrationMessageType = MigrationMessage["type"];
