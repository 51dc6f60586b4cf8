/**
 * The replica core's surface: inputs, effects and injected deterministic helpers.
 *
 * A replica is a deterministic state machine. `Replica.step(input, nowMs)` returns effects; the
 * host carries them out. No sockets, timers, Date.now, randomness or files are touched inside.
 * The same core runs in the simulator, in local processes and in containers.
 *
 * Effect ordering contract: the host carries out effects in array order. There is no persistence:
 * a replica that restarts has lost its memory and recovers by state transfer (as in the paper's
 * model, where reboot clears memory and the state is fetched from the other replicas).
 */
import type { Application } from "../apps/app.js";
import type {
  InitMigration,
  MemberAddress,
  Message,
  MigrationPair,
  MigrationTrigger,
  Principal,
  ReplicaMessage,
  Request,
  ViewChange,
} from "../messages.js";
import type { AdminNotification, IntervalParams, KeyExchangeSetup, RosterEntry } from "../migration/index.js";

export interface ReplicaConfig {
  /** Faults tolerated; n = 3f+1 replicas. */
  readonly f: number;
  /** This replica's logical id, 0..3f. */
  readonly replicaId: number;
  readonly checkpointIntervalSeqs: number;
  readonly logWindowSeqs: number;
  /** Most requests in one batch. */
  readonly batchSizeMax: number;
  /**
   * Most batches the primary keeps pre-prepared but not yet executed. Batching adapts to load:
   * while this many are in flight, arriving requests queue and go out together in the next batch.
   */
  readonly batchInflightMax: number;
  /**
   * The primary proposes requests that arrive in messages only when the host calls endTurn(),
   * once per event-loop turn, rather than at each request: a client gateway's requests arrive
   * together in one read, and proposing at the first one sent it alone (bench:local measured
   * batches of 2.4 with 8 clients; docs/protocol.md, Performance notes). A host that sets this
   * must call endTurn() after every turn that delivered messages. Absent: false.
   */
  readonly proposeAtTurnEnd?: boolean;
  /** A backup that waits this long for a request it knows of to execute starts a view change. */
  readonly viewChangeTimeoutMs: number;
  /** Period of STATUS broadcasts that drive retransmission of lost protocol messages. */
  readonly statusIntervalMs: number;
  /** Migration-based proactive recovery (paper section 3); absent: plain PBFT. */
  readonly migration?: MigrationSettings | undefined;
}

/** What a replica needs to take part in migration (docs/migration.md). */
export interface MigrationSettings {
  /** The physical node this replica runs on. */
  readonly nodeId: number;
  /** Every node with its coprocessor key (CM-provisioned; JOIN-REQUEST keys must match). */
  readonly roster: readonly RosterEntry[];
  /** The initial membership, by ascending replica id (3f+1 entries). */
  readonly members: readonly MemberAddress[];
  /** CM replicas' raw Ed25519 keys by cm id (LEAVE-REQUEST and ON-DEMAND signers). */
  readonly cmPublicKeys: readonly Uint8Array[];
  /** Equations 1 and 2: p0, Toe0, Ts0 (Tw0 = p0*Toe0 is the first migration timeout). */
  readonly interval: IntervalParams;
  /**
   * Floor on Tw. Equation 2 gives Tw = p*Toe, which tends to p0*Toe when migrations are fast:
   * in a simulator where ordering takes ~0 ms that would re-arm the timer every microsecond. A
   * deployment sets it to the shortest period it is willing to migrate at (docs/migration.md).
   */
  readonly migrationTimeoutMsMin: number;
  /** Run proactive rounds on the migration timer; false leaves only on-demand rounds. */
  readonly proactive: boolean;
  /** A backup rejects a JOIN-REQUEST PRE-PREPARE whose join time is farther than this from its clock. */
  readonly joinTimeSkewMsMax: number;
  /** MIGRATE-NOW resends to a target that has not reported MIGRATION-DONE, one per status interval. */
  readonly migrateNowRetransmitsMax: number;
  /**
   * The migration timer holds the next proactive round while a round we executed has a target
   * that still runs its id in our membership and has not started, for at most this long after
   * that execution (docs/migration.md, "Target wait"); 0 never holds. Bounded so that a target
   * that never starts cannot stop proactive recovery: the CM's promotion deadline moves its id.
   */
  readonly targetWaitMsMax: number;
}

export type TimerId = "viewChange" | "status" | "stateTransfer" | "migration";

export type ReplicaInput =
  /** A message whose sender the wire layer has authenticated. */
  | { readonly kind: "message"; readonly from: Principal; readonly message: Message }
  | { readonly kind: "timer"; readonly timer: TimerId };

