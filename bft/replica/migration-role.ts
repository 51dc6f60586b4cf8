/**
 * The migration role of a replica (paper section 3; docs/migration.md): the part of the replica
 * core that runs proactive and on-demand migration rounds, joins and leaves of the standby pool,
 * the notices of a new membership, session keys, and evidence against faulty replicas (section
 * 3.4). Replica (replica.ts) owns one and delegates to it every migration message, the migration
 * timer and the special entries it orders; the role reaches back only through ReplicaCore
 * (replica-core.ts), and emits its effects into the core's list.
 *
 * Without migration settings the role holds no middleware and stays idle: the core drops
 * migration messages and never sees a special entry it could order.
 */
import { assert, unreachable } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { CLIENTS_MAX } from "../limits.js";
import type {
  Evidence,
  InitMigration,
  JoinApproved,
  JoinRequest,
  LeaveRequest,
  MemberAddress,
  MembershipCertificate,
  MigrateNow,
  MigrationDone,
  MigrationMessage,
  MigrationPair,
  MigrationRequest,
  NewMembership,
  NewView,
  OnDemandMigration,
  OrderedSpecial,
  PrePrepare,
  Principal,
} from "../messages.js";
import {
  type AdminNotification,
  IntervalController,
  type JoinApprovalInfo,
  type KeyExchangeEffect,
  KeyExchangeTable,
  type KeyPeer,
  makeJoinApproved,
  membershipCertificateValid,
  migrateNowSignedBytes,
  newMembershipSignedBytes,
  newViewSignedBytes,
  onDemandMigrationSignedBytes,
} from "../migration/index.js";
import type { MigrationSettings } from "./api.js";
import { proposalDigest } from "./batch-digest.js";
import { verifyEvidence } from "./evidence.js";
import { initMatches, Middleware, proofsProblem } from "./middleware.js";
import { Offenders } from "./offenders.js";
import { quorumOf, weakQuorumOf } from "./quorum.js";
import type { ReplicaCore } from "./replica-core.js";
import { MIGRATION_CHECKPOINTS_MAX } from "./view-change.js";

/** Special entries a primary queues at most (a migration, and joins and leaves of the pool). */
const SPECIAL_QUEUE_MAX = 256;

/** An ordered JOIN-REQUEST with the join time its primary assigned (section 3.1). */
type JoinSpecial = Extract<OrderedSpecial, { readonly kind: "join" }>;

/** A MIGRATION-REQUEST that executed validly: the round's pairs, for afterMigration. */
export interface AppliedMigration {
  readonly request: MigrationRequest;
  readonly pairs: readonly MigrationPair[];
}

/** Identifies a special entry so a primary orders it once per view. */
function specialKey(special: OrderedSpecial): string {
  switch (special.kind) {
    case "migration":
      // Targets too: a round restarted on a newer registry (restartStaleRound) keeps l, trigger and
      // S but is a new entry, which the primary must order (found by test/unit/migration-evidence).
      return `migration:${special.request.migrationNumber}:${special.request.trigger}:${special.request.sources.join(",")}:${special.request.targets.join(",")}`;
    case "join":
      return `join:${special.request.nodeId}:${special.request.counter}`;
    case "leave":
      return `leave:${special.request.nodeId}:${special.request.counter}`;
    default:
      return unreachable(special, "special kind");
  }
}

/**
 * The replica that serves the full migration checkpoint first (section 3.2: one sends the state,
 * the others its digest): the lowest replica id that is not a source, since a source stops.
 */
export function designatedStateSender(sources: readonly number[], replicaCount: number): number {
  for (let id = 0; id < replicaCount; id++) if (!sources.includes(id)) return id;
  return unreachable(0 as never, "at most f < 3f+1 sources");
}

/** A migration round whose targets may still fetch its checkpoint (section 3.2). */
interface RoundInFlight {
  readonly seq: number;
  /** When we accepted its MIGRATION-REQUEST; null for a round we passed by state transfer (no Ts). */
  readonly startMs: number | null;
  /** Re-signed when resent after a view change (makeMigrateNow names the current view). */
  migrateNow: MigrateNow;
  /** Target nodes that have not sent MIGRATION-DONE yet. */
  readonly pending: Set<number>;
  retransmits: number;
  /** When we executed it (or vouched for it): the target wait runs from here. */
  readonly executedAtMs: number;
}

export class MigrationRole {
  private readonly core: ReplicaCore;
  /** Null without migration: then the middleware and the interval controller are null too. */
  readonly settings: MigrationSettings | null;
  readonly middleware: Middleware | null;
  private readonly interval: IntervalController | null;
  /** Primary: special entries to order alone, a MIGRATION-REQUEST at the head. */
  private readonly specialQueue: OrderedSpecial[] = [];
  private readonly proposedSpecials = new Set<string>();
  /** Accepted, not yet executed JOIN- and LEAVE-REQUESTs, by node: a new primary orders them. */
  private readonly pendingJoins = new Map<number, JoinRequest>();
  /** When we first accepted each pending JOIN-REQUEST (by node): joinTimeAcceptable's lower bound. */
  private readonly joinSeenAtMs = new Map<number, { readonly counter: number; readonly atMs: number }>();
  private readonly pendingLeaves = new Map<number, LeaveRequest>();
  /** Latest INIT-MIGRATION per replica (ours included) for the current migration number. */
  private readonly initVotes: (InitMigration | undefined)[];
  /** The MIGRATION-REQUEST built from 2f+1 INIT-MIGRATIONs, until it executes (guarded by the view-change timer). */
  private migrationPending: MigrationRequest | null = null;
  /** Sources of the CM's latest verified on-demand request (section 3.4). */
  private onDemandSources: readonly number[] | null = null;
  private readonly onDemandCounters = new Map<number, number>();
  /** Replicas proven faulty by evidence (section 3.4, evidence.ts), and the round that migrates them. */
  private readonly offenders: Offenders;
  private evidenceSources: readonly number[] | null = null;
  private evidenceRetransmits = 0;
  /** Primary: no proposal above this seq until it executes (a MIGRATION-REQUEST is a barrier). */
  migrationBarrierSeq = 0;
  /** Seq of the latest migration checkpoint we took (-1 before any): see Replica.checkpointNeeded. */
  private migrationCheckpointSeq = -1;
  /**
   * Rounds we executed whose targets have not all sent MIGRATION-DONE, oldest first, at most
   * MIGRATION_CHECKPOINTS_MAX: their checkpoints stay for the targets past garbage collection and
   * their MIGRATE-NOWs are retransmitted. A new round gives up the oldest beyond the bound.
   */
  private readonly roundsInFlight: RoundInFlight[] = [];
  /**
   * Our MIGRATE-NOWs of the latest MIGRATION_CHECKPOINTS_MAX rounds, oldest first, each resent to
   * the CM once per status interval up to migrateNowRetransmitsMax times: the CM never
   * acknowledges, and one it missed (a partition at execution) keeps its view of the membership
   * stale for good: the target's NIC1 stays off, the source is never cut off, and standbys it
   * admits later check signatures against the wrong nodes (seed 163 on branch liveB). The CM
   * ignores copies of a round it applied. Not only the latest round: the CM cannot tell that it
   * skipped one (MIGRATE-NOW carries no l), and once it applied a later round the earlier one is
   * stale there, so its members stay wrong for the ids only the earlier round moved (migration CI
   * seed 79: two rounds executed while the CM was cut off, and its certificate of the second
   * still named the first round's source).
   */
  private readonly cmNotices: { readonly migrateNow: MigrateNow; retransmits: number }[] = [];
  /**
   * Each peer's MIGRATE-NOWs (signature checked), by replica id: its latest copy of each of up to
   * MIGRATION_CHECKPOINTS_MAX rounds, oldest first, relayed with ours to a round's pending targets
   * when they match the round (retransmitMigration). A source sends its MIGRATE-NOW once and
   * retires; when the target missed it, a peer's copy is the only one left. One copy per round,
   * not per peer: with two rounds in flight, a peer's copy of the later round must not replace
   * the one of the earlier round (migration CI seed 79: r0 signed both rounds and then lost its
   * memory; its copy of the first was gone at r1, whose relay was that target's third signer).
   */
  private readonly peerMigrateNows: MigrateNow[][];
  /** The NEW-MEMBERSHIP this replica sends lazily (only replicas that were members before the migration). */
  private membershipNotice: NewMembership | null = null;
  private readonly notifiedClients = new Set<number>();
  /** When we last re-sent the membership notice to a client (renotifyClient): at most CLIENTS_MAX. */
  private readonly noticeResentAtMs = new Map<number, number>();
  /**
   * The newest CM-signed membership we hold (docs/migration.md, "Membership certificates"),
   * relayed to clients and standbys that may have missed NEW-MEMBERSHIP notices.
   */
  private certificate: MembershipCertificate | null = null;
  /** Clients that sent us a request directly since `certificate` arrived: at most CLIENTS_MAX. */
  private readonly certificateHeard = new Set<number>();
  /** STATUS ticks since `certificate` arrived; it is pushed again on ticks 1, 2, 4, 8, ... */
  private certificateTicks = 0;
  /** Session keys with the other nodes (KEY-EXCHANGE); null when the host uses derived keys only. */
  private keyExchange: KeyExchangeTable | null = null;

