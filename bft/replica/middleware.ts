/**
 * The replica's middleware state for migration (paper section 3.2: "the migration number
 * constitutes part of the middleware state and will be transferred to all recovering replicas"):
 * the migration number l, the proactive round that drives source selection, the membership
 * (which node runs each logical replica id, and its address), the standby registry, and the last
 * executed migration. It changes only when an ordered entry executes, so every correct replica
 * holds the same value at the same seq; it is encoded into every checkpoint (state-encoding.ts), so
 * promoted targets and state-transferred replicas agree on the next round's selection.
 *
 * Also the pure rules every replica applies identically: the selection a round must use, and the
 * structural check of a MIGRATION-REQUEST and its proofs.
 */
import { assert } from "../assert.js";
import { bytesOfHex, hexOf } from "../bytes.js";
import { DIGEST_BYTES } from "../limits.js";
import type {
  InitMigration,
  MemberAddress,
  MigrationPair,
  MigrationRequest,
  MigrationTrigger,
} from "../messages.js";
import {
  JoinRegistry,
  type JoinRegistryConfig,
  type JoinRegistryDeps,
  type JoinRegistrySnapshot,
  selectOnDemand,
  selectSources,
  selectTargets,
} from "../migration/index.js";
import { quorumOf, replicaCountOf } from "./quorum.js";

export interface LastMigration {
  readonly view: number;
  readonly seq: number;
  readonly migrationNumber: number;
  readonly trigger: MigrationTrigger;
  readonly pairs: readonly MigrationPair[];
  /**
   * C: the digest of the migration checkpoint at `seq`, recorded once the state at `seq` is fixed
   * (recordCheckpointDigest), so null only inside that checkpoint itself. Every later state holds
   * it, so a replica that passes the round by state transfer learns the C it would have signed.
   */
  readonly checkpointDigest: Uint8Array | null;
}

export type Selection =
  | { readonly ok: true; readonly sources: readonly number[]; readonly targets: readonly number[] }
  | { readonly ok: false; readonly reason: string };

/** 2: lastMigration carries the checkpoint digest C. */
const MIDDLEWARE_VERSION = 2;
const DIGEST_HEX = new RegExp(`^[0-9a-f]{${2 * DIGEST_BYTES}}$`);

export class Middleware {
  readonly f: number;
  registry: JoinRegistry;
  /** l: migration rounds executed (proactive and on-demand). */
  migrationNumber = 0;
  /** Proactive rounds executed: drives the cyclic source order (DESIGN.md section 5). */
  proactiveRound = 0;
  /** Index = logical replica id. */
  members: MemberAddress[];
  lastMigration: LastMigration | null = null;

  constructor(
    private readonly registryConfig: JoinRegistryConfig,
    private readonly registryDeps: JoinRegistryDeps,
    members: readonly MemberAddress[],
  ) {
    this.f = registryConfig.f;
    assert(members.length === replicaCountOf(this.f), "a member per replica id");
    assert(
      members.every((member, index) => member.replicaId === index),
      "members listed by ascending replica id",
    );
    this.members = members.map((member) => ({ ...member }));
    this.registry = new JoinRegistry(registryConfig, registryDeps);
  }

  nodeOf(replicaId: number): number {
    const member = this.members[replicaId];
    assert(member !== undefined, "replica id has a member");
    return member.nodeId;
  }

  /** The S and D this replica expects for the next round (deterministic on replicated state). */
  expectedSelection(trigger: MigrationTrigger, faulty: readonly number[] | null): Selection {
    const standbys = this.registry.standbys();
    if (trigger === "timer") {
      const sources = selectSources({ f: this.f, round: this.proactiveRound });
      const targets = selectTargets({ standbys, f: this.f });
      if (!targets.ok) return { ok: false, reason: targets.reason };
      return { ok: true, sources, targets: targets.targets };
    }
    if (faulty === null) return { ok: false, reason: "noOnDemandRequest" };
    const chosen = selectOnDemand({ faulty, standbys, f: this.f });
    if (!chosen.ok) return { ok: false, reason: chosen.reason };
    return { ok: true, sources: chosen.sources, targets: chosen.targets };
  }

  /**
   * Whether an ordered MIGRATION-REQUEST may execute now: its l is the next one, its proofs are
   * 2f+1 distinct replicas' INIT-MIGRATIONs that all name its (l, S, D, trigger), and S and D are
   * what the selection rules give on the replicated state at this seq. For an on-demand round S
   * is whatever 2f+1 replicas (so f+1 correct ones, each holding the CM's signed request) named.
   * Deterministic: every correct replica decides the same at the same seq.
   */
  executionProblem(request: MigrationRequest): string | null {
    if (request.migrationNumber !== this.migrationNumber) return "migrationNumber";
    const proofProblem = proofsProblem(request, this.f);
    if (proofProblem !== null) return proofProblem;
    const expected = this.expectedSelection(
      request.trigger,
      request.trigger === "onDemand" ? request.sources : null,
    );
    if (!expected.ok) return expected.reason;
    if (!sameIds(expected.sources, request.sources)) return "sources";
    if (!sameIds(expected.targets, request.targets)) return "targets";
    return null;
  }