export type Effect =
  /** Point-to-point: one MAC for the receiver. */
  | { readonly kind: "send"; readonly to: Principal; readonly message: Message }
  /** To every other replica, with an authenticator. */
  | { readonly kind: "broadcast"; readonly message: ReplicaMessage }
  /** (Re)arm a timer; a later setTimer for the same id replaces it. */
  | { readonly kind: "setTimer"; readonly timer: TimerId; readonly afterMs: number }
  | { readonly kind: "cancelTimer"; readonly timer: TimerId }
  /** History record: a committed batch ran at seq (checked by bft/checker). */
  | {
      readonly kind: "executed";
      readonly view: number;
      readonly seq: number;
      readonly digest: Uint8Array;
      readonly results: readonly ExecutedRequest[];
    }
  /** History record: a checkpoint became stable (2f+1 matching). */
  | { readonly kind: "stableCheckpoint"; readonly seq: number; readonly stateDigest: Uint8Array }
  /** History record: the replica entered a view (after NEW-VIEW). */
  | { readonly kind: "viewEntered"; readonly view: number; readonly primary: number }
  /** History record: state transfer installed a checkpoint. */
  | { readonly kind: "stateInstalled"; readonly seq: number; readonly stateDigest: Uint8Array }
  /**
   * History record: a MIGRATION-REQUEST executed at seq; `stateDigest` is the migration checkpoint
   * C every correct replica sends in MIGRATE-NOW; `stateSender` is the designated full-state sender.
   */
  | {
      readonly kind: "migrationExecuted";
      readonly view: number;
      readonly seq: number;
      readonly migrationNumber: number;
      readonly trigger: MigrationTrigger;
      readonly pairs: readonly MigrationPair[];
      readonly stateDigest: Uint8Array;
      readonly stateSender: number;
    }
  /**
   * Logical replicas moved to new nodes: the host points its wire (MAC keys, setMember) and its
   * transport at the new nodes before carrying out later effects.
   */
  | {
      readonly kind: "membershipChanged";
      readonly members: readonly MemberAddress[];
      readonly pairs: readonly MigrationPair[];
    }
  /**
   * This replica was a migration source: it has sent its MIGRATE-NOWs and stops (the host
   * disables NIC1 and stops feeding it input, paper section 3.2). Effects after it: none.
   */
  | { readonly kind: "retire"; readonly replicaId: number; readonly nodeId: number; readonly seq: number }
  /** History record: every target of the migration at seq reported MIGRATION-DONE after latencyMs (Ts). */
  | { readonly kind: "migrationCompleted"; readonly seq: number; readonly latencyMs: number }
  /** History record: the migration timer expired but the round could not start (too few standbys). */
  | { readonly kind: "migrationPostponed"; readonly reason: string }
  /** Toe or Ts exceeded its worst case (paper section 3.2): the host notifies the administrator. */
  | { readonly kind: "adminNotification"; readonly notification: AdminNotification }
  /**
   * KEY-EXCHANGE finished with node `nodeId` (install `key` in the node's SessionKeyStore before
   * carrying out later effects), or its key is void (null: remove it; it re-joined or retired).
   */
  | { readonly kind: "peerKey"; readonly nodeId: number; readonly key: Uint8Array | null }
  /**
   * History record: this replica verified proof (section 3.4, bft/replica/evidence.ts) that node
   * `offenderNodeId`, running logical replica `offenderId`, signed a NEW-VIEW for `view` that no
   * correct primary sends (`fault` names how); it now asks for an on-demand round naming the id.
   */
  | {
      readonly kind: "evidenceAccepted";
      readonly offenderId: number;
      readonly offenderNodeId: number;
      readonly view: number;
      readonly fault: string;
    };

export interface ExecutedRequest {
  readonly clientId: number;
  readonly timestamp: number;
  readonly operation: Uint8Array;
  readonly result: Uint8Array;
}

/** Deterministic helpers the host injects. */
export interface CoreDeps {
  readonly app: Application;
  /** SHA-256. */
  digest(bytes: Uint8Array): Uint8Array;
  /** Digest of one client request (covers clientId, timestamp, operation; not the authenticator). */
  requestDigest(request: Request): Uint8Array;
  /**
   * Whether the client's authenticator entry for this replica is valid (Wire.requestAuthentic).
   * The wire checks REQUEST messages itself; requests inside a PRE-PREPARE are checked here.
   */
  requestAuthentic(request: Request): boolean;
  /** Signs a VIEW-CHANGE with this replica's key; the signature covers every field but `signature`. */
  signViewChange(viewChange: Omit<ViewChange, "signature">): Uint8Array;
  /** Required when the config enables migration. */
  readonly migration?: MigrationDeps | undefined;
  readonly log?: CoreLogger;
}

/** Deterministic helpers for migration: the node's coprocessor and the wire's authenticators. */
export interface MigrationDeps {
  /** Coprocessor Ed25519 signature (MIGRATE-NOW, NEW-MEMBERSHIP), over signing.ts bytes. */
  sign(bytes: Uint8Array): Uint8Array;
  /** Ed25519 verification (JOIN-REQUEST, LEAVE-REQUEST, ON-DEMAND signatures). */
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
  /** Wire.authenticateInitMigration: one MAC per replica. */
  authenticateInitMigration(message: Omit<InitMigration, "auth">): Uint8Array;
  /**
   * Whether the sender's authenticator entry for this replica is valid (Wire.initMigrationAuthentic).
   * The wire checks INIT-MIGRATION messages itself; the proofs inside a MIGRATION-REQUEST
   * PRE-PREPARE are checked here, so a quorum can vouch for one this replica cannot verify.
   */
  initMigrationAuthentic(message: InitMigration): boolean;
  /**
   * Session keys by KEY-EXCHANGE (docs/migration.md): this boot's coprocessor counter (the host
   * increments it before each boot) and the X25519 source. Absent: the host's wire uses derived
   * keys only and KEY-EXCHANGE is dropped.
   */
  readonly keyExchange?: KeyExchangeSetup | undefined;
  /**
   * The wire codec's fitsInFrame: an EVIDENCE message nests a whole NEW-VIEW, which may have been
   * built to fill a frame, so the core checks before it forwards one.
   */
  fitsInFrame(message: Message): boolean;
}

export interface CoreLogger {
  debug(fields: Record<string, unknown>, event: string): void;
  info(fields: Record<string, unknown>, event: string): void;
}