  constructor(core: ReplicaCore, settings: MigrationSettings | null) {
    this.core = core;
    this.settings = settings;
    const replicaCount = core.replicaCount;
    this.initVotes = new Array<InitMigration | undefined>(replicaCount).fill(undefined);
    this.offenders = new Offenders(replicaCount);
    this.peerMigrateNows = Array.from({ length: replicaCount }, () => []);
    if (settings === null) {
      this.middleware = null;
      this.interval = null;
      return;
    }
    const migrationDeps = core.deps.migration;
    assert(migrationDeps !== undefined, "migration settings come with migration deps");
    this.middleware = new Middleware(
      {
        f: core.config.f,
        roster: settings.roster,
        activeNodeIds: settings.members.map((member) => member.nodeId),
        cmPublicKeys: settings.cmPublicKeys,
      },
      { verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature) },
      settings.members,
    );
    // A promoted target does not run its id in the initial membership: its checkpoint says so
    // (asserted in Replica.installPromotedState).
    this.interval = new IntervalController(settings.interval);
    const setup = migrationDeps.keyExchange;
    if (setup !== undefined) {
      this.keyExchange = new KeyExchangeTable(
        {
          nodeId: settings.nodeId,
          counter: setup.counter,
          roster: settings.roster,
          replicaCount,
        },
        {
          sign: (bytes) => migrationDeps.sign(bytes),
          verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature),
          keyAgreement: setup.keyAgreement,
        },
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the core reads

  /** The MIGRATION-REQUEST waiting to be ordered, if any. */
  get pendingRequest(): MigrationRequest | null {
    return this.migrationPending;
  }

  /** Special entries the primary has queued and not yet proposed. */
  get queuedSpecials(): readonly OrderedSpecial[] {
    return this.specialQueue;
  }

  /** Seq of the latest migration checkpoint we took, -1 before any. */
  get checkpointSeq(): number {
    return this.migrationCheckpointSeq;
  }

  /** A round executed at seq still has targets that may fetch its checkpoint. */
  hasRoundInFlight(seq: number): boolean {
    return this.roundsInFlight.some((round) => round.seq === seq);
  }

  /** Whether a STATUS from a replica may stand for a pending target's MIGRATION-DONE (noteTargetRunning). */
  get hasRoundsInFlight(): boolean {
    return this.roundsInFlight.length > 0;
  }

  /** The newest CM-signed membership we hold, if any. */
  get membershipCertificate(): MembershipCertificate | null {
    return this.certificate;
  }

  /** Migration number l, membership and standby pool (null without migration), for tests and hosts. */
  get migrationState(): {
    readonly migrationNumber: number;
    readonly proactiveRound: number;
    readonly members: readonly MemberAddress[];
    readonly standbys: readonly { readonly nodeId: number; readonly joinTimeMs: number }[];
  } | null {
    const middleware = this.middleware;
    if (middleware === null) return null;
    return {
      migrationNumber: middleware.migrationNumber,
      proactiveRound: middleware.proactiveRound,
      members: middleware.members.map((member) => ({ ...member })),
      standbys: middleware.registry.standbys(),
    };
  }

  /** Interval controller's plan (Tw, Toe, Ts), or null without migration. */
  get intervalPlan(): ReturnType<IntervalController["plan"]> | null {
    return this.interval?.plan() ?? null;
  }

  /**
   * Replica.promoted: the node keeps the session keys it exchanged as a standby (docs/migration.md),
   * so the standby core's table replaces the one we made, if we use key exchange at all.
   */
  adoptKeyExchange(table: KeyExchangeTable): void {
    if (this.keyExchange === null) return;
    assert(table.config.nodeId === this.settings?.nodeId, "the standby's table is this node's");
    this.keyExchange = table;
  }

  // ---------------------------------------------------------------------------------------------
  // What the core's other sections tell us

  /** A view change started: what a primary queued or proposed in the old view is forgotten. */
  onViewChangeStarted(): void {
    this.specialQueue.length = 0;
    this.proposedSpecials.clear();
    this.migrationBarrierSeq = 0;
  }

  /** A new primary: a special entry the NEW-VIEW decided is proposed already in this view. */
  noteProposedSpecial(special: OrderedSpecial): void {
    this.proposedSpecials.add(specialKey(special));
  }

  /** A client sent us a request directly (Replica.onRequest). */
  onClientRequest(clientId: number): void {
    this.renotifyClient(clientId);
    if (this.certificateHeard.size < CLIENTS_MAX) this.certificateHeard.add(clientId);
  }

  /** Each STATUS tick: the certificate is pushed again on ticks 1, 2, 4, 8, ... after it arrived. */
  onStatusTickCertificate(): void {
    if (this.certificate === null) return;
    this.certificateTicks += 1;
    if ((this.certificateTicks & (this.certificateTicks - 1)) === 0) this.pushCertificate();
  }

  /**
   * Each INIT-MIGRATION proof is authenticated for us (section 3.2: a backup accepts a
   * MIGRATION-REQUEST only if 2f+1 replicas asked for the round): by its sender's authenticator
   * entry for us, or because we hold an INIT-MIGRATION for the same round (l, S, D, trigger) from
   * that sender, which the wire authenticated on arrival. The entry alone fails for a sender or a
   * receiver that restarted without memory since the proof was made (session keys are renewed at
   * each boot, and a node's entry for itself uses a key of its own memory): that MIGRATION-REQUEST
   * is then taken only once a quorum vouches for it (onPrePrepare, takeParkedPrePrepare). Checked
   * at the wire before, a PRE-PREPARE holding such a proof was dropped for good, at every replica
   * for an amnesiac sender's slot (migration CI seeds 30, 79 and 107).
   */
  proofsAuthentic(request: MigrationRequest): boolean {
    const migration = this.core.deps.migration!;
    return request.proofs.every((proof) => {
      if (migration.initMigrationAuthentic(proof)) return true;
      const known = this.initVotes[proof.replicaId];
      return known !== undefined && known.replicaId === proof.replicaId && initMatches(known, proof);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Messages and rounds (paper section 3; docs/migration.md). Only reached with migration settings.

  onMessage(from: Principal, message: MigrationMessage): void {
    if (this.middleware === null) return void this.core.drop("unexpectedType", from, message.type);
    switch (message.type) {
      case "JoinRequest":
        if (from.kind !== "node" || from.id !== message.nodeId)
          return void this.core.drop("senderMismatch", from, message.type);
        this.onJoinRequest(from, message);
        return;
      case "LeaveRequest":
        if (from.kind !== "cm" || from.id !== message.cmId)
          return void this.core.drop("senderMismatch", from, message.type);
        this.onLeaveRequest(from, message);
        return;
      case "InitMigration":
        if (!this.core.checkReplicaSender(from, message)) return;
        this.onInitMigration(message);
        return;
      case "MigrationDone":
        if (from.kind !== "node" || from.id !== message.nodeId)
          return void this.core.drop("senderMismatch", from, message.type);
        this.onMigrationDone(from, message);
        return;
      case "OnDemandMigration":
        if (from.kind !== "cm" || from.id !== message.cmId)
          return void this.core.drop("senderMismatch", from, message.type);
        this.onOnDemandMigration(from, message);
        return;
      case "KeyExchange":
        // Signed: the table checks it against the roster key of the node it names.
        if (this.keyExchange === null) return void this.core.drop("unexpectedType", from, message.type);
        this.applyKeyEffects(this.keyExchange.onMessage(from, message, this.core.config.replicaId));
        return;
      case "Evidence":
        if (!this.core.checkReplicaSender(from, message)) return;
        this.considerEvidence(from, message);
        return;
      case "MembershipCertificate":
        this.onMembershipCertificate(from, message);
        return;
      case "MigrateNow":
        if (from.kind !== "replica" || from.id !== message.replicaId)
          return void this.core.drop("senderMismatch", from, message.type);
        if (from.id === this.core.config.replicaId || from.id >= this.core.replicaCount)
          return void this.core.drop("unknownReplica", from, message.type);
        this.onPeerMigrateNow(from, message);
        return;
      case "JoinApproved":
      case "NewMembership":
        this.core.drop("unexpectedType", from, message.type);
        return;
      default:
        unreachable(message, "migration message type");
    }
  }

  /** Section 3.1: our JOIN-APPROVED for an executed join, signed by our node's coprocessor. */
  private joinApproved(approval: JoinApprovalInfo): JoinApproved {
    return makeJoinApproved(approval, this.core.config.replicaId, (bytes) =>
      this.core.deps.migration!.sign(bytes),
    );
  }

  /** Section 3.1: accept locally (signature, roster key, fresh l), then the primary orders it. */
  private onJoinRequest(from: Principal, message: JoinRequest): void {
    const middleware = this.middleware!;
    const verdict = middleware.registry.acceptJoinRequest(message);
    if (verdict.verdict === "approvedAlready") {
      // Our JOIN-APPROVED may have been lost: send it again.
      this.core.emit({
        kind: "send",
        to: from,
        message: this.joinApproved(verdict.approval),
      });
      return;
    }
    if (verdict.verdict === "rejected")
      return void this.core.drop("badJoin", from, `${message.type}: ${verdict.reason}`);
    // A fresh l: the node was sanitized, and whatever held its old session key may be an attacker.
    if (this.keyExchange !== null) this.applyKeyEffects(this.keyExchange.forget(message.nodeId));
    this.pendingJoins.set(message.nodeId, message);
    if (this.joinSeenAtMs.get(message.nodeId)?.counter !== message.counter)
      this.joinSeenAtMs.set(message.nodeId, { counter: message.counter, atMs: this.core.nowMs });
    if (this.core.isPrimary && this.core.viewActive)
      this.enqueueSpecial({ kind: "join", request: message, joinTimeMs: 0 });
  }

  private onLeaveRequest(from: Principal, message: LeaveRequest): void {
    const verdict = this.middleware!.registry.acceptLeaveRequest(message);
    if (verdict.verdict === "rejected")
      return void this.core.drop("badLeave", from, `${message.type}: ${verdict.reason}`);
    this.pendingLeaves.set(message.nodeId, message);
    if (this.core.isPrimary && this.core.viewActive) this.enqueueSpecial({ kind: "leave", request: message });
  }

  private enqueueSpecial(special: OrderedSpecial): void {
    assert(this.core.isPrimary && this.core.viewActive, "only an active primary orders special entries");
    const key = specialKey(special);
    if (this.proposedSpecials.has(key)) return;
    if (this.specialQueue.some((queued) => specialKey(queued) === key)) return;
    if (this.specialQueue.length >= SPECIAL_QUEUE_MAX)
      return void this.core.drop("queueFull", { kind: "replica", id: this.core.config.replicaId }, key);
    if (special.kind === "migration") this.specialQueue.unshift(special);
    else this.specialQueue.push(special);
    this.core.tryPropose();
  }

  /** The next special entry still worth ordering; a JOIN-REQUEST gets its join time now (3.1). */
  takeSpecial(): OrderedSpecial | null {
    const middleware = this.middleware;
    while (this.specialQueue.length > 0) {
      const special = this.specialQueue.shift()!;
      if (middleware === null) continue;
      if (special.kind === "migration" && special.request.migrationNumber < middleware.migrationNumber)
        continue;
      if (special.kind === "join" && !this.pendingJoins.has(special.request.nodeId)) continue;
      if (special.kind === "leave" && !this.pendingLeaves.has(special.request.nodeId)) continue;
      this.proposedSpecials.add(specialKey(special));
      if (special.kind === "join") return { ...special, joinTimeMs: Math.floor(this.core.nowMs) };
      return special;
    }
    return null;
  }

  /** A new primary continues what the old one left: the migration round first (3.2), then joins and leaves. */
  requeueSpecials(): void {
    if (this.middleware === null) return;
    if (this.migrationPending !== null)
      this.specialQueue.push({ kind: "migration", request: this.migrationPending });
    for (const request of this.pendingJoins.values())
      this.specialQueue.push({ kind: "join", request, joinTimeMs: 0 });
    for (const request of this.pendingLeaves.values()) this.specialQueue.push({ kind: "leave", request });
    const seen = new Set<string>();
    const kept = this.specialQueue.filter((special) => {
      const key = specialKey(special);
      if (this.proposedSpecials.has(key) || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    this.specialQueue.length = 0;
    this.specialQueue.push(...kept.slice(0, SPECIAL_QUEUE_MAX));
  }

  /**
   * Checks on a special PRE-PREPARE before it may be accepted (sections 3.1, 3.2). The
   * deterministic validity check runs again at execution (Middleware.executionProblem); these
   * only refuse what is already wrong here: malformed proofs, a stale round. The join time is
   * judged by joinTimeAcceptable.
   */
  specialAcceptable(from: Principal, message: PrePrepare): boolean {
    const special = message.special;
    assert(special !== undefined, "a special PRE-PREPARE");
    const middleware = this.middleware;
    if (middleware === null) return this.core.drop("unexpectedType", from, "special");
    if (message.requests.length > 0) return this.core.drop("badSpecial", from, "special with requests");
    switch (special.kind) {
      case "migration": {
        const problem = proofsProblem(special.request, this.core.config.f);
        if (problem !== null) return this.core.drop("badSpecial", from, `migration: ${problem}`);
        if (special.request.migrationNumber < middleware.migrationNumber)
          return this.core.drop("badSpecial", from, "migration: stale");
        return true;
      }
      case "join":
      case "leave":
        return true;
      default:
        return unreachable(special, "special kind");
    }
  }

  /**
   * Section 3.1: a backup refuses a join time that no correct primary could have assigned, so a
   * faulty one cannot pick times that bias target choice. A correct primary assigns its clock's
   * time when it orders the JOIN-REQUEST, after the standby sent it to every replica: so no later
   * than our clock now, and no earlier than when we first received the request ourselves, each
   * give or take joinTimeSkewMsMax. A replica that never received it (or restarted since) checks
   * only the first bound: an old time only makes one standby less likely to be chosen, and the
   * replicas that did receive it refuse such a time. Judging against the clock alone refused a
   * PRE-PREPARE that reached us late (lost, then resent to a lagging or restarted replica) forever,
   * and with a crashed peer nobody else could prepare it either (a stall: migration CI seeds 57
   * and 97 with a 1 s skew). Once 2f PREPAREs or f+1 COMMITs match it, a correct replica has
   * accepted it already (the first correct one to accept cannot have seen such a certificate): not
   * judged again (Replica.joinTimeAcceptable asks only for an uncertified one), nor are the
   * batches a NEW-VIEW decides.
   */
  joinTimeAcceptable(from: Principal, special: JoinSpecial): boolean {
    const skewMs = this.settings!.joinTimeSkewMsMax;
    const seen = this.joinSeenAtMs.get(special.request.nodeId);
    const sinceMs = seen?.counter === special.request.counter ? seen.atMs : Number.NEGATIVE_INFINITY;
    if (special.joinTimeMs <= this.core.nowMs + skewMs && special.joinTimeMs >= sinceMs - skewMs) return true;
    return this.core.drop("joinTimeSkew", from, "join");
  }

  /**
   * Runs an ordered special entry (sections 3.1, 3.2). Registry changes apply at once; a valid
   * MIGRATION-REQUEST's middleware change is returned so the migration checkpoint, taken right
   * after this seq executes, already holds the new membership and the next l.
   */
  executeSpecial(seq: number, special: OrderedSpecial): AppliedMigration | null {
    const middleware = this.middleware;
    if (middleware === null) return null; // a faulty primary's entry we never accepted
    switch (special.kind) {
      case "join": {
        const result = middleware.registry.executeJoin({
          request: special.request,
          seq,
          joinTimeMs: special.joinTimeMs,
        });
        const pending = this.pendingJoins.get(special.request.nodeId);
        if (pending !== undefined && pending.counter <= special.request.counter)
          this.pendingJoins.delete(special.request.nodeId);
        const seen = this.joinSeenAtMs.get(special.request.nodeId);
        if (seen !== undefined && seen.counter <= special.request.counter)
          this.joinSeenAtMs.delete(special.request.nodeId);
        if (result.applied) {
          this.core.metrics.joinsExecuted++;
          const message = this.joinApproved(result.approval);
          this.core.emit({ kind: "send", to: { kind: "node", id: special.request.nodeId }, message });
          this.reviseStaleInit();
        }
        return null;
      }
      case "leave": {
        const result = middleware.registry.executeLeave({ request: special.request, seq });
        const pending = this.pendingLeaves.get(special.request.nodeId);
        if (pending !== undefined && pending.counter <= special.request.counter)
          this.pendingLeaves.delete(special.request.nodeId);
        if (result.applied) {
          this.core.metrics.leavesExecuted++;
          this.reviseStaleInit();
        }
        return null;
      }
      case "migration":
        return this.executeMigration(seq, special.request);
      default:
        return unreachable(special, "special kind");
    }
  }

  private executeMigration(seq: number, request: MigrationRequest): AppliedMigration | null {
    const middleware = this.middleware!;
    const problem = middleware.executionProblem(request);
    if (problem !== null) {
      // Deterministic at every correct replica: the entry executes as a no-op everywhere.
      this.core.metrics.migrationsRejected++;
      this.core.deps.log?.info(
        { replicaId: this.core.config.replicaId, seq, problem },
        "migration request rejected",
      );
      if (
        this.migrationPending !== null &&
        this.migrationPending.migrationNumber < middleware.migrationNumber
      )
        this.migrationPending = null;
      if (
        request.migrationNumber === middleware.migrationNumber &&
        (problem === "targets" || problem === "sources")
      )
        this.restartStaleRound(seq, request);
      return null;
    }
    const pairs = middleware.applyMigration({ request, view: request.view, seq });
    this.core.metrics.migrationsExecuted++;
    this.initVotes.fill(undefined);
    this.migrationPending = null;
    this.onDemandSources = null;
    if (this.migrationBarrierSeq <= seq) this.migrationBarrierSeq = 0;
    return { request, pairs };
  }

  /**
   * Section 3.2 "State Transfer", after the MIGRATION-REQUEST executed at `seq` (its PRE-PREPARE
   * accepted at `acceptedAtMs`): the migration checkpoint (kept for the targets), MIGRATE-NOW to
   * every target and CM replica, then either retirement (we were a source) or the membership
   * change and the next round's timer.
   */
  afterMigration(seq: number, acceptedAtMs: number, applied: AppliedMigration): void {
    // This round's checkpoint replaces the previous latest one; the oldest round still in flight
    // is given up if needed, so the bound holds while the new checkpoint is taken.
    this.migrationCheckpointSeq = seq;
    this.makeRoomForRound();
    const checkpoint = this.core.migrationCheckpoint(seq);
    this.middleware!.recordCheckpointDigest(seq, checkpoint.stateDigest);
    const sources = applied.pairs.map((pair) => pair.replicaId);
    const stateSender = designatedStateSender(sources, this.core.replicaCount);
    const migrateNow = this.makeMigrateNow(seq, checkpoint.stateDigest, applied.pairs);
    this.sendMigrateNow(migrateNow);
    // To the peers too, which relay it while a target is pending (onPeerMigrateNow). Peers that
    // applied the round before it arrives refuse a source's copy (its id maps to the target's
    // node now); those still before it, the ones a partition kept away, take it.
    for (let id = 0; id < this.core.replicaCount; id++)
      if (id !== this.core.config.replicaId)
        this.core.emit({ kind: "send", to: { kind: "replica", id }, message: migrateNow });
    this.core.emit({
      kind: "migrationExecuted",
      view: applied.request.view,
      seq,
      migrationNumber: applied.request.migrationNumber,
      trigger: applied.request.trigger,
      pairs: applied.pairs,
      stateDigest: checkpoint.stateDigest,
      stateSender,
    });
    if (sources.includes(this.core.config.replicaId)) {
      this.core.retire(seq);
      return;
    }
    const middleware = this.middleware!;
    this.core.emit({
      kind: "membershipChanged",
      members: middleware.members.map((m) => ({ ...m })),
      pairs: applied.pairs,
    });
    this.authenticateCertifiedMembers();
    // A retired source keeps no key with us; a new member without one gets an exchange now.
    if (this.keyExchange !== null)
      for (const pair of applied.pairs) this.applyKeyEffects(this.keyExchange.forget(pair.sourceNodeId));
    this.maintainKeys();
    this.trackRound(migrateNow, acceptedAtMs);
    this.announceMembership(applied, seq);
    this.armMigrationTimer();
    this.afterEvidenceRound(applied.pairs);
  }

  /**
   * Keys with every other member's node and every registered standby: initiate where we hold
   * none, re-send pending initiations. Standbys too because a standby initiates only when it
   * registers or learns of a new member, and this replica may have lost its key in a restart.
   */
  maintainKeys(): void {
    const table = this.keyExchange;
    const middleware = this.middleware;
    if (table === null || middleware === null) return;
    const peers: KeyPeer[] = middleware.members.map((member) => ({
      nodeId: member.nodeId,
      to: { kind: "replica", id: member.replicaId },
    }));
    for (const standby of middleware.registry.standbys())
      peers.push({ nodeId: standby.nodeId, to: { kind: "node", id: standby.nodeId } });
    this.applyKeyEffects(table.maintain(peers, this.core.config.replicaId));
  }

  private applyKeyEffects(effects: readonly KeyExchangeEffect[]): void {
    for (const effect of effects) {
      if (effect.kind === "send") this.core.emit({ kind: "send", to: effect.to, message: effect.message });
      else this.core.emit({ kind: "peerKey", nodeId: effect.nodeId, key: effect.key });
    }
  }

  /** Key-exchange drops by reason (null without key exchange), for tests and hosts. */
  get keyExchangeDrops(): Readonly<Record<string, number>> | null {
    return this.keyExchange?.drops ?? null;
  }

  /**
   * MIGRATE-NOW names the view we are in, not the MIGRATION-REQUEST's: the target starts as a
   * backup in that view (Replica.promoted). A view change between the request and its execution
   * would otherwise leave the target in an older view whose successors' NEW-VIEWs it can never
   * verify: their VIEW-CHANGEs were signed by the nodes that ran the ids then, among them the
   * source it replaces, whose key it no longer holds for that id (simulator seeds 7, 17, 21, 26,
   * 28, 52 of the migration runs: the target stayed out of the view and the quorum was lost).
   */
  private makeMigrateNow(
    seq: number,
    checkpointDigest: Uint8Array,
    pairs: readonly MigrationPair[],
  ): MigrateNow {
    const body = {
      view: this.core.view,
      seq,
      checkpointDigest,
      pairs,
      replicaId: this.core.config.replicaId,
    };
    return {
      type: "MigrateNow",
      ...body,
      signature: this.core.deps.migration!.sign(migrateNowSignedBytes(body)),
    };
  }

  /** Section 3.3: lazily to clients, at once when a new replica is primary; always to standbys. */
  private announceMembership(applied: AppliedMigration, seq: number): void {
    const middleware = this.middleware!;
    const body = {
      view: applied.request.view,
      seq,
      pairs: applied.pairs,
      members: middleware.members.map((m) => ({ ...m })),
      replicaId: this.core.config.replicaId,
    };
    this.membershipNotice = {
      type: "NewMembership",
      ...body,
      signature: this.core.deps.migration!.sign(newMembershipSignedBytes(body)),
    };
    this.notifiedClients.clear();
    this.noticeResentAtMs.clear();
    for (const standby of middleware.registry.standbys())
      this.core.emit({
        kind: "send",
        to: { kind: "node", id: standby.nodeId },
        message: this.membershipNotice,
      });
    // Every known client at once, not only when the primary moved: MAC keys are per node, so a
    // client's requests fail authentication at each new target until it learns the membership,
    // and a target that rejects every PRE-PREPARE holding such requests cannot execute (it
    // lags until the next checkpoint). Found by the whole-system simulator (seed 3, --migrate).
    for (const clientId of this.core.clientIds()) this.maybeNotifyClient(clientId, seq + 1);
  }

  /**
   * Section 3.3, repair of the lazy rule: a client that missed a round's notices (no request of its
   * executed in between) holds stale MAC keys for the migrated ids; after two such rounds f+1 of
   * its authenticator entries are wrong, none of its requests executes and the lazy notice never
   * comes. So every request a client sends us directly gets the current notice, at most once per
   * status interval per client (found by the whole-system simulator, seed 2 of the migration runs).
   */
  private renotifyClient(clientId: number): void {
    const notice = this.membershipNotice;
    const certificate = this.certificate;
    if (notice === null && certificate === null) return;
    const lastMs = this.noticeResentAtMs.get(clientId);
    if (lastMs !== undefined && this.core.nowMs - lastMs < this.core.config.statusIntervalMs) return;
    if (lastMs === undefined && this.noticeResentAtMs.size >= CLIENTS_MAX) return;
    this.noticeResentAtMs.set(clientId, this.core.nowMs);
    // The certificate too: a client that missed several rounds cannot authenticate f+1 of our
    // notices for the latest one (its keys for the ids moved earlier are stale).
    const to = { kind: "client", id: clientId } as const;
    if (notice !== null) this.core.emit({ kind: "send", to, message: notice });
    if (certificate !== null) this.core.emit({ kind: "send", to, message: certificate });
  }

  /**
   * A MEMBERSHIP-CERTIFICATE from the CM or relayed by a peer: kept if the CM signed it and it is
   * newer than ours, then pushed to the clients and standbys (pushCertificate). The sender is not
   * authenticated (the wire skips the frame MAC for this type) and is trusted for nothing.
   */
  private onMembershipCertificate(from: Principal, message: MembershipCertificate): void {
    const settings = this.settings!;
    if (
      !membershipCertificateValid(
        message,
        this.core.replicaCount,
        settings.cmPublicKeys,
        this.core.deps.migration!.verify,
      )
    )
      return void this.core.drop("badSignature", from, message.type);
    if (this.certificate !== null && message.seq <= this.certificate.seq)
      return void this.core.drop("staleCertificate", from, message.type);
    this.certificate = message;
    this.certificateHeard.clear();
    this.certificateTicks = 0;
    this.pushCertificate();
    this.authenticateCertifiedMembers();
    this.core.maybeFetchLaggingState(false);
  }

  /**
   * While our state is behind the round a CM certificate names, our wire authenticates the ids
   * that round moved by the certificate's nodes, not the retired ones: only the host's keys move
   * (the replicated membership changes when we reach the round). The retired nodes send nothing
   * after the round, while the new members' frames (their VIEW-CHANGEs and CHECKPOINTs) are what
   * a replica that missed the round needs to catch up. Migration CI seed 37: r1 and r3 missed the
   * round that promoted n5 and refused its frames, so their view change could not decide the
   * round's seq and n5 never joined it. The CM is trusted (paper section 2) and its signature is
   * checked (membershipCertificateValid). Called whenever something may have pointed the wire at
   * an older membership: the certificate's arrival, an executed round, an installed state.
   */
  authenticateCertifiedMembers(): void {
    const certificate = this.certificate;
    const middleware = this.middleware;
    if (certificate === null || middleware === null || certificate.seq <= this.core.lastExecutedSeq) return;
    if (certificate.seq <= (middleware.lastMigration?.seq ?? 0)) return;
    const moved = certificate.members.some((member) => middleware.nodeOf(member.replicaId) !== member.nodeId);
    if (!moved) return;
    this.core.emit({
      kind: "membershipChanged",
      members: certificate.members.map((member) => ({ ...member })),
      pairs: [],
    });
  }

  /**
   * Sends the certificate to every registered standby and to every known client that has not sent
   * us a request directly since it arrived (those get it from renotifyClient). A client or standby
   * whose membership is stale cannot reach us, so this push is its only way back; repeated on
   * STATUS ticks 1, 2, 4, 8, ... after the certificate, so a node cut off for a while still gets it
   * and the cost stays logarithmic in time.
   */
  private pushCertificate(): void {
    const certificate = this.certificate;
    if (certificate === null) return;
    for (const clientId of this.core.clientIds()) {
      if (!this.certificateHeard.has(clientId))
        this.core.emit({ kind: "send", to: { kind: "client", id: clientId }, message: certificate });
    }
    for (const standby of this.middleware!.registry.standbys())
      this.core.emit({ kind: "send", to: { kind: "node", id: standby.nodeId }, message: certificate });
  }

  /** Lazy notification (3.3): a client whose request executed after the MIGRATION-REQUEST. */
  maybeNotifyClient(clientId: number, seq: number): void {
    const notice = this.membershipNotice;
    if (notice === null || seq <= notice.seq || this.notifiedClients.has(clientId)) return;
    if (this.notifiedClients.size >= CLIENTS_MAX) return;
    this.notifiedClients.add(clientId);
    this.core.emit({ kind: "send", to: { kind: "client", id: clientId }, message: notice });
  }

  /** Section 3.2: our MIGRATE-NOW to the round's targets and to every CM replica. */
  private sendMigrateNow(migrateNow: MigrateNow): void {
    for (const pair of migrateNow.pairs)
      this.core.emit({ kind: "send", to: { kind: "node", id: pair.targetNodeId }, message: migrateNow });
    const cmCount = this.settings!.cmPublicKeys.length;
    for (let cmId = 0; cmId < cmCount; cmId++)
      this.core.emit({ kind: "send", to: { kind: "cm", id: cmId }, message: migrateNow });
  }

  /**
   * After state transfer: the installed state holds the last migration (n, P) and its checkpoint
   * digest C (Middleware.recordCheckpointDigest). If we had not executed n, we never sent its
   * MIGRATE-NOW; we do now, exactly as if we had executed it, since the state we hold is the one
   * we would have signed for: C is certified (f+1 matching CHECKPOINTs, so a correct replica's,
   * or a NEW-VIEW's decision, and the fetched copy hashed to it), and the digest inside later
   * states was recorded by correct replicas that reached n. The target still needs 2f+1 distinct
   * replicas' signatures on (n, C, P) (paper section 3.2); this only lets a correct replica that
   * was partitioned away during the round be one of them. Before, when the round executed in a
   * partition without a correct non-source replica and its source retired, its MIGRATE-NOW was
   * lost and the target never reached 2f+1 (migration CI seeds 78 and 93: two of three).
   * A source of that round (it missed its own retirement) signs and retires. Returns whether we
   * retired.
   */
  vouchSkippedRound(executedBefore: number): boolean {
    const last = this.middleware?.lastMigration ?? null;
    if (last === null || last.checkpointDigest === null || last.seq <= executedBefore) return false;
    if (this.roundsInFlight.some((round) => round.seq === last.seq)) return false;
    const nodeId = this.settings!.nodeId;
    const ours = last.pairs.find((pair) => pair.replicaId === this.core.config.replicaId);
    // Only the node that ran our id at n vouches: a source of an earlier round we skipped is no
    // longer an active replica, and its word must not count towards a target's 2f+1.
    if (
      ours !== undefined
        ? ours.sourceNodeId !== nodeId
        : this.middleware!.nodeOf(this.core.config.replicaId) !== nodeId
    )
      return false;
    this.core.metrics.skippedRoundsVouched++;
    const migrateNow = this.makeMigrateNow(last.seq, last.checkpointDigest, last.pairs);
    this.sendMigrateNow(migrateNow);
    if (ours !== undefined) {
      this.core.retire(last.seq);
      return true;
    }
    this.trackRound(migrateNow, null);
    return false;
  }

  /**
   * A round we executed or vouched for, kept while its targets are pending (MIGRATE-NOW resends,
   * relays, the target wait) and noticed to the CM; the oldest one in flight is given up to keep
   * MIGRATION_CHECKPOINTS_MAX. `startMs`: when its MIGRATION-REQUEST was accepted, null if we
   * passed the round by state transfer (no migration latency to measure).
   */
  private trackRound(migrateNow: MigrateNow, startMs: number | null): void {
    this.makeRoomForRound();
    this.roundsInFlight.push({
      seq: migrateNow.seq,
      startMs,
      migrateNow,
      pending: new Set(migrateNow.pairs.map((pair) => pair.targetNodeId)),
      retransmits: 0,
      executedAtMs: this.core.nowMs,
    });
    assert(this.roundsInFlight.length <= MIGRATION_CHECKPOINTS_MAX, "rounds in flight bounded");
    this.noticeCm(migrateNow);
  }

  private makeRoomForRound(): void {
    while (this.roundsInFlight.length >= MIGRATION_CHECKPOINTS_MAX) this.roundsInFlight.shift();
  }

  /** Keeps a round's MIGRATE-NOW for retransmission to the CM (cmNotices), in seq order. */
  private noticeCm(migrateNow: MigrateNow): void {
    const notices = this.cmNotices;
    if (notices.some((notice) => notice.migrateNow.seq >= migrateNow.seq)) return;
    notices.push({ migrateNow, retransmits: 0 });
    while (notices.length > MIGRATION_CHECKPOINTS_MAX) notices.shift();
    assert(notices.length <= MIGRATION_CHECKPOINTS_MAX, "CM notices bounded");
  }

  /**
   * A peer's MIGRATE-NOW, kept for relaying. Signed by the node that ran the sender's id when it
   * executed the round: its source node in our own copy of the round for a source of a round we
   * executed, else the node our membership names
   * (a copy whose signer moved since is dropped; the target would refuse it anyway).
   */
  private onPeerMigrateNow(from: Principal, message: MigrateNow): void {
    const settings = this.settings!;
    const known = this.peerMigrateNows[message.replicaId]!;
    // A round we hold a copy of, or one older than every round kept while the bound is reached.
    if (
      known.some((copy) => copy.seq === message.seq) ||
      (known.length >= MIGRATION_CHECKPOINTS_MAX && message.seq < known[0]!.seq)
    )
      return void this.core.drop("duplicate", from, message.type);
    // A source's node comes from our own MIGRATE-NOW of that round, never from the copy's pairs:
    // any enrolled node could name itself the source there and sign a copy for another id, which
    // would then displace that id's real copies here (two kept per peer, the highest seqs).
    const ownCopy = [
      ...this.roundsInFlight.map((round) => round.migrateNow),
      ...this.cmNotices.map((n) => n.migrateNow),
    ].find((copy) => copy.seq === message.seq);
    const source = ownCopy?.pairs.find((pair) => pair.replicaId === message.replicaId);
    const signer = source?.sourceNodeId ?? this.middleware!.nodeOf(message.replicaId);
    const key = settings.roster.find((entry) => entry.nodeId === signer)?.publicKey;
    const { type: _type, signature, ...fields } = message;
    if (key === undefined || !this.core.deps.migration!.verify(key, migrateNowSignedBytes(fields), signature))
      return void this.core.drop("badSignature", from, message.type);
    known.push(message);
    known.sort((a, b) => a.seq - b.seq);
    while (known.length > MIGRATION_CHECKPOINTS_MAX) known.shift();
    assert(known.length <= MIGRATION_CHECKPOINTS_MAX, "peer MIGRATE-NOWs are bounded");
  }

  /** Ts: from our PRE-PREPARE of the MIGRATION-REQUEST to the last target's MIGRATION-DONE (3.2). */
  private onMigrationDone(from: Principal, message: MigrationDone): void {
    const index = this.roundsInFlight.findIndex((round) => round.seq === message.seq);
    const inFlight = this.roundsInFlight[index];
    if (inFlight === undefined || !inFlight.pending.has(from.id))
      return void this.core.drop("staleMigrationDone", from, message.type);
    const expected = inFlight.migrateNow.pairs.find((pair) => pair.targetNodeId === from.id);
    if (expected === undefined || expected.replicaId !== message.replicaId)
      return void this.core.drop("senderMismatch", from, message.type);
    this.targetDone(inFlight, from.id);
  }

  /**
   * STATUS from replica `replicaId` while a round in flight moved that id to a target we still
   * wait on: the wire authenticated it under the key of the node our membership runs the id on,
   * which is that target (a later round moving the id on changes the membership), so the target
   * runs the replica and was promoted. MIGRATION-DONE is sent once and may be lost; a promoted
   * replica sends STATUS at once and every status interval, so this stands in for it and the
   * target wait (targetWaitMs) ends.
   */
  noteTargetRunning(replicaId: number): void {
    const nodeId = this.middleware?.nodeOf(replicaId);
    if (nodeId === undefined) return;
    for (const inFlight of [...this.roundsInFlight])
      if (
        inFlight.pending.has(nodeId) &&
        inFlight.migrateNow.pairs.some((pair) => pair.replicaId === replicaId && pair.targetNodeId === nodeId)
      )
        this.targetDone(inFlight, nodeId);
  }

  private targetDone(inFlight: RoundInFlight, nodeId: number): void {
    inFlight.pending.delete(nodeId);
    if (inFlight.pending.size > 0) return;
    const index = this.roundsInFlight.indexOf(inFlight);
    assert(index >= 0, "a round in flight is listed");
    this.roundsInFlight.splice(index, 1);
    this.core.collectCheckpoints(); // every target has the state: only the latest may still be needed
    if (inFlight.startMs === null) return; // a round we vouched for after state transfer: no Ts
    const latencyMs = Math.max(0, this.core.nowMs - inFlight.startMs);
    this.core.emit({ kind: "migrationCompleted", seq: inFlight.seq, latencyMs });
    this.emitAdmin(this.interval!.recordMigrationLatency(latencyMs));
  }

  recordOrderExecute(durationMs: number): void {
    if (this.interval === null) return;
    this.emitAdmin(this.interval.recordOrderExecute(Math.max(0, durationMs)));
  }

  private emitAdmin(notifications: readonly AdminNotification[]): void {
    for (const notification of notifications) this.core.emit({ kind: "adminNotification", notification });
  }

  armMigrationTimer(): void {
    const settings = this.settings;
    if (settings === null || !settings.proactive || this.core.isRetired) return;
    this.core.setTimer("migration", Math.max(settings.migrationTimeoutMsMin, this.interval!.nextTimeoutMs()));
  }

  onTimer(): void {
    if (this.middleware === null) return;
    const waitMs = this.targetWaitMs();
    if (waitMs > 0) {
      this.core.metrics.migrationTimerHolds++;
      this.core.setTimer("migration", Math.min(waitMs, this.core.config.statusIntervalMs));
      return;
    }
    this.startRound("timer", null);
  }

  /**
   * How much longer our timer-triggered INIT-MIGRATION waits for a round's target (0: start now).
   * The round ends at execution from our view, and the next proactive round, started whatever
   * the targets do, takes f more ids down while the last round's may still lack their replicas
   * (long runs, docs/migration-progress.md Open 7: four ids without a replica with f=2). So we
   * hold while a round we executed has a target that has not started (no MIGRATION-DONE nor
   * STATUS from it) and still runs its id in our membership, for at most targetWaitMsMax after
   * we executed it: a target that never starts cannot stop proactive recovery, and the CM's
   * promotion deadline moves its id (an on-demand round, which no hold delays). Our hold only
   * withholds our own INIT: f+1 replicas' INITs for the round still make us join it.
   */
  private targetWaitMs(): number {
    const waitMsMax = this.settings!.targetWaitMsMax;
    let waitMs = 0;
    if (waitMsMax === 0) return waitMs;
    for (const inFlight of this.roundsInFlight)
      for (const nodeId of inFlight.pending)
        if (this.stillTarget(inFlight.migrateNow, nodeId))
          waitMs = Math.max(waitMs, inFlight.executedAtMs + waitMsMax - this.core.nowMs);
    return waitMs;
  }

  /**
   * A MIGRATION-REQUEST for the current l whose S or D no longer match the replicated state at its
   * seq: a JOIN (or LEAVE) ordered between the INIT-MIGRATION quorum and the request changed the
   * target choice. Every correct replica executes the same no-op here, so each drops the stale
   * request and its INIT-MIGRATION votes and starts the round again on the current registry;
   * otherwise the stale request would be re-proposed forever and l never advance (found by the
   * whole-system simulator, seed 3 of the migration runs).
   */
  private restartStaleRound(seq: number, request: MigrationRequest): void {
    this.initVotes.fill(undefined);
    if (this.migrationPending !== null && this.migrationPending.migrationNumber === request.migrationNumber)
      this.migrationPending = null;
    if (this.migrationBarrierSeq <= seq) this.migrationBarrierSeq = 0;
    this.startRound(request.trigger, request.trigger === "onDemand" ? request.sources : null);
  }

  /**
   * A JOIN or LEAVE executed after we sent our INIT-MIGRATION for the current l and changed the
   * selection: our INIT names an S or D that no MIGRATION-REQUEST may execute with any more, while
   * replicas whose timers expire later name the new one, so neither side reaches 2f+1 and rounds
   * stop for good (a standby's JOIN ordered between the replicas' timers: seed 1, f=1, 500 ms
   * timer, round 84). Every correct replica executes the same entry, so each replaces its INIT,
   * and drops a MIGRATION-REQUEST built from the old ones (it can only execute as a no-op now).
   */
  private reviseStaleInit(): void {
    const middleware = this.middleware!;
    const own = this.initVotes[this.core.config.replicaId];
    if (own === undefined || own.migrationNumber !== middleware.migrationNumber) return;
    const faulty = own.trigger === "onDemand" ? this.onDemandSources : null;
    const selection = middleware.expectedSelection(own.trigger, faulty);
    if (
      selection.ok &&
      initMatches(own, { ...selection, migrationNumber: own.migrationNumber, trigger: own.trigger })
    )
      return;
    this.initVotes[this.core.config.replicaId] = undefined;
    if (this.migrationPending?.migrationNumber === own.migrationNumber) {
      this.migrationPending = null;
      this.core.refreshViewChangeTimer(false);
    }
    this.startRound(own.trigger, faulty);
  }

  /** Section 3.4: the CM's signed request names the replicas to migrate at once. */
  private onOnDemandMigration(from: Principal, message: OnDemandMigration): void {
    const key = this.settings!.cmPublicKeys[message.cmId];
    const { signature, type: _type, ...fields } = message;
    if (
      key === undefined ||
      !this.core.deps.migration!.verify(key, onDemandMigrationSignedBytes(fields), signature)
    )
      return void this.core.drop("badSignature", from, message.type);
    const last = this.onDemandCounters.get(message.cmId);
    if (last !== undefined && message.counter <= last)
      return void this.core.drop("staleOnDemand", from, message.type);
    this.onDemandCounters.set(message.cmId, message.counter);
    this.onDemandSources = [...message.replicaIds];
    this.startRound("onDemand", this.onDemandSources);
  }

  /** Our INIT-MIGRATION for the current l (section 3.2, "How to Initiate"). */
  private startRound(trigger: InitMigration["trigger"], faulty: readonly number[] | null): void {
    const middleware = this.middleware!;
    const l = middleware.migrationNumber;
    const own = this.initVotes[this.core.config.replicaId];
    if (own !== undefined && own.migrationNumber === l && own.trigger === trigger) return;
    const selection = middleware.expectedSelection(trigger, faulty);
    if (!selection.ok) {
      this.core.emit({ kind: "migrationPostponed", reason: selection.reason });
      if (trigger === "timer") this.armMigrationTimer();
      return;
    }
    const body = {
      type: "InitMigration" as const,
      view: this.core.view,
      migrationNumber: l,
      sources: [...selection.sources],
      targets: [...selection.targets],
      trigger,
      replicaId: this.core.config.replicaId,
    };
    const init: InitMigration = { ...body, auth: this.core.deps.migration!.authenticateInitMigration(body) };
    this.initVotes[this.core.config.replicaId] = init;
    this.core.metrics.initMigrationsSent++;
    this.core.emit({ kind: "broadcast", message: init });
    this.checkInitQuorum();
  }

  private onInitMigration(message: InitMigration): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    const middleware = this.middleware!;
    if (message.migrationNumber !== middleware.migrationNumber)
      return void this.core.drop("staleInit", from, message.type);
    const previous = this.initVotes[message.replicaId];
    if (
      previous !== undefined &&
      previous.migrationNumber === message.migrationNumber &&
      initMatches(previous, message)
    )
      return void this.core.drop("duplicate", from, message.type);
    const onDemand = message.trigger === "onDemand";
    const expected = middleware.expectedSelection(message.trigger, onDemand ? this.onDemandSources : null);
    const verifiable = expected.ok || !onDemand || this.onDemandSources !== null;
    if (verifiable) {
      // Section 3.2: S and D must equal our own selection.
      if (
        !expected.ok ||
        !initMatches(message, {
          ...expected,
          migrationNumber: message.migrationNumber,
          trigger: message.trigger,
        })
      )
        return void this.core.drop("initMismatch", from, message.type);
    }
    // An on-demand INIT-MIGRATION before the CM's request reached us is kept (one slot per
    // replica) and counts only once our own, built from the CM's request, matches it.
    this.initVotes[message.replicaId] = message;
    this.core.takeParkedWithInit(message);
    const own = this.initVotes[this.core.config.replicaId];
    const ownCurrent = own !== undefined && own.migrationNumber === middleware.migrationNumber;
    if (!ownCurrent && expected.ok && this.countInitVotes(message) >= weakQuorumOf(this.core.config.f)) {
      // f+1 replicas started this round, so a correct one's timer expired: join it.
      this.startRound(message.trigger, onDemand ? this.onDemandSources : null);
      return;
    }
    this.checkInitQuorum();
  }

  private countInitVotes(like: InitMigration): number {
    return this.initVotes.filter((vote) => vote !== undefined && initMatches(vote, like)).length;
  }

  /** 2f+1 matching INIT-MIGRATIONs (ours included) make the MIGRATION-REQUEST. */
  private checkInitQuorum(): void {
    const middleware = this.middleware!;
    const own = this.initVotes[this.core.config.replicaId];
    if (own === undefined || own.migrationNumber !== middleware.migrationNumber) return;
    if (this.migrationPending !== null && this.migrationPending.migrationNumber === own.migrationNumber)
      return;
    const proofs = this.initVotes
      .filter((vote): vote is InitMigration => vote !== undefined && initMatches(vote, own))
      .sort((a, b) => a.replicaId - b.replicaId)
      .slice(0, quorumOf(this.core.config.f));
    if (proofs.length < quorumOf(this.core.config.f)) return;
    const { migrationNumber, sources, targets, trigger } = own;
    this.migrationPending = {
      type: "MigrationRequest",
      view: this.core.view,
      migrationNumber,
      sources,
      targets,
      trigger,
      proofs,
    };
    assert(
      proofsProblem(this.migrationPending, this.core.config.f) === null,
      "we build well-formed migration requests",
    );
    if (this.core.isPrimary && this.core.viewActive)
      this.enqueueSpecial({ kind: "migration", request: this.migrationPending });
    else this.core.refreshViewChangeTimer(false);
  }

  /** Each status tick: MIGRATE-NOW to silent targets (a crashed target retries), and our INIT-MIGRATION. */
  retransmitMigration(): void {
    this.retryEvidenceRound();
    for (const inFlight of this.roundsInFlight) {
      if (inFlight.retransmits >= this.settings!.migrateNowRetransmitsMax) continue;
      inFlight.retransmits++;
      // A view change since: the target must start in the view we are in now (makeMigrateNow).
      if (this.core.viewActive && inFlight.migrateNow.view !== this.core.view) {
        const { seq, checkpointDigest, pairs } = inFlight.migrateNow;
        inFlight.migrateNow = this.makeMigrateNow(seq, checkpointDigest, pairs);
      }
      const relayed = this.peerMigrateNows.flatMap((copies) =>
        copies.filter((copy) => sameRound(copy, inFlight.migrateNow)),
      );
      for (const nodeId of inFlight.pending)
        if (this.stillTarget(inFlight.migrateNow, nodeId))
          for (const copy of [inFlight.migrateNow, ...relayed])
            this.core.retransmit({ kind: "node", id: nodeId }, copy);
    }
    // Oldest round first: the CM applies rounds in seq order and drops a copy of one below the
    // latest it applied.
    for (const cmNotice of this.cmNotices) {
      if (cmNotice.retransmits >= this.settings!.migrateNowRetransmitsMax) continue;
      cmNotice.retransmits++;
      // The peers' signed copies of the round too: a replica that executed the round and then
      // lost its memory, or a source that retired, sent its copy to the CM once, and a partition
      // may have cut the CM off then. The CM counts a copy under its author's signature only, so
      // f+1 still means f+1 distinct replicas (migration CI seeds 79 and 198: the CM held one of
      // the round's surviving signatures, never certified the round, and the replica left out of
      // it could not fetch its state on the CM's certificate).
      const relayed = this.peerMigrateNows.flatMap((copies) =>
        copies.filter((copy) => sameRound(copy, cmNotice.migrateNow)),
      );
      const cmCount = this.settings!.cmPublicKeys.length;
      for (let cmId = 0; cmId < cmCount; cmId++)
        for (const copy of [cmNotice.migrateNow, ...relayed])
          this.core.retransmit({ kind: "cm", id: cmId }, copy);
    }
    const own = this.initVotes[this.core.config.replicaId];
    if (
      this.middleware !== null &&
      own !== undefined &&
      own.migrationNumber === this.middleware.migrationNumber
    ) {
      // Authenticated afresh: a peer that restarted, or a node that took an id over, keys us with
      // a new session key since we built it, and would drop the old authenticator every time.
      const { auth: _stale, ...body } = own;
      const fresh: InitMigration = {
        ...body,
        auth: this.core.deps.migration!.authenticateInitMigration(body),
      };
      this.initVotes[this.core.config.replicaId] = fresh;
      this.core.metrics.retransmissions++;
      this.core.emit({ kind: "broadcast", message: fresh });
    }
  }

  /**
   * Whether `nodeId` still runs the id the round moved to it in our membership. Once a later round
   * moved that id on (an on-demand round replacing a target that crashed mid-transfer), the old
   * round's MIGRATE-NOW would promote the node from a stale checkpoint next to the id's current
   * node: a target that came back from its crash did so in long runs, and was later promoted
   * again for another id (two ids on one node).
   */
  private stillTarget(migrateNow: MigrateNow, nodeId: number): boolean {
    const pair = migrateNow.pairs.find((candidate) => candidate.targetNodeId === nodeId);
    return pair !== undefined && this.middleware?.nodeOf(pair.replicaId) === nodeId;
  }

  // ---------------------------------------------------------------------------------------------
  // Evidence (section 3.4: "solid evidence that one or more replicas are faulty, such as a lying
  // primary"; bft/replica/evidence.ts says what counts). A verified proof leads to exactly what a
  // CM's on-demand request leads to: INIT-MIGRATION with trigger onDemand naming the offenders.

  /** Our NEW-VIEWs are signed by our node's coprocessor when we migrate (messages.ts NewView). */
  signNewView(body: Omit<NewView, "signature">): Uint8Array {
    const migrationDeps = this.core.deps.migration;
    if (this.middleware === null || migrationDeps === undefined) return new Uint8Array(0);
    const { type: _type, ...fields } = body;
    return migrationDeps.sign(newViewSignedBytes(fields));
  }

  /** A NEW-VIEW from its view's primary failed verifyNewView; signed, it may be proof of a lie. */
  accuseNewView(message: NewView): void {
    const middleware = this.middleware;
    if (middleware === null || message.signature.length === 0) return;
    const evidence: Evidence = {
      type: "Evidence",
      newView: message,
      offenderNodeId: middleware.nodeOf(message.replicaId),
      replicaId: this.core.config.replicaId,
    };
    this.considerEvidence({ kind: "replica", id: this.core.config.replicaId }, evidence);
  }

  /** A proof we found or a peer forwarded: verified from scratch, never on the sender's word. */
  private considerEvidence(from: Principal, evidence: Evidence): void {
    const middleware = this.middleware!;
    const staleness = this.offenders.staleness(evidence);
    if (staleness === "duplicate") return void this.core.drop("duplicate", from, evidence.type);
    if (staleness === "stale") return void this.core.drop("staleEvidence", from, evidence.type);
    const settings = this.settings!;
    const migrationDeps = this.core.deps.migration!;
    const verdict = verifyEvidence(evidence, {
      f: this.core.config.f,
      limits: this.core.limits,
      batchDigest: (body) => proposalDigest(body, this.core.deps),
      nodeOf: (replicaId) => middleware.nodeOf(replicaId),
      publicKeyOf: (nodeId) => settings.roster.find((entry) => entry.nodeId === nodeId)?.publicKey,
      verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature),
    });
    if (!verdict.ok) {
      const reason = verdict.reason === "offenderMoved" ? "staleEvidence" : "badEvidence";
      return void this.core.drop(reason, from, `${evidence.type}: ${verdict.reason}`);
    }
    const record = this.offenders.record(evidence, verdict);
    this.core.metrics.evidenceAccepted++;
    this.core.emit({
      kind: "evidenceAccepted",
      offenderId: record.offenderId,
      offenderNodeId: record.nodeId,
      view: record.view,
      fault: verdict.fault,
    });
    this.core.deps.log?.info(
      { replicaId: this.core.config.replicaId, offenderId: record.offenderId, fault: verdict.fault },
      "evidence accepted",
    );
    // Peers that did not see the lie need the proof to check our INIT-MIGRATION's S.
    this.forwardEvidence(evidence);
    // The view we are changing to is led by a proven liar: its NEW-VIEW will never do, so move
    // on now rather than when the (backed-off) new-view timer expires. Starting a view change
    // early is always safe in PBFT; it only costs the liar its view.
    if (!this.core.viewActive && record.view === this.core.view && record.offenderId === this.core.primary)
      this.core.startViewChange(this.core.view + 1);
    this.startEvidenceRound();
  }

  private forwardEvidence(evidence: Evidence): void {
    const forwarded: Evidence = { ...evidence, replicaId: this.core.config.replicaId };
    if (!this.core.deps.migration!.fitsInFrame(forwarded)) return;
    this.core.emit({ kind: "broadcast", message: forwarded });
  }

  /**
   * Starts the on-demand round for the proven ids whose offending node still runs them, unless an
   * on-demand round (ours or the CM's) is under way: later offenders wait for the next one.
   */
  private startEvidenceRound(): void {
    const middleware = this.middleware!;
    if (this.core.isRetired) return;
    const live = this.offenders.liveIds((replicaId) => middleware.nodeOf(replicaId), this.core.config.f);
    if (live.length === 0) return;
    const own = this.initVotes[this.core.config.replicaId];
    if (own !== undefined && own.migrationNumber === middleware.migrationNumber && own.trigger === "onDemand")
      return;
    this.evidenceSources = live;
    this.evidenceRetransmits = 0;
    this.onDemandSources = live;
    this.startRound("onDemand", live);
  }

  /**
   * An executed round moved ids: proofs against their old nodes are spent. A proof still pending
   * starts its round on the next status tick (retryEvidenceRound), not here: our INIT-MIGRATION's
   * authenticator is computed when we build it, and the host applies this round's membershipChanged
   * only after this step, so one built now would carry the retired nodes' MACs for the moved ids
   * and the targets would refuse it (found by the simulator, seed 58 with lyingNewPrimary).
   */
  private afterEvidenceRound(pairs: readonly MigrationPair[]): void {
    this.offenders.migrated(pairs, this.core.view);
    this.evidenceSources = null;
  }

  /**
   * Each status tick while an evidence round is pending: start it if it could not start (too few
   * standbys, or a CM round went first) and resend the proofs it rests on, a bounded number of times.
   */
  private retryEvidenceRound(): void {
    if (this.middleware === null) return;
    this.startEvidenceRound();
    const sources = this.evidenceSources;
    if (sources === null || this.evidenceRetransmits >= this.settings!.migrateNowRetransmitsMax) return;
    this.evidenceRetransmits++;
    for (const offenderId of sources) {
      const record = this.offenders.get(offenderId);
      if (record === undefined) continue;
      this.core.metrics.retransmissions++;
      this.forwardEvidence(record.evidence);
    }
  }

  restoreMiddleware(bytes: Uint8Array): boolean {
    if (this.middleware === null) return bytes.length === 0;
    const before = this.middleware.migrationNumber;
    if (!this.middleware.restore(bytes)) return false;
    if (this.middleware.migrationNumber !== before) {
      this.initVotes.fill(undefined);
      if (
        this.migrationPending !== null &&
        this.migrationPending.migrationNumber < this.middleware.migrationNumber
      )
        this.migrationPending = null;
    } else this.reviseStaleInit(); // the fetched state may hold JOINs and LEAVEs we skipped
    return true;
  }

  /** Replica.promoted: install the verified migration checkpoint as our state at seq. */
}

/** Two MIGRATE-NOWs certify the same round: same n, C and P (views and signers may differ). */
function sameRound(a: MigrateNow, b: MigrateNow): boolean {
  return (
    a.seq === b.seq &&
    bytesEqual(a.checkpointDigest, b.checkpointDigest) &&
    a.pairs.length === b.pairs.length &&
    a.pairs.every((pair, index) => {
      const other = b.pairs[index]!;
      return (
        pair.replicaId === other.replicaId &&
        pair.sourceNodeId === other.sourceNodeId &&
        pair.targetNodeId === other.targetNodeId
      );
    })
  );
}