  /** Applies an executed migration: membership, registry, round numbers. Returns P. */
  applyMigration(options: {
    readonly request: MigrationRequest;
    readonly view: number;
    readonly seq: number;
  }): MigrationPair[] {
    const { request, view, seq } = options;
    assert(this.executionProblem(request) === null, "apply only a valid migration");
    const pairs = request.sources.map((replicaId, index) => ({
      replicaId,
      sourceNodeId: this.nodeOf(replicaId),
      targetNodeId: request.targets[index]!,
    }));
    for (const pair of pairs) {
      const record = this.registry.standby(pair.targetNodeId);
      assert(record !== undefined, "a selected target is a registered standby");
      this.members[pair.replicaId] = {
        replicaId: pair.replicaId,
        nodeId: pair.targetNodeId,
        address: record.address,
      };
    }
    this.registry.executePromotion(pairs.map((pair) => pair.targetNodeId));
    this.registry.executeRetirement(pairs.map((pair) => pair.sourceNodeId));
    this.migrationNumber += 1;
    if (request.trigger === "timer") this.proactiveRound += 1;
    this.lastMigration = {
      view,
      seq,
      migrationNumber: request.migrationNumber,
      trigger: request.trigger,
      pairs,
      checkpointDigest: null,
    };
    return pairs;
  }

  /**
   * The state at `seq` is now fixed (executed and checkpointed, fetched, or installed by a
   * promoted target) and has digest `stateDigest`: if the last migration executed at `seq`, its
   * checkpoint digest C becomes part of the state from seq + 1 on. Deterministic: every correct
   * replica reaches the state at `seq` with the same digest, by whichever path, before it executes
   * seq + 1.
   */
  recordCheckpointDigest(seq: number, stateDigest: Uint8Array): void {
    const last = this.lastMigration;
    if (last === null || last.seq !== seq || last.checkpointDigest !== null) return;
    this.lastMigration = { ...last, checkpointDigest: stateDigest.slice() };
  }

  /** Canonical bytes for the checkpoint: the same state gives the same bytes at every replica. */
  encode(): Uint8Array {
    const snapshot = this.registry.snapshot();
    const value = {
      version: MIDDLEWARE_VERSION,
      migrationNumber: this.migrationNumber,
      proactiveRound: this.proactiveRound,
      members: this.members.map((m) => [m.replicaId, m.nodeId, m.address]),
      standbys: snapshot.standbys.map((s) => [s.nodeId, s.address, s.counter, s.joinTimeMs, s.joinSeq]),
      executedCounters: snapshot.executedCounters.map((c) => [c.nodeId, c.counter]),
      activeNodeIds: snapshot.activeNodeIds,
      lastMigration:
        this.lastMigration === null
          ? null
          : {
              view: this.lastMigration.view,
              seq: this.lastMigration.seq,
              migrationNumber: this.lastMigration.migrationNumber,
              trigger: this.lastMigration.trigger,
              pairs: this.lastMigration.pairs.map((p) => [p.replicaId, p.sourceNodeId, p.targetNodeId]),
              checkpointDigest:
                this.lastMigration.checkpointDigest === null
                  ? null
                  : hexOf(this.lastMigration.checkpointDigest),
            },
    };
    return new TextEncoder().encode(JSON.stringify(value));
  }

  /**
   * Replaces this state with decoded checkpoint bytes. Only certified bytes reach here (their
   * digest matched 2f+1 MIGRATE-NOWs or f+1 CHECKPOINTs, so a correct replica made them); a shape
   * error is still reported as false rather than trusted.
   */
  restore(bytes: Uint8Array): boolean {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return false;
    }
    const decoded = decodeMiddleware(value, this.members.length);
    if (decoded === null) return false;
    this.registry = JoinRegistry.restore(this.registryConfig, this.registryDeps, decoded.snapshot);
    this.migrationNumber = decoded.migrationNumber;
    this.proactiveRound = decoded.proactiveRound;
    this.members = decoded.members;
    this.lastMigration = decoded.lastMigration;
    return true;
  }
}

function sameIds(left: readonly number[], right: readonly number[]): boolean {
  return left.length === right.length && left.every((id, index) => id === right[index]);
}

