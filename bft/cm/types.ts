/**
 * The configuration manager core's state, inputs and effects (paper sections 2, 3.1, 3.2, 3.4).
 * The CM is trusted and fail-stop; its replicated state (etcd in the testbed) is this `CmState`.
 */
import type { MigrateNow, MigrationPair } from "../migration/index.js";

/**
 * A node's life in the pool:
 *   sanitizing ─ok─▶ probing ─healthy─▶ registering ─registered─▶ standby ─MIGRATE-NOW─▶ active
 *   active ─MIGRATE-NOW (as source)─▶ retiring ─complied / forced─▶ sanitizing
 * Failed sanitization or probes escalate reboot ─▶ disk swap ─▶ damaged (until an administrator
 * repairs it; a damaged node is never probed, admitted or promoted).
 */
export type NodeRole =
  | "sanitizing"
  | "probing"
  | "registering"
  | "standby"
  | "active"
  | "retiring"
  | "damaged";
export type SanitizeMethod = "reboot" | "swapDisk";
export type Nic = "nic1" | "nic2";

export interface CmConfig {
  readonly f: number;
  /** Period between health probes of each standby and active node. */
  readonly probeIntervalMs: number;
  /** A probe with no result after this long counts as failed. */
  readonly probeTimeoutMs: number;
  /** A retiring source must have complied (stopped serving) by this long after MIGRATE-NOW. */
  readonly complianceTimeoutMs: number;
  /** An admitted node must complete registration within this long. */
  readonly registerTimeoutMs: number;
  /** Registered standbys are re-sanitized (rebooted) this long after registering; 0 = never. */
  readonly standbyResanitizeIntervalMs: number;
  /** A pending on-demand migration request is repeated after this long if the node is still active. */
  readonly onDemandRetryMs: number;
  /**
   * A round's target must have started its replica (`replicaStarted`) this long after the CM
   * applied the round; otherwise the CM asks for an on-demand migration of the id (section 3.4),
   * which moves it to another standby. Longer than a state transfer takes under load.
   */
  readonly promotionTimeoutMs: number;
  /** How a retired source is sanitized; the paper's nodes may carry disk-level compromise. */
  readonly retiredSanitizeMethod: SanitizeMethod;
}

export interface NodeEntry {
  readonly nodeId: number;
  role: NodeRole;
  /** Logical replica id while active or retiring. */
  replicaId: number | null;
  /** The switch-port state the CM has commanded. */
  nic1Enabled: boolean;
  nic2Enabled: boolean;
  /** Sanitization attempts since the node last registered (bounded by SANITIZE_ATTEMPTS_MAX). */
  sanitizeAttempt: number;
  /** The in-flight probe, if any. */
  probeId: number | null;
  probeDeadlineMs: number;
  nextProbeAtMs: number;
  /** Role deadline: compliance (retiring) or registration (registering). */
  deadlineMs: number | null;
  /** l of the node's current registration (for LEAVE-REQUEST). */
  registeredCounter: number | null;
  /**
   * Highest l the node signed a JOIN-REQUEST with (`joinRequested`, `nodeRegistered`), kept across
   * sanitizations: the replicas may have executed that join although the CM never heard of its
   * approval (registration timeout, lost approvals), so a node the CM gives up on is deregistered
   * with it. Null until the node first asks to join.
   */
  joinCounter: number | null;
  /** l of the last LEAVE-REQUEST sent for the node (0: none): one LEAVE per join counter. */
  leaveCounter: number;
  registeredAtMs: number | null;
  onDemandRequestedAtMs: number | null;
}

/** A target the CM waits on (CmConfig.promotionTimeoutMs). */
export interface PendingPromotion {
  readonly nodeId: number;
  /** When the CM asks for the id to be migrated again if the node has not started its replica. */
  readonly deadlineMs: number;
  /** The last on-demand request for the id on this account (repeated every onDemandRetryMs). */
  requestedAtMs: number | null;
}

export interface MigrateNowVote {
  readonly key: string;
  readonly message: MigrateNow;
}

export interface CmState {
  readonly config: CmConfig;
  /** Fixed at creation: at most CM_NODES_MAX entries. */
  readonly nodes: Map<number, NodeEntry>;
  /**
   * MIGRATE-NOWs per replica id (at most 3f+1 entries): its votes for its newest
   * MIGRATE_NOW_ROUNDS_PER_REPLICA rounds above the last one applied, in seq order.
   */
  readonly votes: Map<number, MigrateNowVote[]>;
  /**
   * Node running each logical replica id (index = replica id), as the rounds the CM applied left
   * it: what a MEMBERSHIP-CERTIFICATE states.
   */
  readonly members: number[];
  /**
   * Per logical replica id (index), the target of the latest applied round that moved it and has
   * not reported its replica started yet, or null: at most 3f+1 entries.
   */
  readonly promotions: (PendingPromotion | null)[];
  /** Highest MIGRATION-REQUEST sequence number acted on; older MIGRATE-NOWs are stale. */
  lastMigrationSeq: number;
  nextProbeId: number;
  started: boolean;
  /** Peer input dropped, by reason. */
  readonly drops: { malformedMigrateNow: number; staleMigrateNow: number; staleProbeResult: number };
}

export type IntrusionSource = "operator" | "ids";

