/**
 * The migration role of a replica (paper section 3; docs/migration.md): the part of the replica
 * core that runs proactive and on-demand migration rounds, joins and leaves of the standby pool,
 * session keys, and through its parts the delivery of a round's MIGRATE-NOWs (RoundsInFlight,
 * rounds-in-flight.ts), the notices of a new membership (MembershipNotices,
 * membership-notices.ts) and evidence against faulty replicas (EvidenceRounds,
 * evidence-rounds.ts, section 3.4). Replica (replica.ts) owns one and delegates to it every
 * migration message, the migration timer and the special entries it orders; the role and its
 * parts reach back only through ReplicaCore (replica-core.ts), and emit their effects into the
 * core's list.
 *
 * Without migration settings the role holds no middleware and stays idle: it drops every
 * migration message, so no special entry is ever queued or accepted.
 */
import { assert, unreachable } from "../assert.js";
import type {
  InitMigration,
  JoinApproved,
  JoinRequest,
  LeaveRequest,
  MemberAddress,
  MigrationMessage,
  MigrationPair,
  MigrationRequest,
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
  onDemandMigrationSignedBytes,
} from "../migration/index.js";
import type { MigrationSettings } from "./api.js";
import { EvidenceRounds } from "./evidence-rounds.js";
import { MembershipNotices } from "./membership-notices.js";
import { initMatches, Middleware, proofsProblem } from "./middleware.js";
import { quorumOf, weakQuorumOf } from "./quorum.js";
import type { ReplicaCore } from "./replica-core.js";
import { RoundsInFlight } from "./rounds-in-flight.js";

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

function newMiddleware(core: ReplicaCore, settings: MigrationSettings): Middleware {
  const migrationDeps = core.deps.migration;
  assert(migrationDeps !== undefined, "migration settings come with migration deps");
  return new Middleware(
    {
      f: core.config.f,
      roster: settings.roster,
      activeNodeIds: settings.members.map((member) => member.nodeId),
      cmPublicKeys: settings.cmPublicKeys,
    },
    { verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature) },
    settings.members,
  );
}

/** Our node's KEY-EXCHANGE table, or null when the host uses derived keys only. */
function newKeyExchangeTable(core: ReplicaCore, settings: MigrationSettings): KeyExchangeTable | null {
  const migrationDeps = core.deps.migration;
  assert(migrationDeps !== undefined, "migration settings come with migration deps");
  const setup = migrationDeps.keyExchange;
  if (setup === undefined) return null;
  return new KeyExchangeTable(
    {
      nodeId: settings.nodeId,
      counter: setup.counter,
      roster: settings.roster,
      replicaCount: core.replicaCount,
    },
    {
      sign: (bytes) => migrationDeps.sign(bytes),
      verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature),
      keyAgreement: setup.keyAgreement,
    },
  );
}

/** What Replica.migrationState reports: migration number l, membership and standby pool. */
export interface MigrationStateSummary {
  readonly migrationNumber: number;
  readonly proactiveRound: number;
  readonly members: readonly MemberAddress[];
  readonly standbys: readonly { readonly nodeId: number; readonly joinTimeMs: number }[];
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
  /**
   * Primary: no proposal above this seq until it executes (a MIGRATION-REQUEST is a barrier). Set
   * by the core when it proposes a MIGRATION-REQUEST (Replica.propose), read by its batching.
   */
  migrationBarrierSeq = 0;
  /** Seq of the latest migration checkpoint we took (-1 before any): see Replica.checkpointNeeded. */
  private migrationCheckpointSeq = -1;
  /** Rounds we executed whose targets are pending: MIGRATE-NOW delivery to them and the CM (3.2). */
  readonly rounds: RoundsInFlight;
  /** Proofs that replicas are faulty, and the on-demand rounds they start (section 3.4). */
  readonly evidence: EvidenceRounds;
  /** NEW-MEMBERSHIP notices and the CM's membership certificate (section 3.3). */
  readonly notices: MembershipNotices;
  /** Session keys with the other nodes (KEY-EXCHANGE); null when the host uses derived keys only. */
  private keyExchange: KeyExchangeTable | null;