/** Two INIT-MIGRATIONs agree when they name the same l, S, D and trigger (the view may differ). */
export function initMatches(
  proof: Pick<InitMigration, "migrationNumber" | "sources" | "targets" | "trigger">,
  other: Pick<InitMigration, "migrationNumber" | "sources" | "targets" | "trigger">,
): boolean {
  return (
    proof.migrationNumber === other.migrationNumber &&
    proof.trigger === other.trigger &&
    sameIds(proof.sources, other.sources) &&
    sameIds(proof.targets, other.targets)
  );
}

/** Exactly 2f+1 proofs from distinct replicas, each matching the request. */
export function proofsProblem(request: MigrationRequest, f: number): string | null {
  if (request.proofs.length !== quorumOf(f)) return "proofCount";
  const senders = new Set<number>();
  for (const proof of request.proofs) {
    if (!Number.isInteger(proof.replicaId) || proof.replicaId < 0 || proof.replicaId >= replicaCountOf(f))
      return "proofSender";
    if (senders.has(proof.replicaId)) return "proofSender";
    senders.add(proof.replicaId);
    if (!initMatches(proof, request)) return "proofMismatch";
  }
  if (request.sources.length < 1 || request.sources.length > f) return "sourceCount";
  return null;
}

interface DecodedMiddleware {
  readonly migrationNumber: number;
  readonly proactiveRound: number;
  readonly members: MemberAddress[];
  readonly snapshot: JoinRegistrySnapshot;
  readonly lastMigration: LastMigration | null;
}

const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

function tuples(value: unknown, width: number): unknown[][] | null {
  if (!Array.isArray(value)) return null;
  for (const entry of value) if (!Array.isArray(entry) || entry.length !== width) return null;
  return value as unknown[][];
}

function decodeMiddleware(value: unknown, memberCount: number): DecodedMiddleware | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.version !== MIDDLEWARE_VERSION || !isCount(v.migrationNumber) || !isCount(v.proactiveRound))
    return null;
  const members = tuples(v.members, 3);
  const standbys = tuples(v.standbys, 5);
  const counters = tuples(v.executedCounters, 2);
  if (members === null || members.length !== memberCount || standbys === null || counters === null)
    return null;
  if (!Array.isArray(v.activeNodeIds) || !v.activeNodeIds.every(isCount)) return null;
  const okMembers = members.every(
    ([replicaId, nodeId, address], index) =>
      replicaId === index && isCount(nodeId) && typeof address === "string",
  );
  const okStandbys = standbys.every(
    ([nodeId, address, counter, joinTimeMs, joinSeq]) =>
      isCount(nodeId) &&
      typeof address === "string" &&
      isCount(counter) &&
      isCount(joinTimeMs) &&
      isCount(joinSeq),
  );
  if (!okMembers || !okStandbys || !counters.every(([n, c]) => isCount(n) && isCount(c))) return null;
  const last = decodeLastMigration(v.lastMigration);
  if (last === undefined) return null;
  return {
    migrationNumber: v.migrationNumber,
    proactiveRound: v.proactiveRound,
    members: members.map(([replicaId, nodeId, address]) => ({
      replicaId: replicaId as number,
      nodeId: nodeId as number,
      address: address as string,
    })),
    snapshot: {
      standbys: standbys.map(([nodeId, address, counter, joinTimeMs, joinSeq]) => ({
        nodeId: nodeId as number,
        address: address as string,
        counter: counter as number,
        joinTimeMs: joinTimeMs as number,
        joinSeq: joinSeq as number,
      })),
      executedCounters: counters.map(([nodeId, counter]) => ({
        nodeId: nodeId as number,
        counter: counter as number,
      })),
      activeNodeIds: v.activeNodeIds as number[],
    },
    lastMigration: last,
  };
}

/** undefined on a malformed value, null when there was no migration yet. */
function decodeLastMigration(value: unknown): LastMigration | null | undefined {
  if (value === null) return null;
  if (typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  const pairs = tuples(v.pairs, 3);
  if (!isCount(v.view) || !isCount(v.seq) || !isCount(v.migrationNumber) || pairs === null) return undefined;
  if (v.trigger !== "timer" && v.trigger !== "onDemand") return undefined;
  if (!pairs.every((pair) => pair.every(isCount))) return undefined;
  let checkpointDigest: Uint8Array | null = null;
  if (v.checkpointDigest !== null) {
    if (typeof v.checkpointDigest !== "string" || !DIGEST_HEX.test(v.checkpointDigest)) return undefined;
    checkpointDigest = bytesOfHex(v.checkpointDigest);
  }
  return {
    view: v.view,
    seq: v.seq,
    migrationNumber: v.migrationNumber,
    trigger: v.trigger,
    pairs: pairs.map(([replicaId, sourceNodeId, targetNodeId]) => ({
      replicaId: replicaId as number,
      sourceNodeId: sourceNodeId as number,
      targetNodeId: targetNodeId as number,
    })),
    checkpointDigest,
  };
}
