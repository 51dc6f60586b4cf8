/**
 * The active replicas' view of the standby pool (paper section 3.1): which standby nodes are
 * registered, their addresses and their join times, kept identical at every correct replica by
 * applying JOIN-REQUEST and LEAVE-REQUEST only in the total order, at execution.
 *
 * Two layers:
 * - Acceptance (`acceptJoinRequest`, `acceptLeaveRequest`) is local and runs before ordering:
 *   a replica accepts a JOIN-REQUEST only if it verifies and its l is greater than any it has
 *   accepted from that node; the primary orders only what it accepted, and a backup may run the
 *   same check on a piggybacked request. Stale, replayed or forged requests are dropped and
 *   counted, never asserted on.
 * - Execution (`executeJoin`, `executeLeave`, `executePromotion`, `executeRetirement`) is
 *   replicated state: deterministic from the ordered input alone, so every correct replica ends
 *   in the same state even if a faulty primary ordered something no correct replica accepted.
 *   `snapshot()` is what goes into the checkpoint; `JoinRegistry.restore` rebuilds it.
 *
 * Trust: a node's key comes from the roster the CM provisioned (every node, active or standby,
 * with its coprocessor key), never from the request itself; a request whose key differs from the
 * roster's is rejected. Memory is bounded by the roster (at most NODES_MAX nodes).
 */
import { assert } from "../assert.js";
import { bytesEqual, PUBLIC_KEY_BYTES } from "../coprocessor/index.js";
import { FAULTS_MAX } from "../limits.js";
import type { JoinApproved, JoinRequest, LeaveRequest } from "../messages.js";
import { MigrationConfigError, requireIntegerInRange } from "./errors.js";
import { ADDRESS_CHARS_MAX, NODES_MAX, STANDBYS_MAX } from "./limits.js";
import type { StandbyCandidate } from "./selection.js";
import { joinApprovedSignedBytes, joinRequestSignedBytes, leaveRequestSignedBytes } from "./signing.js";

export interface RosterEntry {
  readonly nodeId: number;
  /** Raw Ed25519 key of the node's coprocessor. */
  readonly publicKey: Uint8Array;
}

/** The coprocessor key the roster lists for a node, if it lists the node. */
export function rosterPublicKey(roster: readonly RosterEntry[], nodeId: number): Uint8Array | undefined {
  return roster.find((entry) => entry.nodeId === nodeId)?.publicKey;
}

export interface JoinRegistryConfig {
  readonly f: number;
  /** Every node of the deployment with its coprocessor key. */
  readonly roster: readonly RosterEntry[];
  /** Node ids running active replicas at start. */
  readonly activeNodeIds: readonly number[];
  /** CM replicas' raw Ed25519 keys, indexed by cmId (LEAVE-REQUEST signers). */
  readonly cmPublicKeys: readonly Uint8Array[];
}

export interface JoinRegistryDeps {
  /** Ed25519 verification (coprocessor `verify` or `verifySignature`). Deterministic. */
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
}

/** A registered standby node, as replicated state. */
export interface StandbyRecord {
  readonly nodeId: number;
  readonly address: string;
  /** l of the JOIN-REQUEST that registered it. */
  readonly counter: number;
  /** Join time the primary assigned (section 3.1); drives target choice. */
  readonly joinTimeMs: number;
  /** n_r: sequence number the JOIN-REQUEST executed at. */
  readonly joinSeq: number;
}

/** The replicated part, for checkpoints. Plain data, sorted by nodeId. */
export interface JoinRegistrySnapshot {
  readonly standbys: readonly StandbyRecord[];
  /** Highest l executed per node, by join or leave; joins need a greater l. */
  readonly executedCounters: readonly { readonly nodeId: number; readonly counter: number }[];
  readonly activeNodeIds: readonly number[];
}

export type JoinRejection =
  | "malformed"
  | "unknownNode"
  | "keyMismatch"
  | "badSignature"
  | "stale"
  | "duplicate"
  | "nodeActive"
  | "poolFull"
  | "badJoinTime";

export type LeaveRejection =
  | "malformed"
  | "unknownNode"
  | "unknownCm"
  | "badSignature"
  | "stale"
  | "superseded";

export type JoinAcceptance =
  | { readonly verdict: "accepted" }
  /** Same l as an executed registration: resend this JOIN-APPROVED (the first may have been lost). */
  | { readonly verdict: "approvedAlready"; readonly approval: JoinApprovalInfo }
  | { readonly verdict: "rejected"; readonly reason: JoinRejection };