  constructor(core: ReplicaCore, settings: MigrationSettings | null) {
    this.core = core;
    this.settings = settings;
    this.initVotes = new Array<InitMigration | undefined>(core.replicaCount).fill(undefined);
    this.middleware = settings === null ? null : newMiddleware(core, settings);
    // A promoted target does not run its id in the initial membership: its checkpoint says so
    // (asserted in Replica.installPromotedState).
    this.interval = settings === null ? null : new IntervalController(settings.interval);
    this.keyExchange = settings === null ? null : newKeyExchangeTable(core, settings);
    const migration = { settings, middleware: this.middleware };
    this.rounds = new RoundsInFlight(core, {
      ...migration,
      recordMigrationLatency: (latencyMs) => this.emitAdmin(this.interval!.recordMigrationLatency(latencyMs)),
    });
    this.notices = new MembershipNotices(core, migration);
    this.evidence = new EvidenceRounds(core, {
      ...migration,
      onDemandUnderWay: () => this.onDemandUnderWay(),
      startOnDemandRound: (sources) => {
        this.onDemandSources = sources;
        this.startRound("onDemand", sources);
      },
    });
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

  /** Migration number l, membership and standby pool (null without migration), for tests and hosts. */
  get migrationState(): MigrationStateSummary | null {
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

  /**
   * A new primary: a special entry the NEW-VIEW decided at `seq` is proposed already in this
   * view. A MIGRATION-REQUEST there is a barrier as if we had proposed it: proposing our own
   * request for the same l above it (built from other votes, so another entry) left a seq that
   * every replica executing the first one then refused as stale, and nothing above it could
   * execute until the next view (migration soak seed 61096).
   */
  noteProposedSpecial(special: OrderedSpecial, seq: number): void {
    this.proposedSpecials.add(specialKey(special));
    if (special.kind === "migration") this.migrationBarrierSeq = Math.max(this.migrationBarrierSeq, seq);
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

  /**
   * State transfer or promotion installs the middleware's part of a certified state: a newer l
   * voids our INIT-MIGRATION votes and a MIGRATION-REQUEST built from them; the same l may still
   * bring JOINs and LEAVEs we skipped, which can change the selection our INIT named. False when
   * the bytes do not decode (a bad copy).
   */
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

  // ---------------------------------------------------------------------------------------------
  // Messages and rounds (paper section 3; docs/migration.md). Only reached with migration settings.

  onMessage(from: Principal, message: MigrationMessage): void {
    if (this.middleware === null) return void this.core.drop("unexpectedType", from, message.type);
    switch (message.type) {
      case "JoinRequest":
        if (!this.sentByAuthor(from, "node", message.nodeId, message.type)) return;
        this.onJoinRequest(from, message);
        return;
      case "LeaveRequest":
        if (!this.sentByAuthor(from, "cm", message.cmId, message.type)) return;
        this.onLeaveRequest(from, message);
        return;
      case "InitMigration":
        if (!this.core.checkReplicaSender(from, message)) return;
        this.onInitMigration(message);
        return;
      case "MigrationDone":
        if (!this.sentByAuthor(from, "node", message.nodeId, message.type)) return;
        this.rounds.onMigrationDone(from, message);
        return;
      case "OnDemandMigration":
        if (!this.sentByAuthor(from, "cm", message.cmId, message.type)) return;
        this.onOnDemandMigration(from, message);
        return;
      case "KeyExchange":
        // Signed: the table checks it against the roster key of the node it names.
        if (this.keyExchange === null) return void this.core.drop("unexpectedType", from, message.type);
        this.applyKeyEffects(this.keyExchange.onMessage(from, message, this.core.config.replicaId));
        return;
      case "Evidence":
        if (!this.core.checkReplicaSender(from, message)) return;
        this.evidence.consider(from, message);
        return;
      case "MembershipCertificate":
        this.notices.onCertificate(from, message);
        return;
      case "MigrateNow":
        if (!this.sentByAuthor(from, "replica", message.replicaId, message.type)) return;
        if (from.id === this.core.config.replicaId || from.id >= this.core.replicaCount)
          return void this.core.drop("unknownReplica", from, message.type);
        this.rounds.onPeerMigrateNow(from, message);
        return;
      case "JoinApproved":
      case "NewMembership":
        this.core.drop("unexpectedType", from, message.type);
        return;
      default:
        unreachable(message, "migration message type");
    }
  }

  /**
   * Whether the message came from the principal it names as its author (the node, CM or replica
   * in its fields); dropped as senderMismatch if not.
   */
  private sentByAuthor(from: Principal, kind: Principal["kind"], id: number, type: string): boolean {
    return (from.kind === kind && from.id === id) || this.core.drop("senderMismatch", from, type);
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
      if (special.kind === "migration" && special.request !== this.migrationPending) continue;
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
    this.rounds.makeRoomForRound();
    const checkpoint = this.core.migrationCheckpoint(seq);
    assert(checkpoint.seq === seq, "the migration checkpoint is of the round's seq");
    this.middleware!.recordCheckpointDigest(seq, checkpoint.stateDigest);
    const sources = applied.pairs.map((pair) => pair.replicaId);
    const stateSender = designatedStateSender(sources, this.core.replicaCount);
    const migrateNow = this.rounds.makeMigrateNow(seq, checkpoint.stateDigest, applied.pairs);
    this.rounds.sendMigrateNow(migrateNow);
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
    this.notices.authenticateCertifiedMembers();
    // A retired source keeps no key with us; a new member without one gets an exchange now.
    if (this.keyExchange !== null)
      for (const pair of applied.pairs) this.applyKeyEffects(this.keyExchange.forget(pair.sourceNodeId));
    this.maintainKeys();
    this.rounds.trackRound(migrateNow, acceptedAtMs);
    this.notices.announce({ view: applied.request.view, seq, pairs: applied.pairs });
    this.armMigrationTimer();
    this.evidence.afterRound(applied.pairs);
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
    if (this.rounds.has(last.seq)) return false;
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
    const migrateNow = this.rounds.makeMigrateNow(last.seq, last.checkpointDigest, last.pairs);
    this.rounds.sendMigrateNow(migrateNow);
    if (ours !== undefined) {
      this.core.retire(last.seq);
      return true;
    }
    this.rounds.trackRound(migrateNow, null);
    return false;
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
    const waitMs = this.rounds.targetWaitMs();
    if (waitMs > 0) {
      this.core.metrics.migrationTimerHolds++;
      this.core.setTimer("migration", Math.min(waitMs, this.core.config.statusIntervalMs));
      return;
    }
    this.startRound("timer", null);
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

  /** We sent an on-demand INIT-MIGRATION for the current l: an on-demand round is under way. */
  private onDemandUnderWay(): boolean {
    const own = this.initVotes[this.core.config.replicaId];
    return (
      own !== undefined &&
      own.migrationNumber === this.middleware!.migrationNumber &&
      own.trigger === "onDemand"
    );
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
    this.dropSupersededRequest(message);
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

  /**
   * A replica replaced its vote (it restarted without memory, or switched between a timer and an
   * on-demand round): a MIGRATION-REQUEST we built from its old INIT-MIGRATION carries a proof its
   * peers can no longer vouch for (they hold the new vote) and, after a restart, nobody can
   * authenticate (its session keys are new). Backups park such a PRE-PREPARE for good, and every
   * primary re-proposed the request first in each view while it blocked all batches behind it
   * (a barrier), so views timed out in turn (migration soak seed 61109). Build the request again
   * from the current votes, or hold none until 2f+1 match again.
   */
  private dropSupersededRequest(vote: InitMigration): void {
    const pending = this.migrationPending;
    if (pending === null || pending.migrationNumber !== vote.migrationNumber) return;
    const carried = pending.proofs.find((proof) => proof.replicaId === vote.replicaId);
    if (carried === undefined || initMatches(carried, vote)) return;
    this.migrationPending = null;
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
    this.evidence.retry();
    this.rounds.retransmit();
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
}