/** Inputs; results of slow work (probes, sanitization) come back as inputs. */
export type CmInput =
  /** Once, first: set NICs for the initial roles and sanitize the pool. */
  | { readonly kind: "start" }
  /** Clock advance: probes, probe and role timeouts, periodic re-sanitization. */
  | { readonly kind: "tick" }
  | {
      readonly kind: "probeResult";
      readonly nodeId: number;
      readonly probeId: number;
      readonly healthy: boolean;
    }
  | { readonly kind: "sanitizeResult"; readonly nodeId: number; readonly ok: boolean }
  /** The node reports 2f+1 JOIN-APPROVED for counter l (its `registered` effect). */
  | { readonly kind: "nodeRegistered"; readonly nodeId: number; readonly counter: number }
  | { readonly kind: "registrationFailed"; readonly nodeId: number }
  /**
   * The node sent JOIN-REQUEST with counter l (its standby core's first broadcast of it). The CM
   * runs the node, so the host reports it; the CM needs l to revoke that join if it gives up on
   * the node before hearing of its approval.
   */
  | { readonly kind: "joinRequested"; readonly nodeId: number; readonly counter: number }
  /**
   * A MIGRATE-NOW whose signature the host verified as replica `from`'s, sent by it or relayed by
   * a peer (`migrateNowInput`).
   */
  | { readonly kind: "migrateNow"; readonly from: number; readonly message: MigrateNow }
  /** Whether a retiring source stopped serving; "it keeps sending" is `complied: false`. */
  | { readonly kind: "complianceCheck"; readonly nodeId: number; readonly complied: boolean }
  /** An operator or an intrusion detector names a node as compromised. */
  | { readonly kind: "intrusionReport"; readonly nodeId: number; readonly source: IntrusionSource }
  /** An administrator finished repairing a damaged node. */
  | { readonly kind: "repaired"; readonly nodeId: number }
  /**
   * The node now runs replica `replicaId`: its target core was promoted (the node's agent, which
   * supervises the replica process, reports it).
   */
  | { readonly kind: "replicaStarted"; readonly nodeId: number; readonly replicaId: number };

export type AdminReason =
  | "needsRepair"
  | "sourceNotComplying"
  | "membershipMismatch"
  | "targetUnavailable"
  | "targetNotStarted"
  | "notEnoughStandbys";

/**
 * Effects. The host carries them out strictly in array order and finishes each switch change
 * (`setNic`) before starting the next effect. The core orders them so that:
 * - in a migration every source's NIC1 is disabled before any target's NIC1 is enabled, so
 *   clients never reach more than 3f+1 replicas, and an old replica is never reachable next to
 *   its replacement;
 * - a forced cut-off disables NIC1, then NIC2, then sanitizes;
 * - a registered standby is deregistered (`leaveRequest`) before it is sanitized, and so is a node
 *   that failed (escalation to a new sanitization or to damaged) after it asked to join;
 * - a node's NIC2 is re-enabled (after a forced cut-off) before it is probed or admitted;
 * - `roleChanged`, `migrationApplied` and `adminNotification` are records: they follow the
 *   actions they describe.
 */
export type CmEffect =
  | { readonly kind: "setNic"; readonly nodeId: number; readonly nic: Nic; readonly enabled: boolean }
  | { readonly kind: "sanitize"; readonly nodeId: number; readonly method: SanitizeMethod }
  | { readonly kind: "probe"; readonly nodeId: number; readonly probeId: number }
  /** Tell the sanitized, healthy node to register (its standby core gets `sanitized`). */
  /**
   * `members` is the CM's view of who runs each logical replica id (from the MIGRATE-NOWs it acted
   * on): the trusted starting point a freshly sanitized standby needs to check replica signatures
   * (its own view then follows NEW-MEMBERSHIP notices).
   */
  | {
      readonly kind: "admit";
      readonly nodeId: number;
      readonly members: readonly { readonly replicaId: number; readonly nodeId: number }[];
    }
  /** Sign and send LEAVE-REQUEST(nodeId, counter) to the active replicas (section 3.1). */
  | { readonly kind: "leaveRequest"; readonly nodeId: number; readonly counter: number }
  /** Ask the active replicas for an on-demand migration of this replica (section 3.4). */
  | {
      readonly kind: "requestOnDemandMigration";
      readonly nodeId: number;
      readonly replicaId: number;
      readonly reason: "probeFailed" | "targetNotStarted" | IntrusionSource;
    }
  | { readonly kind: "adminNotification"; readonly nodeId: number; readonly reason: AdminReason }
  | { readonly kind: "roleChanged"; readonly nodeId: number; readonly from: NodeRole; readonly to: NodeRole }
  | {
      readonly kind: "migrationApplied";
      readonly view: number;
      readonly seq: number;
      readonly pairs: readonly MigrationPair[];
    }
  /**
   * Sign and send MEMBERSHIP-CERTIFICATE(seq, members) to the replicas and standbys: the
   * membership after the round at `seq` (P applied to the previous one, whatever the CM could do
   * with the targets: f+1 matching MIGRATE-NOWs are the replicas' ordered decision). Follows
   * `migrationApplied`.
   */
  | {
      readonly kind: "membershipCertified";
      readonly seq: number;
      /** C of the round's f+1 matching MIGRATE-NOWs. */
      readonly checkpointDigest: Uint8Array;
      readonly members: readonly { readonly replicaId: number; readonly nodeId: number }[];
    };