export type LeaveAcceptance =
  | { readonly verdict: "accepted" }
  | { readonly verdict: "rejected"; readonly reason: LeaveRejection };

/** What a replica needs to build JOIN-APPROVED after executing a join. */
export interface JoinApprovalInfo {
  readonly nodeId: number;
  readonly counter: number;
  readonly seq: number;
  /** Where to send it. */
  readonly address: string;
}

export type JoinExecution =
  | { readonly applied: true; readonly approval: JoinApprovalInfo }
  | { readonly applied: false; readonly reason: JoinRejection };

export type LeaveExecution =
  | { readonly applied: true; readonly nodeId: number }
  | { readonly applied: false; readonly reason: LeaveRejection };

/** JOIN-APPROVED for an executed join, from replica `replicaId`, signed with `sign` (its coprocessor). */
export function makeJoinApproved(
  approval: JoinApprovalInfo,
  replicaId: number,
  sign: (bytes: Uint8Array) => Uint8Array,
): JoinApproved {
  const fields = { counter: approval.counter, seq: approval.seq, nodeId: approval.nodeId, replicaId };
  return { type: "JoinApproved", ...fields, signature: sign(joinApprovedSignedBytes(fields)) };
}

export type JoinRegistryDropCounts = Record<JoinRejection | LeaveRejection, number>;

function emptyDrops(): JoinRegistryDropCounts {
  return {
    malformed: 0,
    unknownNode: 0,
    keyMismatch: 0,
    badSignature: 0,
    stale: 0,
    duplicate: 0,
    nodeActive: 0,
    poolFull: 0,
    badJoinTime: 0,
    unknownCm: 0,
    superseded: 0,
  };
}

