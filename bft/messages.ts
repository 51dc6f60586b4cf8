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

/** Who sent or receives a message. Replica ids are logical (0..3f); client ids are their own space. */
export type PrincipalKind = "replica" | "client";
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

/** The primary's proposal of a batch at (view, seq). digest = batchDigest(requests). */
export interface PrePrepare {
  readonly type: "PrePrepare";
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly requests: readonly Request[];
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
}

/** Periodic retransmission aid: tells peers how far the sender got, so they resend what it misses. */
export interface Status {
  readonly type: "Status";
  readonly view: number;
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
  | StateChunk;

/** Every message type the wire carries. */
export type Message = Request | Reply | ReplicaMessage;
export type MessageType = Message["type"];