function isCounter(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export class JoinRegistry {
  readonly f: number;
  /** Dropped peer input, by reason. Local, not replicated. */
  readonly drops: JoinRegistryDropCounts = emptyDrops();
  readonly #roster = new Map<number, Uint8Array>();
  readonly #cmPublicKeys: readonly Uint8Array[];
  readonly #deps: JoinRegistryDeps;
  // Replicated state.
  readonly #standbys = new Map<number, StandbyRecord>();
  readonly #executedCounters = new Map<number, number>();
  readonly #activeNodeIds = new Set<number>();
  // Local acceptance state (differs between replicas; not checkpointed).
  readonly #acceptedJoinCounters = new Map<number, number>();
  readonly #acceptedLeaveCounters = new Map<number, number>();

  constructor(config: JoinRegistryConfig, deps: JoinRegistryDeps) {
    requireIntegerInRange("f", config.f, 1, FAULTS_MAX);
    requireIntegerInRange("roster size", config.roster.length, 3 * config.f + 1, NODES_MAX);
    this.f = config.f;
    for (const entry of config.roster) {
      requireIntegerInRange("roster nodeId", entry.nodeId, 0, NODES_MAX - 1);
      if (entry.publicKey.length !== PUBLIC_KEY_BYTES || this.#roster.has(entry.nodeId)) {
        throw new MigrationConfigError(
          `roster entry for node ${entry.nodeId} is duplicated or its key is not ${PUBLIC_KEY_BYTES} bytes`,
          "list each node once with its coprocessor publicKey()",
        );
      }
      this.#roster.set(entry.nodeId, Uint8Array.from(entry.publicKey));
    }
    if (
      config.activeNodeIds.length !== 3 * config.f + 1 ||
      new Set(config.activeNodeIds).size !== 3 * config.f + 1
    ) {
      throw new MigrationConfigError(
        `activeNodeIds must name 3f+1 = ${3 * config.f + 1} distinct nodes`,
        "list the nodes running replicas 0..3f",
      );
    }
    for (const nodeId of config.activeNodeIds) {
      if (!this.#roster.has(nodeId)) {
        throw new MigrationConfigError(`active node ${nodeId} is not in the roster`, "add it to the roster");
      }
      this.#activeNodeIds.add(nodeId);
    }
    this.#cmPublicKeys = config.cmPublicKeys.map((key) => Uint8Array.from(key));
    this.#deps = deps;
  }

  /** Rebuilds the replicated part from a checkpoint; local acceptance starts from it. */
  static restore(
    config: JoinRegistryConfig,
    deps: JoinRegistryDeps,
    snapshot: JoinRegistrySnapshot,
  ): JoinRegistry {
    const registry = new JoinRegistry(config, deps);
    registry.#activeNodeIds.clear();
    for (const nodeId of snapshot.activeNodeIds) {
      assert(registry.#roster.has(nodeId), "checkpointed active node is in the roster");
      registry.#activeNodeIds.add(nodeId);
    }
    for (const { nodeId, counter } of snapshot.executedCounters) {
      assert(registry.#roster.has(nodeId) && isCounter(counter), "checkpointed counter is valid");
      registry.#executedCounters.set(nodeId, counter);
      registry.#acceptedJoinCounters.set(nodeId, counter);
    }
    for (const record of snapshot.standbys) {
      assert(registry.#roster.has(record.nodeId), "checkpointed standby is in the roster");
      registry.#standbys.set(record.nodeId, { ...record });
    }
    assert(registry.#standbys.size <= STANDBYS_MAX, "checkpointed standbys within STANDBYS_MAX");
    return registry;
  }

  /** Local check before ordering (section 3.1): verifies, then requires l above any accepted. */
  acceptJoinRequest(request: JoinRequest): JoinAcceptance {
    const invalid = this.#checkJoinRequest(request);
    if (invalid !== null) return this.#rejectJoin(invalid);
    if (this.#activeNodeIds.has(request.nodeId)) return this.#rejectJoin("nodeActive");
    const executed = this.#standbys.get(request.nodeId);
    if (executed !== undefined && executed.counter === request.counter) {
      return { verdict: "approvedAlready", approval: this.#approvalOf(executed) };
    }
    const accepted = this.#acceptedJoinCounters.get(request.nodeId);
    if (accepted !== undefined && request.counter < accepted) return this.#rejectJoin("stale");
    if (accepted !== undefined && request.counter === accepted) return this.#rejectJoin("duplicate");
    this.#acceptedJoinCounters.set(request.nodeId, request.counter);
    return { verdict: "accepted" };
  }

  /** Local check of a CM's LEAVE-REQUEST before ordering. */
  acceptLeaveRequest(request: LeaveRequest): LeaveAcceptance {
    const invalid = this.#checkLeaveRequest(request);
    if (invalid !== null) return this.#rejectLeave(invalid);
    const accepted = this.#acceptedLeaveCounters.get(request.nodeId);
    if (accepted !== undefined && request.counter <= accepted) return this.#rejectLeave("stale");
    this.#acceptedLeaveCounters.set(request.nodeId, request.counter);
    return { verdict: "accepted" };
  }

  /**
   * Applies an ordered JOIN-REQUEST at sequence number `seq` with the primary's join time.
   * (Re-)registers the node with that join time (section 3.1: re-registration after each
   * sanitization refreshes it). Deterministic: same inputs, same result at every replica.
   */
  executeJoin(options: {
    readonly request: JoinRequest;
    readonly seq: number;
    readonly joinTimeMs: number;
  }): JoinExecution {
    const { request, seq, joinTimeMs } = options;
    assert(isCounter(seq), "execution seq is a non-negative integer");
    const invalid = this.#checkJoinRequest(request);
    if (invalid !== null) return this.#failJoin(invalid);
    if (!Number.isFinite(joinTimeMs) || joinTimeMs < 0) return this.#failJoin("badJoinTime");
    const executed = this.#executedCounters.get(request.nodeId);
    if (executed !== undefined && request.counter <= executed) return this.#failJoin("stale");
    if (this.#activeNodeIds.has(request.nodeId)) return this.#failJoin("nodeActive");
    if (!this.#standbys.has(request.nodeId) && this.#standbys.size >= STANDBYS_MAX)
      return this.#failJoin("poolFull");
    const record: StandbyRecord = {
      nodeId: request.nodeId,
      address: request.address,
      counter: request.counter,
      joinTimeMs,
      joinSeq: seq,
    };
    this.#standbys.set(request.nodeId, record);
    this.#executedCounters.set(request.nodeId, request.counter);
    const accepted = this.#acceptedJoinCounters.get(request.nodeId) ?? 0;
    this.#acceptedJoinCounters.set(request.nodeId, Math.max(accepted, request.counter));
    assert(this.#standbys.size <= STANDBYS_MAX, "standbys within STANDBYS_MAX");
    return { applied: true, approval: this.#approvalOf(record) };
  }

  /** Applies an ordered LEAVE-REQUEST: removes the registration it names unless a later one replaced it. */
  executeLeave(options: { readonly request: LeaveRequest; readonly seq: number }): LeaveExecution {
    const { request, seq } = options;
    assert(isCounter(seq), "execution seq is a non-negative integer");
    const invalid = this.#checkLeaveRequest(request);
    if (invalid !== null) return this.#failLeave(invalid);
    const record = this.#standbys.get(request.nodeId);
    if (record !== undefined && record.counter > request.counter) return this.#failLeave("superseded");
    this.#standbys.delete(request.nodeId);
    // Joins with l up to the revoked registration's can no longer (re-)register the node.
    const executed = this.#executedCounters.get(request.nodeId) ?? 0;
    this.#executedCounters.set(request.nodeId, Math.max(executed, request.counter));
    return { applied: true, nodeId: request.nodeId };
  }

  /** At execution of a MIGRATION-REQUEST: the targets stop being standbys and become active. */
  executePromotion(targetNodeIds: readonly number[]): void {
    for (const nodeId of targetNodeIds) {
      assert(this.#roster.has(nodeId), "promoted node is in the roster");
      this.#standbys.delete(nodeId);
      this.#activeNodeIds.add(nodeId);
    }
  }

  /** At execution of a MIGRATION-REQUEST: the sources leave the active set; they rejoin after sanitization. */
  executeRetirement(sourceNodeIds: readonly number[]): void {
    for (const nodeId of sourceNodeIds) {
      assert(this.#activeNodeIds.has(nodeId), "retired node was active");
      this.#activeNodeIds.delete(nodeId);
    }
  }

  /** Registered standbys for selectTargets, sorted by nodeId (selectTargets does the preference order). */
  standbys(): StandbyCandidate[] {
    return [...this.#standbys.values()]
      .sort((a, b) => a.nodeId - b.nodeId)
      .map(({ nodeId, joinTimeMs }) => ({ nodeId, joinTimeMs }));
  }

  standby(nodeId: number): StandbyRecord | undefined {
    return this.#standbys.get(nodeId);
  }

  isActive(nodeId: number): boolean {
    return this.#activeNodeIds.has(nodeId);
  }

  snapshot(): JoinRegistrySnapshot {
    const byNode = (a: { nodeId: number }, b: { nodeId: number }) => a.nodeId - b.nodeId;
    return {
      standbys: [...this.#standbys.values()].sort(byNode).map((record) => ({ ...record })),
      executedCounters: [...this.#executedCounters]
        .map(([nodeId, counter]) => ({ nodeId, counter }))
        .sort(byNode),
      activeNodeIds: [...this.#activeNodeIds].sort((a, b) => a - b),
    };
  }

  #checkJoinRequest(request: JoinRequest): JoinRejection | null {
    if (
      request.type !== "JoinRequest" ||
      !isCounter(request.counter) ||
      request.counter === 0 ||
      !isCounter(request.nodeId) ||
      typeof request.address !== "string" ||
      request.address.length === 0 ||
      request.address.length > ADDRESS_CHARS_MAX ||
      !(request.publicKey instanceof Uint8Array) ||
      !(request.signature instanceof Uint8Array)
    ) {
      return "malformed";
    }
    const key = this.#roster.get(request.nodeId);
    if (key === undefined) return "unknownNode";
    if (!bytesEqual(key, request.publicKey)) return "keyMismatch";
    if (!this.#deps.verify(key, joinRequestSignedBytes(request), request.signature)) return "badSignature";
    return null;
  }

  #checkLeaveRequest(request: LeaveRequest): LeaveRejection | null {
    if (
      request.type !== "LeaveRequest" ||
      !isCounter(request.counter) ||
      !isCounter(request.nodeId) ||
      !isCounter(request.cmId) ||
      !(request.signature instanceof Uint8Array)
    ) {
      return "malformed";
    }
    if (!this.#roster.has(request.nodeId)) return "unknownNode";
    const cmKey = this.#cmPublicKeys[request.cmId];
    if (cmKey === undefined) return "unknownCm";
    if (!this.#deps.verify(cmKey, leaveRequestSignedBytes(request), request.signature)) return "badSignature";
    return null;
  }

  #approvalOf(record: StandbyRecord): JoinApprovalInfo {
    return { nodeId: record.nodeId, counter: record.counter, seq: record.joinSeq, address: record.address };
  }

  #rejectJoin(reason: JoinRejection): JoinAcceptance {
    this.drops[reason] += 1;
    return { verdict: "rejected", reason };
  }

  #failJoin(reason: JoinRejection): JoinExecution {
    this.drops[reason] += 1;
    return { applied: false, reason };
  }

  #rejectLeave(reason: LeaveRejection): LeaveAcceptance {
    this.drops[reason] += 1;
    return { verdict: "rejected", reason };
  }

  #failLeave(reason: LeaveRejection): LeaveExecution {
    this.drops[reason] += 1;
    return { applied: false, reason };
  }
}
