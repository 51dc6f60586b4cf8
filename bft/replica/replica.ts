import { assert, unreachable } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { CLIENT_QUEUE_MAX, REQUEST_BATCH_MAX } from "../limits.js";
import type {
  Checkpoint,
  Commit,
  FetchState,
  InitMigration,
  Message,
  MigrationMessage,
  MigrationRequest,
  NewView,
  OrderedSpecial,
  PrePrepare,
  Prepare,
  Principal,
  ReplicaMessage,
  Request,
  StateChunk,
  Status,
  ViewChange,
} from "../messages.js";
import type { IntervalController, KeyExchangeTable } from "../migration/index.js";
import type { CoreDeps, Effect, ExecutedRequest, ReplicaConfig, ReplicaInput, TimerId } from "./api.js";
import { proposalDigest } from "./batch-digest.js";
import { ClientTable } from "./client-table.js";
import { validateReplicaConfig } from "./config.js";
import type { EvidenceRounds } from "./evidence-rounds.js";
import type { MembershipNotices } from "./membership-notices.js";
import { type DropReason, newReplicaMetrics, type ReplicaMetrics } from "./metrics.js";
import { type AppliedMigration, MigrationRole, type MigrationStateSummary } from "./migration-role.js";
import {
  type DecidedBatch,
  type DecidedCheckpoint,
  decideNewView,
  type NewViewDecision,
} from "./new-view.js";
import { type OwnCheckpoint, OwnCheckpoints } from "./own-checkpoints.js";
import { primaryOf, quorumOf, replicaCountOf, VoteSet, weakQuorumOf } from "./quorum.js";
import type { ReplicaCore, StatusCore } from "./replica-core.js";
import { RequestQueue } from "./request-queue.js";
import type { RoundsInFlight } from "./rounds-in-flight.js";
import type { Slot } from "./slot.js";
import { stateDigestOf, stateMatchesDigest } from "./state-encoding.js";
import { type FetchRequest, StateFetch } from "./state-transfer.js";
import { StatusResponder } from "./status-responder.js";
import {
  buildViewChangeBody,
  type LoggedBatch,
  MIGRATION_CHECKPOINTS_MAX,
  type ViewChangeLimits,
  viewChangeProblem,
  withPrePrepared,
} from "./view-change.js";
import { inWindow, isCheckpointSeq } from "./watermarks.js";

const MIGRATION_MESSAGE_TYPES: ReadonlySet<string> = new Set<MigrationMessage["type"]>([
  "JoinRequest",
  "JoinApproved",
  "LeaveRequest",
  "InitMigration",
  "MigrateNow",
  "NewMembership",
  "KeyExchange",
  "MigrationDone",
  "OnDemandMigration",
  "Evidence",
  "MembershipCertificate",
]);

function isMigrationMessage(message: Message): message is MigrationMessage {
  return MIGRATION_MESSAGE_TYPES.has(message.type);
}

function loggedOf(message: PrePrepare): LoggedBatch {
  const { view, digest, requests, special } = message;
  return special === undefined ? { view, digest, requests } : { view, digest, requests, special };
}

function prePrepareOf(view: number, batch: DecidedBatch): PrePrepare {
  const { seq, digest, requests, special } = batch;
  return special === undefined
    ? { type: "PrePrepare", view, seq, digest, requests }
    : { type: "PrePrepare", view, seq, digest, requests, special };
}

/** Exponential backoff stops growing here (2^16 times the base timeout). */
const VIEW_CHANGE_BACKOFF_EXPONENT_MAX = 16;

export class Replica {
  readonly config: ReplicaConfig;
  readonly metrics: ReplicaMetrics = newReplicaMetrics();
  private readonly deps: CoreDeps;
  private readonly replicaCount: number;
  private readonly limits: ViewChangeLimits;
  private effects: Effect[] = [];
  private nowMsLast = 0;

  private viewCurrent = 0;
  /** False between sending a VIEW-CHANGE and entering the new view: normal-case traffic is ignored. */
  private viewActive = true;
  private lastExecuted = 0;
  private stable = 0;
  private stableDigest: Uint8Array;

  private readonly log = new Map<number, Slot>();
  private readonly preparedSet = new Map<number, LoggedBatch>(); // P
  private readonly prePreparedSet = new Map<number, LoggedBatch[]>(); // Q
  private maxPrePreparedSeq = 0;

  private clientTable: ClientTable;
  /** Requests known and not yet executed, the latest per client: relayed to a new primary. */
  private readonly pending = new Map<number, Request>();
  /** Primary only: requests waiting for a batch, and the highest timestamp queued or in flight. */
  private readonly queue = new RequestQueue(CLIENT_QUEUE_MAX);
  private readonly proposedTimestamps = new Map<number, number>();
  private seqNext = 1;

  /** Our own checkpoints, which we serve by state transfer (own-checkpoints.ts). */
  private readonly checkpoints = new OwnCheckpoints();
  private readonly checkpointVotes = new Map<number, VoteSet>();
  /** Each replica's highest CHECKPOINT above our window: enough to learn we fell behind. */
  private readonly checkpointsAhead: (Checkpoint | undefined)[];
  /**
   * Each replica's latest CHECKPOINT at an off-interval seq above our execution: a migration
   * checkpoint (section 3.2), announced at the round's execution (afterMigration). Only a lagging
   * replica uses them, to fetch the round's state once f+1 agree (certifiedCheckpointAhead).
   */
  private readonly migrationCheckpointClaims: (Checkpoint | undefined)[];
  private lastExecutedAtStatus = 0;
  private lagSeqAtStatus = 0;
  /** Answers peers' STATUS messages with what they lack (status-responder.ts). */
  private readonly statusResponder: StatusResponder;

  /** Each replica's latest VIEW-CHANGE (ours included). */
  private readonly viewChanges: (ViewChange | undefined)[];
  private newViewMessage: NewView | null = null;
  private failedViewChanges = 0;
  private viewChangeTimerArmed = false;

  private stateFetch: StateFetch | null = null;

  /** Restarted without memory (see start()) and not yet in a view entered through a NEW-VIEW. */
  private recovering = false;
  /** We never act as primary in this view or a lower one: a previous incarnation may have. */
  private primaryViewBar = -1;
  /**
   * Decided batches of the view we entered that lie above our window (the decision's checkpoint is
   * ahead of our stable one): accepted once state transfer or a stable checkpoint moves the window.
   */
  private readonly deferredBatches = new Map<number, PrePrepare>();
  /** Seqs whose slot holds a parked PRE-PREPARE (Slot.parked); stale entries are skipped. */
  private readonly parkedSeqs = new Set<number>();

  /**
   * A retired source (section 3.2: it "stops accepting new request messages"): it orders,
   * executes and sends nothing new and ignores all input but a peer's STATUS, which it answers with
   * retransmissions of what it sent up to its round (`step`).
   */
  private retired = false;
  /** Made by Replica.promoted and not yet started: start() sends STATUS at once. */
  private promotedAtStart = false;
  /** Migration (paper section 3): idle when the config has no migration settings. */
  private readonly migration: MigrationRole;
  /** The migration role's evidence of faulty replicas (section 3.4). */
  private readonly evidence: EvidenceRounds;
  /** The migration role's rounds whose targets are pending (section 3.2). */
  private readonly rounds: RoundsInFlight;
  /** The migration role's NEW-MEMBERSHIP notices and CM certificate (section 3.3). */
  private readonly notices: MembershipNotices;

  constructor(config: ReplicaConfig, deps: CoreDeps) {
    this.config = validateReplicaConfig(config);
    this.deps = deps;
    this.replicaCount = replicaCountOf(config.f);
    this.limits = {
      replicaCount: this.replicaCount,
      checkpointIntervalSeqs: config.checkpointIntervalSeqs,
      logWindowSeqs: config.logWindowSeqs,
    };
    this.checkpointsAhead = new Array<Checkpoint | undefined>(this.replicaCount).fill(undefined);
    this.migrationCheckpointClaims = new Array<Checkpoint | undefined>(this.replicaCount).fill(undefined);
    this.viewChanges = new Array<ViewChange | undefined>(this.replicaCount).fill(undefined);
    this.clientTable = new ClientTable();
    const lent = this.coreForCollaborators();
    this.migration = new MigrationRole(lent, config.migration ?? null);
    this.evidence = this.migration.evidence;
    this.rounds = this.migration.rounds;
    this.notices = this.migration.notices;
    this.statusResponder = new StatusResponder(lent);
    // The genesis checkpoint (seq 0) is stable by definition: every replica starts from the same
    // initial application state and an empty client table.
    const genesis = this.makeCheckpoint(0);
    this.stableDigest = genesis.message.stateDigest;
    assert(this.checkpoints.size === 1, "genesis checkpoint recorded");
  }

  get view(): number {
    return this.viewCurrent;
  }
  get lastExecutedSeq(): number {
    return this.lastExecuted;
  }
  get stableSeq(): number {
    return this.stable;
  }
  get stableStateDigest(): Uint8Array {
    return this.stableDigest;
  }
  get primary(): number {
    return primaryOf(this.viewCurrent, this.replicaCount);
  }
  get isPrimary(): boolean {
    return this.primary === this.config.replicaId;
  }
  /** Primary of the current view and free to lead it: not a view a previous incarnation may have led. */
  private get actingPrimary(): boolean {
    return this.isPrimary && this.viewCurrent > this.primaryViewBar;
  }
  /** True while a view change is in progress (between VIEW-CHANGE and NEW-VIEW). */
  get viewChanging(): boolean {
    return !this.viewActive;
  }
  /** Sizes of the bounded structures, for tests and metrics. */
  get sizes(): Record<string, number> {
    return {
      log: this.log.size,
      preparedSet: this.preparedSet.size,
      prePreparedSet: this.prePreparedSet.size,
      checkpoints: this.checkpoints.size,
      checkpointVotes: this.checkpointVotes.size,
      pending: this.pending.size,
      queue: this.queue.length,
      proposedTimestamps: this.proposedTimestamps.size,
      clientTable: this.clientTable.size,
    };
  }

  /** Seqs of our own checkpoints (stable, interval, retained migration ones), for tests. */
  get checkpointSeqs(): number[] {
    return [...this.checkpoints.keys()].sort((a, b) => a - b);
  }

  /**
   * Arms the initial timers. `recovering`: this replica restarted without memory (there is no
   * persistence, see api.ts). Before the crash it may have led the current view, or a later one,
   * and proposed in it; it cannot know what, and proposing again could give a seq two batches (an
   * equivocating primary). So it takes part as a backup and acts as primary in no view up to the
   * highest one a peer shows was active before it enters a view through a NEW-VIEW, until a view
   * change (its own timer, or f+1 VIEW-CHANGEs) brings it into a view properly. A cluster's first
   * start passes false.
   */
  start(nowMs: number, options: { readonly recovering?: boolean } = {}): Effect[] {
    this.advanceClock(nowMs);
    if (options.recovering === true) {
      this.recovering = true;
      this.primaryViewBar = Math.max(this.primaryViewBar, this.viewCurrent);
    }
    // A promoted target announces itself at once: it starts in the view the round executed in, but
    // the others may have moved on while it fetched the state (the round moved the primary, say),
    // and their VIEW-CHANGEs or NEW-VIEW come only in answer to a STATUS (simulator seed 71).
    if (this.promotedAtStart) this.onStatusTimer();
    else this.setTimer("status", this.config.statusIntervalMs);
    this.promotedAtStart = false;
    this.migration.armMigrationTimer();
    this.migration.maintainKeys();
    return this.takeEffects();
  }

  /**
   * The replica a promoted migration target runs (section 3.2): the checkpoint it fetched and
   * verified against 2f+1 MIGRATE-NOW digests, installed at the MIGRATION-REQUEST's seq, in the
   * view the MIGRATE-NOWs named. Call start() next, as for any replica. `keyExchange` is the
   * standby core's table: the node keeps the keys it exchanged as a standby (docs/migration.md).
   */
  static promoted(
    config: ReplicaConfig,
    deps: CoreDeps,
    installed: {
      readonly view: number;
      readonly seq: number;
      readonly stateDigest: Uint8Array;
      readonly stateBytes: Uint8Array;
      readonly keyExchange?: KeyExchangeTable | null;
    },
  ): Replica {
    const replica = new Replica(config, deps);
    replica.installPromotedState(installed);
    const table = installed.keyExchange;
    if (table != null) replica.migration.adoptKeyExchange(table);
    return replica;
  }

  /**
   * The host's event-loop turn ended (config.proposeAtTurnEnd): the requests that queued during it
   * leave together, as far as batchInflightMax allows.
   */
  endTurn(nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    assert(this.effects.length === 0, "effects drained between steps");
    if (this.retired) return [];
    this.tryPropose();
    this.checkInvariants();
    return this.takeEffects();
  }

  /** Migration number l, membership and standby pool (null without migration), for tests and hosts. */
  get migrationState(): MigrationStateSummary | null {
    return this.migration.migrationState;
  }

  /** Key-exchange drops by reason (null without key exchange), for tests and hosts. */
  get keyExchangeDrops(): Readonly<Record<string, number>> | null {
    return this.migration.keyExchangeDrops;
  }

  get isRetired(): boolean {
    return this.retired;
  }

  /** The MIGRATION-REQUEST waiting to be ordered, if any. */
  get pendingMigration(): MigrationRequest | null {
    return this.migration.pendingRequest;
  }

  /** Interval controller's plan (Tw, Toe, Ts), or null without migration. */
  get intervalPlan(): ReturnType<IntervalController["plan"]> | null {
    return this.migration.intervalPlan;
  }

  step(input: ReplicaInput, nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    assert(this.effects.length === 0, "effects drained between steps");
    if (this.retired) {
      this.onInputWhileRetired(input);
      return this.takeEffects();
    }
    if (input.kind === "timer") this.onTimer(input.timer);
    else this.onMessage(input.from, input.message);
    this.checkInvariants();
    return this.takeEffects();
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch

  private onTimer(timer: TimerId): void {
    switch (timer) {
      case "status":
        this.onStatusTimer();
        return;
      case "viewChange":
        this.onViewChangeTimer();
        return;
      case "stateTransfer":
        this.onStateTransferTimer();
        return;
      case "migration":
        this.migration.onTimer();
        return;
      default:
        unreachable(timer, "timer");
    }
  }

  private onMessage(from: Principal, message: Message): void {
    if (message.type === "Request") {
      this.onRequest(from, message);
      return;
    }
    if (message.type === "Reply") return void this.drop("unexpectedType", from, message.type);
    if (isMigrationMessage(message)) {
      this.migration.onMessage(from, message);
      return;
    }
    if (from.kind === "node" && message.type === "FetchState") {
      // A migration target fetching the checkpoint for the logical id it now holds (section 3.2).
      const middleware = this.migration.middleware;
      if (middleware === null || middleware.nodeOf(message.replicaId) !== from.id)
        return void this.drop("notMember", from, message.type);
      this.onFetchState(from, message);
      return;
    }
    if (!this.checkReplicaSender(from, message)) return;
    if (this.recovering) this.noteViewWhileRecovering(message);
    if (message.type === "Status" && !this.rounds.isEmpty) this.rounds.noteTargetRunning(from.id);
    switch (message.type) {
      case "PrePrepare":
        this.onPrePrepare(from.id, message);
        return;
      case "Prepare":
        this.onPrepare(message);
        return;
      case "Commit":
        this.onCommit(message);
        return;
      case "Checkpoint":
        this.onCheckpoint(message);
        return;
      case "ViewChange":
        this.onViewChange(message);
        return;
      case "NewView":
        this.onNewView(from, message);
        return;
      case "Status":
        this.statusResponder.onStatus(message);
        return;
      case "FetchState":
        this.onFetchState(from, message);
        return;
      case "StateChunk":
        this.onStateChunk(message);
        return;
      default:
        unreachable(message, "message type");
    }
  }

  /**
   * A retired source still answers a peer's STATUS, only with retransmissions (StatusResponder
   * changes nothing of ours). With f replicas faulty and f sources, the round's targets start
   * only if every other correct replica executes the round too, and a peer that lost a source's
   * PREPARE or COMMIT of it before the network healed could otherwise never execute it. Only peers
   * that have not executed the round still key the id to our node, so only they reach us.
   * Migration soak seed 61037 (f=3, three Byzantine replicas): two sources retired while four
   * correct replicas lacked COMMITs of the round, only f MIGRATE-NOWs went out, and the service
   * stopped for good. The CM sanitizes us once f+1 MIGRATE-NOWs show the round executed.
   */
  private onInputWhileRetired(input: ReplicaInput): void {
    if (input.kind === "message" && input.message.type === "Status" && input.from.kind === "replica") {
      const message = input.message;
      if (this.checkReplicaSender(input.from, message)) this.statusResponder.onStatusWhileRetired(message);
      return;
    }
    this.metrics.dropped.retired++;
    this.metrics.droppedTotal++;
  }

  /** One place checks that a replica message comes from a replica that is who it claims to be. */
  private checkReplicaSender(from: Principal, message: ReplicaMessage): boolean {
    if (from.kind !== "replica") return this.drop("senderKind", from, message.type);
    // Any replica may relay a PRE-PREPARE or resend a NEW-VIEW: their handlers check the author.
    if (message.type !== "PrePrepare" && message.type !== "NewView" && message.replicaId !== from.id) {
      return this.drop("senderMismatch", from, message.type);
    }
    // FETCH-STATE may come from a standby outside 0..3f (migration reuses state transfer).
    const known = from.id >= 0 && from.id < this.replicaCount;
    if (from.id === this.config.replicaId || (!known && message.type !== "FetchState")) {
      return this.drop("unknownReplica", from, message.type);
    }
    return true;
  }

  /**
   * While recovering, a view a peer shows was active (its NEW-VIEW, or normal-case traffic in it)
   * may be one our previous incarnation led (see start()), and so may a view a peer's STATUS shows it
   * reached before we did (seed 1410: a restarted primary of view 4 first entered a stale view 2,
   * then led view 4 again). VIEW-CHANGEs, and STATUS for the view we are in, do not count: they name
   * views still being formed, and if every replica restarted, barring those would leave no primary.
   */
  private noteViewWhileRecovering(message: ReplicaMessage): void {
    const type = message.type;
    const active = type === "NewView" || type === "PrePrepare" || type === "Prepare" || type === "Commit";
    if (!active && !(type === "Status" && message.view > this.viewCurrent)) return;
    if (message.view > this.primaryViewBar) this.primaryViewBar = message.view;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests and batching (PBFT sections 4.1, 4.2 and 6.1)

  private onRequest(from: Principal, request: Request): void {
    if (from.kind === "client" && from.id !== request.clientId)
      return void this.drop("senderMismatch", from, "Request");
    if (from.kind === "replica" && (from.id === this.config.replicaId || from.id >= this.replicaCount)) {
      return void this.drop("unknownReplica", from, "Request");
    }
    this.metrics.requestsReceived++;
    if (from.kind === "client") this.notices.onClientRequest(request.clientId);
    const entry = this.clientTable.get(request.clientId);
    if (entry !== undefined && request.timestamp < entry.timestamp) {
      return void this.drop("staleRequest", from, "Request");
    }
    if (entry !== undefined && request.timestamp === entry.timestamp) {
      // A retransmission of the last executed request: the client lost our reply.
      this.metrics.repliesResent++;
      this.sendReply(request.clientId, entry.timestamp, entry.result);
      return;
    }
    if (from.kind === "client") this.refreshPendingCopy(request);
    if (!this.viewActive) {
      this.rememberPending(from, request);
      return;
    }
    if (this.actingPrimary) this.acceptRequestAsPrimary(from, request);
    else this.acceptRequestAsBackup(from, request);
  }

  private acceptRequestAsPrimary(from: Principal, request: Request): void {
    assert(this.actingPrimary && this.viewActive, "primary in an active view");
    const proposed = this.proposedTimestamps.get(request.clientId);
    if (proposed !== undefined && proposed >= request.timestamp) {
      return void this.drop("duplicateRequest", from, "Request");
    }
    if (this.queue.full()) return void this.drop("queueFull", from, "Request");
    if (!this.rememberPending(from, request)) return;
    this.queue.push(request);
    this.proposedTimestamps.set(request.clientId, request.timestamp);
    if (this.config.proposeAtTurnEnd !== true) this.tryPropose();
  }

  private acceptRequestAsBackup(from: Principal, request: Request): void {
    assert(!this.actingPrimary && this.viewActive, "backup in an active view");
    const known = this.pending.get(request.clientId);
    const isNew = known === undefined || known.timestamp < request.timestamp;
    if (!this.rememberPending(from, request)) return;
    this.takeParkedWithRequest(request);
    if (this.isPrimary) {
      // A primary that may not lead this view (see start()) has nobody to relay to; its
      // view-change timer, like the backups', moves the system to a view it can enter properly.
      if (isNew) this.refreshViewChangeTimer(false);
      return;
    }
    if (from.kind === "replica") return; // a relay meant for a primary we do not know yet
    // Relay to the primary even when already known: a client retransmits when the primary
    // missed its request (PBFT section 4.1), and the view-change timer watches the outcome.
    this.emit({ kind: "send", to: { kind: "replica", id: this.primary }, message: request });
    if (isNew) this.refreshViewChangeTimer(false);
  }

  /**
   * A client's retransmission of a request we hold replaces our copy (same digest: only the
   * authenticator differs). After a membership change the client re-authenticates for the new
   * nodes, and the copy we forward in a resent PRE-PREPARE (resendSlot) is then one a promoted
   * target can check (migration CI seed 102: the target waited for the clients' next timeout).
   * Only copies from the client itself: a relayed copy could be an older one.
   */
  private refreshPendingCopy(request: Request): void {
    const known = this.pending.get(request.clientId);
    if (known === undefined || known === request || known.timestamp !== request.timestamp) return;
    if (!bytesEqual(this.deps.requestDigest(known), this.deps.requestDigest(request))) return;
    this.pending.set(request.clientId, request); // same key: keeps its place in the arrival order
  }

  /** Records a request as known and unexecuted; false (and counted) when the table is full. */
  private rememberPending(from: Principal, request: Request): boolean {
    const known = this.pending.get(request.clientId);
    if (known !== undefined && known.timestamp >= request.timestamp) return true;
    if (known === undefined && this.pending.size >= CLIENT_QUEUE_MAX) {
      return this.drop("pendingFull", from, "Request");
    }
    this.pending.delete(request.clientId);
    this.pending.set(request.clientId, request);
    assert(this.pending.size <= CLIENT_QUEUE_MAX, "pending bounded");
    return true;
  }

  /**
   * Adaptive batching (PBFT section 6.1): at most batchInflightMax batches pre-prepared but not
   * executed; requests arriving meanwhile queue and leave together when a batch executes.
   */
  private tryPropose(): void {
    if (!this.viewActive || !this.actingPrimary) return;
    // seqNext may lie above the window: a decision whose checkpoint we are still fetching (enterView).
    const highSeq = this.stable + this.config.logWindowSeqs;
    while (
      (this.queue.length > 0 || this.specialQueue.length > 0) &&
      this.seqNext - 1 - this.lastExecuted < this.config.batchInflightMax &&
      this.seqNext <= highSeq &&
      this.lastExecuted >= this.migrationBarrierSeq
    ) {
      // Special entries first, each alone (section 3.2: the MIGRATION-REQUEST at the head, never batched).
      const special = this.takeSpecial();
      if (special !== null) {
        this.propose({ requests: [], special });
        continue;
      }
      const requests = this.takeBatch();
      if (requests.length === 0) break;
      this.propose({ requests });
    }
  }

  private takeBatch(): Request[] {
    const requests: Request[] = [];
    while (requests.length < this.config.batchSizeMax && this.queue.length > 0) {
      const request = this.queue.shift()!;
      const entry = this.clientTable.get(request.clientId);
      if (entry !== undefined && entry.timestamp >= request.timestamp) continue; // executed meanwhile
      requests.push(request);
    }
    assert(requests.length <= REQUEST_BATCH_MAX, "batch bounded");
    return requests;
  }

  private propose(body: { readonly requests: readonly Request[]; readonly special?: OrderedSpecial }): void {
    assert(this.actingPrimary && this.viewActive, "only an active primary proposes");
    const { requests, special } = body;
    assert(
      special === undefined
        ? requests.length > 0 && requests.length <= this.config.batchSizeMax
        : requests.length === 0,
      "a batch of requests, or one special entry alone",
    );
    const seq = this.seqNext++;
    assert(seq <= this.stable + this.config.logWindowSeqs, "never propose above the high watermark");
    const digest = proposalDigest(body, this.deps);
    const prePrepare: PrePrepare =
      special === undefined
        ? { type: "PrePrepare", view: this.viewCurrent, seq, digest, requests }
        : { type: "PrePrepare", view: this.viewCurrent, seq, digest, requests, special };
    if (special?.kind === "migration") this.migrationBarrierSeq = seq;
    const slot = this.slotFor(seq);
    assert(slot.prePrepare === null, "a fresh seq has no pre-prepare");
    slot.prePrepare = prePrepare;
    this.recordPrePrepared(prePrepare);
    this.metrics.batchesProposed++;
    this.emit({ kind: "broadcast", message: prePrepare });
    this.refreshViewChangeTimer(false); // the primary now waits on the backups (awaitsProgress)
  }

  // ---------------------------------------------------------------------------------------------
  // Normal case: PRE-PREPARE, PREPARE, COMMIT (PBFT section 4.2)

  private onPrePrepare(fromId: number, message: PrePrepare): void {
    const from: Principal = { kind: "replica", id: fromId };
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    if (message.requests.length > REQUEST_BATCH_MAX)
      return void this.drop("batchTooLarge", from, message.type);
    if (message.special !== undefined && !this.migration.specialAcceptable(from, message)) return;
    if (fromId !== this.primary) {
      this.onRelayedPrePrepare(from, message);
      return;
    }
    const slot = this.slotFor(message.seq);
    if (slot.prePrepare !== null) {
      const same = bytesEqual(slot.prePrepare.digest, message.digest);
      return void this.drop(same ? "duplicate" : "conflictingPrePrepare", from, message.type);
    }
    if (!bytesEqual(proposalDigest(message, this.deps), message.digest)) {
      return void this.drop("badDigest", from, message.type);
    }
    // A request whose authenticator entry for us is wrong: a faulty client, or one that
    // authenticated it for the node that ran our id before a migration (it had not yet learned the
    // new membership). Take the batch once we hold that request from its client ourselves (PBFT's
    // rule: a backup accepts a PRE-PREPARE whose requests it can authenticate or has received
    // authenticated), or once a quorum vouches for it, as for a relay. Until then the PRE-PREPARE
    // waits in its slot: dropping it left a promoted target unable to execute anything past such a
    // batch until the next checkpoint (simulator seeds 36, 53, --migrate), and waiting only for a
    // certificate stalled every view in which the target's vote was needed for one (migration CI
    // seeds 2 and 29: the clients' re-authenticated retransmissions reached the target, but the
    // primary's batch kept the authenticators made for the source node).
    // The same holds for the INIT-MIGRATION proofs of a MIGRATION-REQUEST (proofsAuthentic).
    if (!this.prePrepareAuthentic(message) && !this.certifiedInSlot(slot, message.digest)) {
      slot.parked = message;
      this.parkedSeqs.add(slot.seq);
      assert(this.parkedSeqs.size <= this.config.logWindowSeqs, "parked seqs lie in the window");
      const reason = this.batchAuthentic(message) ? "initMigrationUnauthenticated" : "requestUnauthenticated";
      return void this.drop(reason, from, message.type);
    }
    if (!this.joinTimeAcceptable(from, slot, message)) return;
    this.acceptPrePrepare(slot, message);
  }

  /** The batch's requests and a MIGRATION-REQUEST's proofs are authenticated for us. */
  private prePrepareAuthentic(message: PrePrepare): boolean {
    if (!this.batchAuthentic(message)) return false;
    return message.special?.kind !== "migration" || this.migration.proofsAuthentic(message.special.request);
  }

  /**
   * Each request in the batch is authenticated for us: by its authenticator entry, or because we
   * received the same request (same client, timestamp and operation: the request digest) from its
   * client, which the wire authenticated on arrival (a REQUEST's own authenticator entry for us).
   */
  private batchAuthentic(message: PrePrepare): boolean {
    return message.requests.every((request) => {
      if (this.deps.requestAuthentic(request)) return true;
      const known = this.pending.get(request.clientId);
      return (
        known !== undefined &&
        known.timestamp === request.timestamp &&
        bytesEqual(this.deps.requestDigest(known), this.deps.requestDigest(request))
      );
    });
  }

  /** A parked PRE-PREPARE (onPrePrepare) is taken once its requests or a quorum vouch for it. */
  private takeParkedPrePrepare(slot: Slot): void {
    const parked = slot.parked;
    if (parked === null || slot.prePrepare !== null || slot.view !== this.viewCurrent) return;
    if (!this.prePrepareAuthentic(parked) && !this.certifiedInSlot(slot, parked.digest)) return;
    assert(
      parked.special === undefined || parked.special.kind === "migration",
      "joins and leaves never park",
    );
    slot.parked = null;
    this.parkedSeqs.delete(slot.seq);
    this.acceptPrePrepare(slot, parked);
  }

  /** An INIT-MIGRATION just became known: a parked MIGRATION-REQUEST holding it may now be authenticated. */
  private takeParkedWithInit(init: InitMigration): void {
    this.takeParkedWhere(
      (parked) =>
        parked.special?.kind === "migration" &&
        parked.special.request.proofs.some((proof) => proof.replicaId === init.replicaId),
    );
  }

  /** A request just became known: parked PRE-PREPAREs holding it may now be authenticated. */
  private takeParkedWithRequest(request: Request): void {
    this.takeParkedWhere((parked) => parked.requests.some((held) => held.clientId === request.clientId));
  }

  /** Tries each parked PRE-PREPARE that `concerned` says the news may authenticate. */
  private takeParkedWhere(concerned: (parked: PrePrepare) => boolean): void {
    if (this.parkedSeqs.size === 0 || !this.viewActive) return;
    for (const seq of [...this.parkedSeqs]) {
      const slot = this.log.get(seq);
      if (slot?.parked == null) {
        this.parkedSeqs.delete(seq);
        continue;
      }
      if (concerned(slot.parked)) this.takeParkedPrePrepare(slot);
    }
  }

  /**
   * 2f matching PREPAREs or f+1 matching COMMITs for the digest: a correct replica accepted the
   * PRE-PREPARE (in this view) before us.
   */
  private certifiedInSlot(slot: Slot, digest: Uint8Array): boolean {
    const f = this.config.f;
    return (
      slot.commitVotes.countMatching(digest) >= weakQuorumOf(f) ||
      slot.prepareVotes.countMatching(digest) >= 2 * f
    );
  }

  /**
   * A JOIN-REQUEST's join time is judged (MigrationRole.joinTimeAcceptable) unless 2f PREPAREs or
   * f+1 COMMITs match its PRE-PREPARE: then a correct replica accepted it already.
   */
  private joinTimeAcceptable(from: Principal, slot: Slot, message: PrePrepare): boolean {
    const special = message.special;
    if (special?.kind !== "join" || this.certifiedInSlot(slot, message.digest)) return true;
    return this.migration.joinTimeAcceptable(from, special);
  }

  /** A PRE-PREPARE resent by a backup: see the retransmission note at the top of this file. */
  private onRelayedPrePrepare(from: Principal, message: PrePrepare): void {
    // Nobody relays to the primary what it proposed itself, and a relay could fill a seq it is
    // about to assign (after a restart without memory, say): the primary takes none.
    if (this.isPrimary) return void this.drop("relayToPrimary", from, "relay");
    const slot = this.log.get(message.seq);
    if (slot === undefined || slot.view !== this.viewCurrent)
      return void this.drop("relayUncertified", from, "relay");
    if (slot.prePrepare !== null) return void this.drop("duplicate", from, "relay");
    if (!this.certifiedInSlot(slot, message.digest)) return void this.drop("relayUncertified", from, "relay");
    if (!bytesEqual(proposalDigest(message, this.deps), message.digest)) {
      return void this.drop("badDigest", from, "relay");
    }
    this.acceptPrePrepare(slot, message);
  }

  private acceptPrePrepare(slot: Slot, message: PrePrepare): void {
    assert(slot.prePrepare === null && slot.view === message.view, "accept once per (view, seq)");
    assert(slot.seq === message.seq, "slot matches seq");
    slot.prePrepare = message;
    slot.acceptedAtMs = this.nowMsLast;
    // A relayed batch above what a (promoted) primary proposed: never reuse its seq.
    if (this.isPrimary && message.seq >= this.seqNext) this.seqNext = message.seq + 1;
    this.recordPrePrepared(message);
    if (!this.isPrimary && !slot.prepareSent) {
      const prepare: Prepare = {
        type: "Prepare",
        view: message.view,
        seq: message.seq,
        digest: message.digest,
        replicaId: this.config.replicaId,
      };
      slot.prepareSent = true;
      slot.prepareVotes.add(this.config.replicaId, message.digest);
      this.emit({ kind: "broadcast", message: prepare });
    }
    this.checkPrepared(slot);
    this.refreshViewChangeTimer(false);
  }

  private onPrepare(message: Prepare): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    // The primary's PRE-PREPARE stands for its vote; a PREPARE from it is not counted (4.2).
    if (message.replicaId === this.primary) return void this.drop("prepareFromPrimary", from, message.type);
    const slot = this.slotFor(message.seq);
    const added = slot.prepareVotes.add(message.replicaId, message.digest);
    if (added !== "added")
      return void this.drop(added === "duplicate" ? "duplicate" : "conflictingVote", from, message.type);
    this.takeParkedPrePrepare(slot);
    this.checkPrepared(slot);
  }

  private onCommit(message: Commit): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (!this.viewActive) return void this.onCommitWhileViewChanging(from, message);
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    const slot = this.slotFor(message.seq);
    const added = slot.commitVotes.add(message.replicaId, message.digest);
    if (added !== "added")
      return void this.drop(added === "duplicate" ? "duplicate" : "conflictingVote", from, message.type);
    this.takeParkedPrePrepare(slot);
    this.checkCommitted(slot);
  }

  /**
   * In a view change, a COMMIT of the view we left still counts for a batch we prepared in it, and
   * 2f+1 of them execute it: committed-local(m, v, n) proves m committed at n in view v, which
   * every later view keeps (PBFT 4.5), so the NEW-VIEW decides n as we execute it. We send nothing
   * for the old view (our VIEW-CHANGE already names the batch as prepared). Why: a replica whose
   * COMMITs were lost when its view-change timer fired gets them again only from peers still in
   * that view, or from a retired migration source (it answers STATUS with its votes), and the
   * view change itself may need the round's targets, which start only once enough replicas
   * executed the round (migration soak seed 61037, Replica.onInputWhileRetired).
   */
  private onCommitWhileViewChanging(from: Principal, message: Commit): void {
    const slot = this.log.get(message.seq);
    if (slot === undefined || slot.view !== message.view || !slot.prepared || slot.committed)
      return void this.drop("viewChanging", from, message.type);
    const added = slot.commitVotes.add(message.replicaId, message.digest);
    if (added !== "added")
      return void this.drop(added === "duplicate" ? "duplicate" : "conflictingVote", from, message.type);
    this.checkCommitted(slot);
  }

  /**
   * Whether a message could still change anything, asked by the host before the message's MAC is
   * checked (Wire.open's `wanted`). Once a slot of the current view has prepared, further PREPAREs
   * for it count for nothing, nor do COMMITs once it has committed (neither the view change nor
   * the relay rule reads votes of a decided slot); with n = 4 about a third of the votes arrive
   * after that and would each cost a MAC check. Pure: nothing here is authenticated yet, so a
   * forged vote can at worst get itself dropped, which a correct vote for a decided slot is anyway.
   */
  wants(_from: Principal, message: Message): boolean {
    if (message.type !== "Prepare" && message.type !== "Commit") return true;
    if (!this.viewActive || message.view !== this.viewCurrent) return true;
    const slot = this.log.get(message.seq);
    if (slot === undefined || slot.view !== this.viewCurrent) return true;
    return message.type === "Prepare" ? !slot.prepared : !slot.committed;
  }

  /** Normal-case messages count only in our active view and inside the watermarks (4.2, 4.3). */
  private checkNormalCase(from: Principal, type: string, view: number, seq: number): boolean {
    if (!this.viewActive) return this.drop("viewChanging", from, type);
    if (view !== this.viewCurrent) return this.drop("wrongView", from, type);
    if (!inWindow(seq, this.stable, this.config.logWindowSeqs)) return this.drop("outsideWindow", from, type);
    return true;
  }

  /** prepared(m, v, n): the pre-prepare plus 2f matching PREPAREs from distinct backups. */
  private checkPrepared(slot: Slot): void {
    if (slot.prepared || slot.prePrepare === null) return;
    const digest = slot.prePrepare.digest;
    if (slot.prepareVotes.countMatching(digest) < 2 * this.config.f) return;
    assert(!slot.prepareVotes.has(this.primary), "the primary never votes PREPARE");
    slot.prepared = true;
    this.preparedSet.set(slot.seq, loggedOf(slot.prePrepare));
    if (!slot.commitSent) {
      const commit: Commit = {
        type: "Commit",
        view: slot.view,
        seq: slot.seq,
        digest,
        replicaId: this.config.replicaId,
      };
      slot.commitSent = true;
      slot.commitVotes.add(this.config.replicaId, digest);
      this.emit({ kind: "broadcast", message: commit });
    }
    this.checkCommitted(slot);
  }

  /** committed-local(m, v, n): prepared plus 2f+1 matching COMMITs from distinct replicas. */
  private checkCommitted(slot: Slot): void {
    if (!slot.prepared || slot.committed) return;
    const prePrepare = slot.prePrepare;
    assert(prePrepare !== null, "prepared implies pre-prepared");
    if (slot.commitVotes.countMatching(prePrepare.digest) < quorumOf(this.config.f)) return;
    slot.committed = true;
    this.executeReady();
  }

  private slotFor(seq: number): Slot {
    assert(this.viewActive, "slots belong to an active view");
    assert(inWindow(seq, this.stable, this.config.logWindowSeqs), "slot inside the window");
    let slot = this.log.get(seq);
    if (slot === undefined || slot.view !== this.viewCurrent) {
      slot = {
        seq,
        view: this.viewCurrent,
        prePrepare: null,
        prepareVotes: new VoteSet(this.replicaCount),
        commitVotes: new VoteSet(this.replicaCount),
        prepareSent: false,
        commitSent: false,
        prepared: false,
        committed: false,
        acceptedAtMs: this.nowMsLast,
        parked: null,
      };
      this.log.set(seq, slot);
    }
    assert(this.log.size <= this.config.logWindowSeqs, "log bounded by the window");
    return slot;
  }

  private recordPrePrepared(message: PrePrepare): void {
    const batch = loggedOf(message);
    this.prePreparedSet.set(message.seq, withPrePrepared(this.prePreparedSet.get(message.seq), batch));
    if (message.seq > this.maxPrePreparedSeq) this.maxPrePreparedSeq = message.seq;
    assert(this.prePreparedSet.size <= this.config.logWindowSeqs, "Q set bounded by the window");
  }

  // ---------------------------------------------------------------------------------------------
  // Execution and replies (PBFT section 4.2, last paragraph)

  private executeReady(): void {
    let progressed = false;
    // A source retires at the MIGRATION-REQUEST's seq: it must not execute (or emit) anything
    // after its `retire` effect, even when later seqs committed before it (seeds 25 and 30 of
    // migration-seeds-1).
    for (;;) {
      const slot = this.log.get(this.lastExecuted + 1);
      if (slot === undefined || !slot.committed || this.retired) break;
      this.executeSlot(slot);
      progressed = true;
    }
    if (!progressed || this.retired) return;
    if (this.stateFetch !== null && this.lastExecuted >= this.stateFetch.seq) this.abandonStateTransfer();
    this.tryPropose();
    this.refreshViewChangeTimer(true);
  }

  private executeSlot(slot: Slot): void {
    const prePrepare = slot.prePrepare;
    assert(prePrepare !== null && slot.committed, "execute committed batches only");
    assert(slot.seq === this.lastExecuted + 1, "execute in seq order");
    const results: ExecutedRequest[] = [];
    const orderExecuteMs = this.nowMsLast - slot.acceptedAtMs;
    const migration =
      prePrepare.special === undefined ? null : this.executeSpecial(slot.seq, prePrepare.special);
    for (const request of prePrepare.requests) {
      const entry = this.clientTable.get(request.clientId);
      if (entry !== undefined && entry.timestamp >= request.timestamp) continue; // exactly once
      const result = this.deps.app.execute(request.operation, request.clientId);
      this.clientTable.record(request.clientId, request.timestamp, result);
      results.push({
        clientId: request.clientId,
        timestamp: request.timestamp,
        operation: request.operation,
        result,
      });
      this.sendReply(request.clientId, request.timestamp, result);
      this.forgetRequest(request.clientId, request.timestamp);
      this.recordOrderExecute(orderExecuteMs);
      this.maybeNotifyClient(request.clientId, slot.seq);
    }
    this.lastExecuted = slot.seq;
    this.metrics.batchesExecuted++;
    this.metrics.requestsExecuted += results.length;
    if (results.length > 0) this.failedViewChanges = 0;
    this.emit({ kind: "executed", view: slot.view, seq: slot.seq, digest: prePrepare.digest, results });
    if (isCheckpointSeq(slot.seq, this.config.checkpointIntervalSeqs)) this.takeCheckpoint(slot.seq);
    if (migration !== null) this.afterMigration(slot, migration);
  }

  private forgetRequest(clientId: number, timestamp: number): void {
    const known = this.pending.get(clientId);
    if (known !== undefined && known.timestamp <= timestamp) this.pending.delete(clientId);
    const proposed = this.proposedTimestamps.get(clientId);
    if (proposed !== undefined && proposed <= timestamp) this.proposedTimestamps.delete(clientId);
  }

  private sendReply(clientId: number, timestamp: number, result: Uint8Array): void {
    this.emit({
      kind: "send",
      to: { kind: "client", id: clientId },
      message: {
        type: "Reply",
        view: this.viewCurrent,
        timestamp,
        clientId,
        replicaId: this.config.replicaId,
        result,
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Checkpoints and garbage collection (PBFT section 4.3)

  private makeCheckpoint(seq: number): OwnCheckpoint {
    const appSnapshot = this.deps.app.checkpoint();
    const clientTableBytes = this.clientTable.encode();
    const middlewareBytes = this.migration.middleware?.encode() ?? new Uint8Array(0);
    const stateDigest = stateDigestOf(
      { clientTableBytes, appDigest: appSnapshot.digest, middlewareBytes },
      this.deps,
    );
    const message: Checkpoint = { type: "Checkpoint", seq, stateDigest, replicaId: this.config.replicaId };
    const own: OwnCheckpoint = { message, clientTableBytes, appSnapshot, middlewareBytes, stateBytes: null };
    this.checkpoints.set(seq, own);
    assert(this.checkpoints.size <= this.ownCheckpointsMax(), "own checkpoints bounded");
    return own;
  }

  /**
   * The checkpoints checkpointNeeded keeps: the stable one, the interval ones above it inside the
   * window, and at most MIGRATION_CHECKPOINTS_MAX migration checkpoints (the latest and those of
   * rounds in flight), however many migrations run between two stable checkpoints.
   */
  private ownCheckpointsMax(): number {
    return this.config.logWindowSeqs / this.config.checkpointIntervalSeqs + 1 + MIGRATION_CHECKPOINTS_MAX;
  }

  /**
   * Whether we keep our checkpoint at seq. As in PBFT, the stable one and the interval ones above
   * it (each may become stable). A migration checkpoint (section 3.2) while its round is in flight:
   * its targets fetch exactly that state (their MIGRATE-NOW certificate names its digest), even
   * once it is below the stable checkpoint. And the latest migration checkpoint until a stable one
   * passes it: the targets' low watermark is its seq, and a view change picks a checkpoint at or
   * above every low watermark that f+1 replicas claim. Older ones whose targets all finished are
   * dropped even above the stable checkpoint, so they cannot pile up when rounds are more frequent
   * than checkpoints (they did after ~128 rounds at a 500 ms timer, seed 1, --kv-state-bytes 4096).
   */
  private checkpointNeeded(seq: number): boolean {
    if (seq === this.stable) return true;
    if (seq > this.stable && isCheckpointSeq(seq, this.config.checkpointIntervalSeqs)) return true;
    if (seq > this.stable && seq === this.migration.checkpointSeq) return true;
    return this.rounds.has(seq);
  }

  private collectCheckpoints(): void {
    this.checkpoints.retain((seq) => this.checkpointNeeded(seq));
  }

  private takeCheckpoint(seq: number): void {
    assert(seq === this.lastExecuted && seq > this.stable, "checkpoint the state just executed");
    const own = this.makeCheckpoint(seq);
    this.metrics.checkpointsTaken++;
    this.emit({ kind: "broadcast", message: own.message });
    this.checkpointVotesFor(seq).add(this.config.replicaId, own.message.stateDigest);
    this.checkStable(seq);
  }

  private onCheckpoint(message: Checkpoint): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (message.seq === 0) return void this.drop("badCheckpointSeq", from, message.type);
    if (!isCheckpointSeq(message.seq, this.config.checkpointIntervalSeqs)) {
      if (this.migration.middleware === null) return void this.drop("badCheckpointSeq", from, message.type);
      this.onMigrationCheckpoint(message);
      return;
    }
    if (message.seq <= this.stable) return void this.drop("staleCheckpoint", from, message.type);
    if (inWindow(message.seq, this.stable, this.config.logWindowSeqs)) {
      const added = this.checkpointVotesFor(message.seq).add(message.replicaId, message.stateDigest);
      if (added === "conflict") return void this.drop("conflictingVote", from, message.type);
      this.checkStable(message.seq);
      this.tryPropose(); // the window may have moved
    } else {
      const ahead = this.checkpointsAhead[message.replicaId];
      if (ahead === undefined || ahead.seq < message.seq) this.checkpointsAhead[message.replicaId] = message;
    }
    this.maybeFetchLaggingState(false);
  }

  /**
   * An off-interval CHECKPOINT: a peer's migration checkpoint. Kept (one per replica, the latest)
   * only while it is above our execution: with f+1 matching ones a replica that missed the round
   * fetches exactly that state instead of waiting for the next interval checkpoint, and then
   * vouches for the round (vouchSkippedRound). A Byzantine replica's claims alone never reach
   * f+1. Migration CI seed 153: the round's only other executing replicas were the retired
   * source and the target-less id, and the lagging replica could not catch up across it.
   */
  private onMigrationCheckpoint(message: Checkpoint): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (message.seq <= this.lastExecuted) return void this.drop("staleCheckpoint", from, message.type);
    const claim = this.migrationCheckpointClaims[message.replicaId];
    if (claim === undefined || claim.seq <= message.seq)
      this.migrationCheckpointClaims[message.replicaId] = message;
    this.maybeFetchLaggingState(false);
  }

  private checkpointVotesFor(seq: number): VoteSet {
    assert(inWindow(seq, this.stable, this.config.logWindowSeqs), "checkpoint votes inside the window");
    let votes = this.checkpointVotes.get(seq);
    if (votes === undefined) {
      votes = new VoteSet(this.replicaCount);
      this.checkpointVotes.set(seq, votes);
    }
    assert(
      this.checkpointVotes.size <= this.config.logWindowSeqs / this.config.checkpointIntervalSeqs,
      "votes bounded",
    );
    return votes;
  }

  /** Stable: our own checkpoint at seq plus 2f+1 matching CHECKPOINTs, ours included. */
  private checkStable(seq: number): void {
    const own = this.checkpoints.get(seq);
    const votes = this.checkpointVotes.get(seq);
    if (own === undefined || votes === undefined || seq <= this.stable) return;
    if (votes.countMatching(own.message.stateDigest) < quorumOf(this.config.f)) return;
    this.advanceStable(seq, own.message.stateDigest);
  }

  /** Moves the low watermark to seq and discards everything below it. */
  private advanceStable(seq: number, stateDigest: Uint8Array): void {
    assert(seq > this.stable && seq <= this.lastExecuted, "stable moves forward, never past execution");
    assert(this.checkpoints.has(seq), "we hold the stable checkpoint's state");
    this.stable = seq;
    this.stableDigest = stateDigest;
    for (const logged of this.log.keys()) if (logged <= seq) this.log.delete(logged);
    for (const logged of this.preparedSet.keys()) if (logged <= seq) this.preparedSet.delete(logged);
    for (const logged of this.prePreparedSet.keys()) if (logged <= seq) this.prePreparedSet.delete(logged);
    this.collectCheckpoints();
    for (const logged of this.checkpointVotes.keys()) if (logged <= seq) this.checkpointVotes.delete(logged);
    this.admitCheckpointsAhead();
    this.metrics.checkpointsStable++;
    this.emit({ kind: "stableCheckpoint", seq, stateDigest });
    this.admitDeferredBatches();
  }

  /** Decided batches that were above our window when we entered the view (enterView), now inside it. */
  private admitDeferredBatches(): void {
    if (this.deferredBatches.size === 0) return;
    assert(this.viewActive, "deferred batches belong to the active view");
    const admitted: PrePrepare[] = [];
    for (const [seq, prePrepare] of this.deferredBatches) {
      if (seq > this.stable && !inWindow(seq, this.stable, this.config.logWindowSeqs)) continue;
      this.deferredBatches.delete(seq);
      if (seq > this.stable) admitted.push(prePrepare);
    }
    for (const prePrepare of admitted) {
      // Accepting one may execute up to a new stable checkpoint and move the window again.
      if (!this.viewActive || !inWindow(prePrepare.seq, this.stable, this.config.logWindowSeqs)) continue;
      const slot = this.slotFor(prePrepare.seq);
      if (slot.prePrepare === null) this.acceptPrePrepare(slot, prePrepare);
    }
  }

  /** CHECKPOINTs that were above the window may be inside it now. */
  private admitCheckpointsAhead(): void {
    this.checkpointsAhead.forEach((message, replicaId) => {
      if (message === undefined) return;
      if (message.seq <= this.stable) this.checkpointsAhead[replicaId] = undefined;
      else if (inWindow(message.seq, this.stable, this.config.logWindowSeqs)) {
        this.checkpointsAhead[replicaId] = undefined;
        this.checkpointVotesFor(message.seq).add(replicaId, message.stateDigest);
      }
    });
  }

  /** The highest checkpoint above lastExecuted that f+1 replicas vouch for (one of them is correct). */
  private certifiedCheckpointAhead(): DecidedCheckpoint | null {
    let best: DecidedCheckpoint | null = null;
    const consider = (seq: number, stateDigest: Uint8Array, holders: number[]): void => {
      if (seq <= this.lastExecuted || holders.length < weakQuorumOf(this.config.f)) return;
      if (best === null || seq > best.seq) best = { seq, stateDigest, holders };
    };
    for (const [seq, votes] of this.checkpointVotes) {
      for (let replicaId = 0; replicaId < this.replicaCount; replicaId++) {
        const digest = votes.get(replicaId);
        if (digest !== undefined) consider(seq, digest, votes.votersMatching(digest));
      }
    }
    const sameClaim = (claims: readonly (Checkpoint | undefined)[]): void => {
      for (const message of claims) {
        if (message === undefined) continue;
        const holders = claims
          .filter((other) => other?.seq === message.seq && bytesEqual(other.stateDigest, message.stateDigest))
          .map((other) => other!.replicaId);
        consider(message.seq, message.stateDigest, holders);
      }
    };
    sameClaim(this.checkpointsAhead);
    // Migration checkpoints only when no interval checkpoint is ahead: their holders are fewer
    // (a source announces its own and retires), so an interval one is the surer fetch (migration
    // CI seed 74: a replica far behind chose the round's checkpoint, whose only holders had
    // retired or crashed, over the interval checkpoint just below it, and never caught up). And
    // only outside an active view: inside one, the peers in it resend the log (PBFT's way), while
    // a replica in a view change hears no normal-case traffic and the view change itself may need
    // the round's target (seed 153).
    if (best === null && !this.viewActive) sameClaim(this.migrationCheckpointClaims);
    if (best === null && !this.viewActive) best = this.cmCertifiedRound();
    return best;
  }

  /**
   * The round of the newest CM membership certificate, when we have not executed it: the trusted
   * CM signs it on f+1 MIGRATE-NOWs naming the same checkpoint digest C (one of them a correct
   * replica's), so C certifies the round's state as f+1 matching CHECKPOINTs would. For a replica
   * that missed the round while fewer than f+1 of the replicas that executed it can still vouch
   * (one restarted without memory, another retired as its source): it fetches the state from
   * whoever holds it, then vouches for the round (vouchSkippedRound). Migration CI seeds 181 and
   * 198: the only other correct holder's claim was one where f+1 are needed, and the round's
   * target stayed a signature short for good. Holders: the replicas that announced C, then any.
   */
  private cmCertifiedRound(): DecidedCheckpoint | null {
    const certificate = this.notices.membershipCertificate;
    if (certificate === null || certificate.seq <= this.lastExecuted) return null;
    const announced = this.migrationCheckpointClaims
      .filter(
        (claim): claim is Checkpoint =>
          claim !== undefined &&
          claim.seq === certificate.seq &&
          bytesEqual(claim.stateDigest, certificate.checkpointDigest),
      )
      .map((claim) => claim.replicaId);
    const others = Array.from({ length: this.replicaCount }, (_, id) => id).filter(
      (id) => id !== this.config.replicaId,
    );
    return {
      seq: certificate.seq,
      stateDigest: certificate.checkpointDigest,
      holders: announced.length > 0 ? announced : others,
    };
  }

  /**
   * State transfer for a lagging replica (PBFT section 5.3). A certified checkpoint above our
   * window cannot be reached from the log, so fetch at once. One inside the window might still be
   * reached by ordinary execution, so fetch only when execution made no progress over a whole
   * status interval (`stalled`), which avoids fetching state on every small lag.
   */
  private maybeFetchLaggingState(stalled: boolean): void {
    const target = this.certifiedCheckpointAhead();
    if (target === null) return;
    if (this.stateFetch !== null && this.stateFetch.seq >= target.seq) return;
    if (stalled || target.seq > this.stable + this.config.logWindowSeqs) this.startStateTransfer(target);
  }

  // ---------------------------------------------------------------------------------------------
  // State transfer (PBFT section 5.3): fetching side in StateFetch, serving side in OwnCheckpoints

  private startStateTransfer(target: DecidedCheckpoint): void {
    assert(target.seq > this.lastExecuted, "fetch only state we lack");
    const sources = target.holders.filter((id) => id !== this.config.replicaId && id < this.replicaCount);
    if (sources.length === 0) return;
    // Start with a different holder on each replica, so lagging replicas spread the load.
    const first = this.config.replicaId % sources.length;
    const ordered = [...sources.slice(first), ...sources.slice(0, first)];
    // Then every other replica: the digest is certified, so any copy that matches it will do, and
    // the holders that vouched may all be gone by now (a source retired by a migration, a replica
    // restarted without memory) while a replica that checkpointed later holds it (simulator seed
    // 74 of the migration runs: the fetch rotated between two such holders forever).
    for (let id = 0; id < this.replicaCount; id++)
      if (id !== this.config.replicaId && !ordered.includes(id)) ordered.push(id);
    this.stateFetch = new StateFetch({
      seq: target.seq,
      stateDigest: target.stateDigest,
      sources: ordered,
      requesterId: this.config.replicaId,
    });
    this.metrics.stateTransfersStarted++;
    this.sendFetch(this.stateFetch.request());
  }

  private sendFetch(request: FetchRequest): void {
    this.emit({ kind: "send", to: { kind: "replica", id: request.to }, message: request.message });
    // The state-transfer timer re-arms per chunk; a silent source is replaced on expiry.
    this.setTimer("stateTransfer", this.config.viewChangeTimeoutMs);
  }

  private abandonStateTransfer(): void {
    assert(this.stateFetch !== null, "abandon a running fetch");
    this.stateFetch = null;
    this.emit({ kind: "cancelTimer", timer: "stateTransfer" });
  }

  private onStateTransferTimer(): void {
    if (this.stateFetch === null) return;
    this.sendFetch(this.stateFetch.rotate());
  }

  private onFetchState(from: Principal, message: FetchState): void {
    const chunk = this.checkpoints.serve(message, this.config.replicaId);
    if (typeof chunk === "string") return void this.drop(chunk, from, message.type);
    this.metrics.stateChunksServed++;
    this.emit({ kind: "send", to: from, message: chunk });
  }

  private onStateChunk(message: StateChunk): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (this.stateFetch === null) return void this.drop("noStateTransfer", from, message.type);
    const result = this.stateFetch.onChunk(message.replicaId, message);
    if (result.kind === "ignored") return void this.drop("badChunk", from, message.type);
    if (result.kind === "next") {
      this.sendFetch(result.request);
      return;
    }
    this.installFetchedState(result.bytes);
  }

  /**
   * Verifies the reassembled state against the certified digest before touching anything: the
   * client table and the claimed app digest are covered by the certified digest, and the app
   * confirms (without restoring) that its bytes have the claimed digest. Only then is it restored.
   */
  private installFetchedState(bytes: Uint8Array): void {
    const fetch = this.stateFetch;
    assert(fetch !== null, "a fetch completed");
    const parts = stateMatchesDigest(bytes, fetch.stateDigest, this.deps);
    const table = parts === null ? null : ClientTable.decode(parts.clientTableBytes);
    const appDigest = parts === null ? undefined : this.deps.app.snapshotDigest(parts.appBytes);
    if (
      parts === null ||
      table === null ||
      appDigest === undefined ||
      !bytesEqual(appDigest, parts.appDigest)
    ) {
      this.rejectFetchedCopy();
      return;
    }
    if (!this.deps.app.restore(parts.appBytes) || !this.migration.restoreMiddleware(parts.middlewareBytes)) {
      this.rejectFetchedCopy();
      return;
    }
    const appSnapshot = this.deps.app.checkpoint();
    assert(bytesEqual(appSnapshot.digest, parts.appDigest), "the app restored the digest it promised");
    this.migration.middleware?.recordCheckpointDigest(fetch.seq, fetch.stateDigest);
    const executedBefore = this.lastExecuted;
    this.clientTable = table;
    this.abandonStateTransfer();
    const message: Checkpoint = {
      type: "Checkpoint",
      seq: fetch.seq,
      stateDigest: fetch.stateDigest,
      replicaId: this.config.replicaId,
    };
    this.checkpoints.set(fetch.seq, {
      message,
      clientTableBytes: parts.clientTableBytes,
      appSnapshot,
      middlewareBytes: parts.middlewareBytes,
      stateBytes: bytes,
    });
    this.lastExecuted = fetch.seq;
    if (this.seqNext <= fetch.seq) this.seqNext = fetch.seq + 1;
    for (const [clientId, request] of this.pending) {
      const entry = table.get(clientId);
      if (entry !== undefined && entry.timestamp >= request.timestamp) this.pending.delete(clientId);
    }
    this.metrics.stateTransfersCompleted++;
    this.emit({ kind: "stateInstalled", seq: fetch.seq, stateDigest: fetch.stateDigest });
    this.notices.authenticateCertifiedMembers();
    // The certified state is at least as good as a stable checkpoint for our own GC: we hold it.
    this.advanceStable(fetch.seq, fetch.stateDigest);
    if (this.migration.vouchSkippedRound(executedBefore)) return; // we were its source: retired
    this.refreshViewChange();
    this.executeReady();
    this.tryPropose();
    this.refreshViewChangeTimer(true);
  }

  private rejectFetchedCopy(): void {
    assert(this.stateFetch !== null, "reject during a fetch");
    this.metrics.stateTransferBadCopies++;
    this.sendFetch(this.stateFetch.rejectCopy());
  }

  // ---------------------------------------------------------------------------------------------
  // View change (PBFT TOCS 2002 section 4.5, with P and Q sets)

  private viewChangeTimeoutMs(): number {
    const exponent = Math.min(this.failedViewChanges, VIEW_CHANGE_BACKOFF_EXPONENT_MAX);
    return this.config.viewChangeTimeoutMs * 2 ** exponent;
  }

  /**
   * A backup runs the view-change timer while it knows of work that has not executed: a pending
   * request or an accepted PRE-PREPARE above lastExecuted. Progress restarts the timer (4.5.2).
   */
  private refreshViewChangeTimer(progress: boolean): void {
    if (!this.viewActive) return;
    if (!this.awaitsProgress()) {
      if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
      this.viewChangeTimerArmed = false;
      return;
    }
    if (this.viewChangeTimerArmed && !progress) return;
    this.setTimer("viewChange", this.viewChangeTimeoutMs());
    this.viewChangeTimerArmed = true;
  }

  /**
   * Whether we wait on the others for work we know of, so the view-change timer runs. A backup
   * waits for every request it knows of to execute. The primary waits only for the batches it
   * proposed: if they never commit, a primary without a timer waited forever while the backups
   * that could have replaced it either had nothing pending or were alone in a view change, which
   * takes f+1 VIEW-CHANGEs for the others to join (PBFT soak seed 20037: after a view change, a
   * backup that had executed the re-proposed batches in the old view had dropped the new view's
   * PREPAREs, which came before the NEW-VIEW, so it never voted on them again; STATUS resends
   * votes only to replicas behind in execution). A view change is always safe; the timeout
   * doubles with each one that fails, as a backup's does.
   */
  private awaitsProgress(): boolean {
    if (this.actingPrimary) return this.maxPrePreparedSeq > this.lastExecuted;
    return (
      this.pending.size > 0 ||
      this.maxPrePreparedSeq > this.lastExecuted ||
      this.migration.pendingRequest !== null
    );
  }

  private onViewChangeTimer(): void {
    this.viewChangeTimerArmed = false;
    if (this.viewActive && !this.awaitsProgress()) return; // nothing is waiting any more: a late expiry
    this.startViewChange(this.viewCurrent + 1);
  }

  private startViewChange(newView: number): void {
    assert(newView > this.viewCurrent, "view changes move forward");
    this.viewCurrent = newView;
    this.viewActive = false;
    this.failedViewChanges++;
    this.metrics.viewChangesStarted++;
    // Queued requests stay in `pending` and are handed to whoever becomes primary.
    this.queue.clear();
    this.proposedTimestamps.clear();
    this.migration.onViewChangeStarted();
    this.deferredBatches.clear();
    const viewChange = this.makeViewChange(newView);
    this.viewChanges[this.config.replicaId] = viewChange;
    this.emit({ kind: "broadcast", message: viewChange });
    if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
    this.viewChangeTimerArmed = false;
    this.armNewViewTimer();
    this.deps.log?.info({ replicaId: this.config.replicaId, view: newView }, "view change started");
    if (this.actingPrimary) this.tryNewView();
  }

  /** Our signed VIEW-CHANGE for `newView` from the current checkpoints and P and Q sets (4.5.2). */
  private makeViewChange(newView: number): ViewChange {
    const body = buildViewChangeBody({
      newView,
      stableSeq: this.stable,
      replicaId: this.config.replicaId,
      checkpoints: [...this.checkpoints.values()]
        .filter((own) => own.message.seq >= this.stable)
        .map((own) => ({ seq: own.message.seq, stateDigest: own.message.stateDigest })),
      preparedSet: this.preparedSet,
      prePreparedSet: this.prePreparedSet,
    });
    return { ...body, signature: this.deps.signViewChange(body) };
  }

  /**
   * In a view change, once a state transfer moved our stable checkpoint above the one our
   * VIEW-CHANGE names: sign a new one for the same view and send it (peers replace our earlier
   * one, onViewChange). The new one is as true as the first (the installed state is certified,
   * and a replica whose fetch ended before its timer fired would have sent exactly this), so the
   * NEW-VIEW decision stays sound whichever of the two it uses; a Byzantine replica could send
   * different VIEW-CHANGEs anyway. Why: a VIEW-CHANGE sent before the fetch left a seq below the
   * installed checkpoint to be decided from the log, where one correct replica's prepared
   * certificate could not satisfy A2 (f+1 pre-prepared) nor the null rule, and the view never
   * formed (migration CI seed 79: view 1 waited a whole backed-off timeout, 4 s).
   */
  private refreshViewChange(): void {
    if (this.viewActive) return;
    const own = this.viewChanges[this.config.replicaId];
    if (own === undefined || own.newView !== this.viewCurrent || own.stableSeq >= this.stable) return;
    const viewChange = this.makeViewChange(this.viewCurrent);
    assert(viewChange.stableSeq > own.stableSeq, "a refreshed VIEW-CHANGE names a later checkpoint");
    this.viewChanges[this.config.replicaId] = viewChange;
    this.emit({ kind: "broadcast", message: viewChange });
    if (this.actingPrimary) this.tryNewView();
  }

  private onViewChange(message: ViewChange): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    const problem = viewChangeProblem(message, this.limits);
    if (problem !== null) return void this.drop("badViewChange", from, `${message.type}: ${problem}`);
    if (message.newView < this.viewCurrent || (message.newView === this.viewCurrent && this.viewActive)) {
      // The sender missed our NEW-VIEW: resend it, the cheapest way to bring it into the view.
      if (message.newView === this.viewCurrent && this.newViewMessage !== null) {
        this.metrics.retransmissions++;
        this.emit({ kind: "send", to: from, message: this.newViewMessage });
      }
      return void this.drop("staleViewChange", from, message.type);
    }
    const previous = this.viewChanges[message.replicaId];
    // The same view again with a later stable checkpoint replaces the earlier (refreshViewChange).
    if (
      previous !== undefined &&
      (previous.newView > message.newView ||
        (previous.newView === message.newView && previous.stableSeq >= message.stableSeq))
    )
      return void this.drop("duplicate", from, message.type);
    this.viewChanges[message.replicaId] = message;
    if (message.newView > this.viewCurrent) this.maybeJoinViewChange();
    this.armNewViewTimer();
    if (!this.viewActive && this.actingPrimary) this.tryNewView();
  }

  /**
   * Waiting for NEW-VIEW is bounded, but the timer starts only once 2f+1 replicas (us included)
   * asked for this view or a later one, so a replica cannot race ahead alone (PBFT section 4.5.2,
   * liveness rule 1). Each failed attempt doubles the wait. Later views count because a replica
   * asking for one has given up on ours: otherwise replicas waiting for a NEW-VIEW they can never
   * accept (a VIEW-CHANGE in it signed by a node since migrated away) wait forever while one peer
   * alone asks for the next view (migration seed 77 on branch liveB).
   */
  private armNewViewTimer(): void {
    if (this.viewActive || this.viewChangeTimerArmed) return;
    const asking = this.viewChanges.filter(
      (message) => message !== undefined && message.newView >= this.viewCurrent,
    );
    if (asking.length < quorumOf(this.config.f)) return;
    this.setTimer("viewChange", this.viewChangeTimeoutMs());
    this.viewChangeTimerArmed = true;
  }

  /** f+1 replicas ask for higher views: at least one correct replica timed out, so join (4.5.2). */
  private maybeJoinViewChange(): void {
    const views = this.viewChanges
      .filter((message) => message !== undefined && message.replicaId !== this.config.replicaId)
      .map((message) => message!.newView)
      .filter((view) => view > this.viewCurrent)
      .sort((a, b) => b - a);
    const f = this.config.f;
    if (views.length < weakQuorumOf(f)) return;
    const target = views[f];
    assert(target !== undefined && target > this.viewCurrent, "join a higher view");
    this.startViewChange(target);
  }

  private collectedViewChanges(view: number): ViewChange[] {
    return this.viewChanges.filter((message): message is ViewChange => message?.newView === view);
  }

  private decide(view: number, viewChanges: readonly ViewChange[]): NewViewDecision | null {
    return decideNewView({
      view,
      f: this.config.f,
      logWindowSeqs: this.config.logWindowSeqs,
      viewChanges,
      batchDigest: (body) => proposalDigest(body, this.deps),
    });
  }

  /** New primary: with 2f+1 VIEW-CHANGEs (all we have, to make the decision likelier), decide. */
  private tryNewView(): void {
    assert(!this.viewActive && this.primary === this.config.replicaId, "only the new primary decides");
    const viewChanges = this.collectedViewChanges(this.viewCurrent);
    if (viewChanges.length < quorumOf(this.config.f)) return;
    const decision = this.decide(this.viewCurrent, viewChanges);
    if (decision === null) return; // wait for more VIEW-CHANGEs
    const body = {
      type: "NewView" as const,
      view: this.viewCurrent,
      viewChanges,
      prePrepares: decision.batches.map((batch) => prePrepareOf(this.viewCurrent, batch)),
      replicaId: this.config.replicaId,
    };
    const newView: NewView = { ...body, signature: this.evidence.signNewView(body) };
    this.emit({ kind: "broadcast", message: newView });
    this.enterView(newView, decision);
  }

  /**
   * `from` may be the view's primary or any replica resending its NEW-VIEW (STATUS retransmission):
   * the wire authenticates only the resender. Nothing is taken from the message on the resender's
   * word: its author must be the view's primary and its content must equal the decision re-run on
   * the enclosed signed VIEW-CHANGEs (verifyNewView).
   */
  private onNewView(from: Principal, message: NewView): void {
    if (message.view < this.viewCurrent || (message.view === this.viewCurrent && this.viewActive)) {
      return void this.drop("staleNewView", from, message.type);
    }
    if (message.replicaId !== primaryOf(message.view, this.replicaCount)) {
      return void this.drop("wrongPrimary", from, message.type);
    }
    // We enter views we lead only by making their NEW-VIEW. One naming us comes from an incarnation
    // of ours that crashed (which may have proposed after it) or from a forger: never enter by it.
    if (message.replicaId === this.config.replicaId) return void this.drop("ownNewView", from, message.type);
    const decision = this.verifyNewView(message);
    if (decision === null) {
      // A signed lie is proof against its primary (section 3.4): check it and act on it.
      this.evidence.accuseNewView(message);
      return void this.drop("badNewView", from, message.type);
    }
    this.enterView(message, decision);
  }

  /** Re-runs the primary's decision on the enclosed VIEW-CHANGEs; null unless it matches exactly. */
  private verifyNewView(message: NewView): NewViewDecision | null {
    const senders = new Set<number>();
    for (const viewChange of message.viewChanges) {
      if (viewChange.newView !== message.view || senders.has(viewChange.replicaId)) return null;
      if (viewChangeProblem(viewChange, this.limits) !== null) return null;
      senders.add(viewChange.replicaId);
    }
    if (senders.size < quorumOf(this.config.f)) return null;
    const decision = this.decide(message.view, message.viewChanges);
    if (decision === null || decision.batches.length !== message.prePrepares.length) return null;
    const matches = decision.batches.every((batch, index) => {
      const prePrepare = message.prePrepares[index]!;
      return (
        prePrepare.view === message.view &&
        prePrepare.seq === batch.seq &&
        bytesEqual(prePrepare.digest, batch.digest)
      );
    });
    return matches ? decision : null;
  }

  /**
   * Enters a view from a verified decision. The batch bodies come from the decision (verified
   * against their digests there), not from the NEW-VIEW's PRE-PREPAREs.
   */
  private enterView(message: NewView, decision: NewViewDecision): void {
    assert(message.view >= this.viewCurrent, "enter the current or a later view");
    assert(message.replicaId === primaryOf(message.view, this.replicaCount), "NEW-VIEW from its primary");
    this.viewCurrent = message.view;
    this.viewActive = true;
    this.recovering = false;
    this.newViewMessage = message;
    this.log.clear();
    this.parkedSeqs.clear();
    this.viewChanges.forEach((viewChange, replicaId) => {
      if (viewChange !== undefined && viewChange.newView <= message.view)
        this.viewChanges[replicaId] = undefined;
    });
    if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
    this.viewChangeTimerArmed = false;
    this.metrics.viewsEntered++;
    this.emit({ kind: "viewEntered", view: message.view, primary: message.replicaId });
    this.deferredBatches.clear();
    this.adoptDecidedCheckpoint(decision.checkpoint);
    this.maxPrePreparedSeq = Math.min(this.maxPrePreparedSeq, this.lastExecuted);
    for (const batch of decision.batches) {
      // Above our window while we fetch the decided checkpoint: keep it for when the window moves.
      if (inWindow(batch.seq, this.stable, this.config.logWindowSeqs))
        this.acceptPrePrepare(this.slotFor(batch.seq), prePrepareOf(message.view, batch));
      else if (batch.seq > this.stable)
        this.deferredBatches.set(batch.seq, prePrepareOf(message.view, batch));
    }
    assert(this.deferredBatches.size <= this.config.logWindowSeqs, "deferred batches bounded by the window");
    const decidedSeqMax = decision.batches.at(-1)?.seq ?? decision.checkpoint.seq;
    if (this.isPrimary) this.becomePrimary(decidedSeqMax, decision);
    else {
      this.becomeBackup();
      // The new primary may have proposed before our NEW-VIEW arrived (we dropped those as for
      // another view): our STATUS shows it what we lack (resendUnvoted) without waiting a tick.
      this.broadcastStatus();
    }
    this.deps.log?.info({ replicaId: this.config.replicaId, view: message.view }, "view entered");
  }

  /** The decision's checkpoint h: adopt it as stable if we hold it, or fetch it if we are behind. */
  private adoptDecidedCheckpoint(checkpoint: DecidedCheckpoint): void {
    if (checkpoint.seq > this.lastExecuted) {
      if (this.stateFetch === null || this.stateFetch.seq < checkpoint.seq)
        this.startStateTransfer(checkpoint);
      return;
    }
    const own = this.checkpoints.get(checkpoint.seq);
    if (
      checkpoint.seq > this.stable &&
      own !== undefined &&
      bytesEqual(own.message.stateDigest, checkpoint.stateDigest)
    ) {
      this.advanceStable(checkpoint.seq, checkpoint.stateDigest);
    }
  }

  private becomePrimary(decidedSeqMax: number, decision: NewViewDecision): void {
    assert(this.isPrimary && this.viewActive, "become primary of an active view");
    this.seqNext = Math.max(decidedSeqMax, decision.checkpoint.seq, this.stable) + 1;
    this.queue.clear();
    this.proposedTimestamps.clear();
    for (const batch of decision.batches) {
      for (const request of batch.requests) this.noteProposed(request);
      if (batch.special !== undefined) this.migration.noteProposedSpecial(batch.special, batch.seq);
    }
    this.migration.requeueSpecials();
    for (const request of this.pending.values()) {
      const proposed = this.proposedTimestamps.get(request.clientId);
      if ((proposed !== undefined && proposed >= request.timestamp) || this.queue.full()) continue;
      this.queue.push(request);
      this.proposedTimestamps.set(request.clientId, request.timestamp);
    }
    assert(this.queue.length <= CLIENT_QUEUE_MAX, "queue bounded");
    this.refreshViewChangeTimer(false);
    this.tryPropose();
  }

  private noteProposed(request: Request): void {
    const proposed = this.proposedTimestamps.get(request.clientId);
    if (proposed === undefined || proposed < request.timestamp)
      this.proposedTimestamps.set(request.clientId, request.timestamp);
  }

  /** Hands every request we know of to the new primary: the old one may have dropped them. */
  private becomeBackup(): void {
    assert(!this.isPrimary && this.viewActive, "become backup of an active view");
    const to: Principal = { kind: "replica", id: this.primary };
    for (const request of this.pending.values()) this.emit({ kind: "send", to, message: request });
    this.refreshViewChangeTimer(true);
  }

  // ---------------------------------------------------------------------------------------------
  // STATUS and retransmission (see the note at the top of this file): StatusResponder
  // (status-responder.ts) answers a peer's STATUS.

  private broadcastStatus(): void {
    const status: Status = {
      type: "Status",
      view: this.viewCurrent,
      viewActive: this.viewActive,
      lastExecutedSeq: this.lastExecuted,
      stableSeq: this.stable,
      replicaId: this.config.replicaId,
    };
    this.emit({ kind: "broadcast", message: status });
  }

  private onStatusTimer(): void {
    this.broadcastStatus();
    this.setTimer("status", this.config.statusIntervalMs);
    this.notices.onStatusTick();
    // Stalled: no execution over a whole interval while a certified checkpoint ahead was already
    // known at the previous tick, so retransmission had one interval to bring the log.
    const target = this.certifiedCheckpointAhead();
    const stalled =
      this.lastExecuted === this.lastExecutedAtStatus && target !== null && target.seq <= this.lagSeqAtStatus;
    this.lastExecutedAtStatus = this.lastExecuted;
    this.lagSeqAtStatus = target?.seq ?? 0;
    this.maybeFetchLaggingState(stalled);
    this.migration.retransmitMigration();
    this.migration.maintainKeys();
  }

  private retransmit(to: Principal, message: Message): void {
    this.metrics.retransmissions++;
    this.emit({ kind: "send", to, message });
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private emit(effect: Effect): void {
    this.effects.push(effect);
  }

  private setTimer(timer: TimerId, afterMs: number): void {
    assert(Number.isFinite(afterMs) && afterMs > 0, "timer delay is positive");
    this.emit({ kind: "setTimer", timer, afterMs });
  }

  private takeEffects(): Effect[] {
    const effects = this.effects;
    this.effects = [];
    return effects;
  }

  private advanceClock(nowMs: number): void {
    assert(Number.isFinite(nowMs), "nowMs is a number");
    assert(nowMs >= this.nowMsLast, "time does not go backwards");
    this.nowMsLast = nowMs;
  }

  /** Always returns false, so a check can `return this.drop(...)`. */
  private drop(reason: DropReason, from: Principal, what: string): false {
    this.metrics.dropped[reason]++;
    this.metrics.droppedTotal++;
    this.deps.log?.debug({ replicaId: this.config.replicaId, reason, from, what }, "message dropped");
    return false;
  }

  /**
   * What the core lends its collaborators (replica-core.ts): live views of its state and bound
   * actions, nothing copied. Each collaborator is typed to see only its own interface.
   */
  private coreForCollaborators(): ReplicaCore & StatusCore {
    // In the literal's getters `this` is the literal, hence `core`; the arrows bind the replica.
    const core = this;
    return {
      config: this.config,
      deps: this.deps,
      metrics: this.metrics,
      replicaCount: this.replicaCount,
      limits: this.limits,
      get nowMs() {
        return core.nowMsLast;
      },
      get view() {
        return core.viewCurrent;
      },
      get viewActive() {
        return core.viewActive;
      },
      get primary() {
        return core.primary;
      },
      get isPrimary() {
        return core.isPrimary;
      },
      get lastExecutedSeq() {
        return core.lastExecuted;
      },
      get isRetired() {
        return core.retired;
      },
      get stableSeq() {
        return core.stable;
      },
      get maxPrePreparedSeq() {
        return core.maxPrePreparedSeq;
      },
      get ownViewChange() {
        return core.viewChanges[core.config.replicaId];
      },
      get newView() {
        return core.newViewMessage;
      },
      get migrationCheckpointSeq() {
        return core.migration.checkpointSeq;
      },
      get membershipCertificate() {
        return core.notices.membershipCertificate;
      },
      slot: (seq) => this.log.get(seq),
      checkpoint: (seq) => this.checkpoints.get(seq)?.message,
      checkpoints: () => Array.from(this.checkpoints.values(), (own) => own.message),
      pendingRequest: (clientId) => this.pending.get(clientId),
      emit: (effect) => this.emit(effect),
      setTimer: (timer, afterMs) => this.setTimer(timer, afterMs),
      drop: (reason, from, what) => this.drop(reason, from, what),
      retransmit: (to, message) => this.retransmit(to, message),
      checkReplicaSender: (from, message) => this.checkReplicaSender(from, message),
      clientIds: () => this.clientTable.clientIds(),
      tryPropose: () => this.tryPropose(),
      refreshViewChangeTimer: (progress) => this.refreshViewChangeTimer(progress),
      startViewChange: (newView) => this.startViewChange(newView),
      takeParkedWithInit: (init) => this.takeParkedWithInit(init),
      maybeFetchLaggingState: (stalled) => this.maybeFetchLaggingState(stalled),
      migrationCheckpoint: (seq) => this.migrationCheckpoint(seq),
      collectCheckpoints: () => this.collectCheckpoints(),
      retire: (seq) => this.retire(seq),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Migration (paper section 3; docs/migration.md): MigrationRole (migration-role.ts) runs it.
  // Here: what the role asks of the core (ReplicaCore.migrationCheckpoint, retire), and forwarders
  // for the calls the batching and execution paths make, which read as before.

  /**
   * Our checkpoint at a migration round's seq, just executed (MigrationRole.afterMigration). The
   * role has already made this seq the latest migration checkpoint and given up the oldest round
   * in flight if needed, so collecting first keeps the bound while the new checkpoint is taken.
   */
  private migrationCheckpoint(seq: number): Checkpoint {
    assert(seq === this.lastExecuted, "a migration checkpoint is of the state just executed");
    this.collectCheckpoints();
    let own = this.checkpoints.get(seq);
    if (own === undefined) {
      // Off the checkpoint interval: announced like one, so a replica that misses the round can
      // fetch this state (onMigrationCheckpoint); the interval checkpoint was announced already.
      own = this.makeCheckpoint(seq);
      this.emit({ kind: "broadcast", message: own.message });
    }
    return own.message;
  }

  private retire(seq: number): void {
    const settings = this.migration.settings!;
    for (const timer of ["status", "viewChange", "stateTransfer", "migration"] as const)
      this.emit({ kind: "cancelTimer", timer });
    this.emit({ kind: "retire", replicaId: this.config.replicaId, nodeId: settings.nodeId, seq });
    this.retired = true;
    this.deps.log?.info({ replicaId: this.config.replicaId, seq }, "retired as a migration source");
  }

  private get specialQueue(): readonly OrderedSpecial[] {
    return this.migration.queuedSpecials;
  }

  private get migrationBarrierSeq(): number {
    return this.migration.migrationBarrierSeq;
  }

  private set migrationBarrierSeq(seq: number) {
    this.migration.migrationBarrierSeq = seq;
  }

  private takeSpecial(): OrderedSpecial | null {
    return this.migration.takeSpecial();
  }

  private executeSpecial(seq: number, special: OrderedSpecial): AppliedMigration | null {
    return this.migration.executeSpecial(seq, special);
  }

  private afterMigration(slot: Slot, applied: AppliedMigration): void {
    this.migration.afterMigration(slot.seq, slot.acceptedAtMs, applied);
  }

  private recordOrderExecute(durationMs: number): void {
    this.migration.recordOrderExecute(durationMs);
  }

  private maybeNotifyClient(clientId: number, seq: number): void {
    this.notices.maybeNotifyClient(clientId, seq);
  }

  // ---------------------------------------------------------------------------------------------
  // Promotion and invariants

  /** Replica.promoted: install the verified migration checkpoint as our state at seq. */
  private installPromotedState(installed: {
    readonly view: number;
    readonly seq: number;
    readonly stateDigest: Uint8Array;
    readonly stateBytes: Uint8Array;
  }): void {
    const parts = stateMatchesDigest(installed.stateBytes, installed.stateDigest, this.deps);
    // Paired with the standby's check before promotion: the state matches the certified digest.
    assert(parts !== null, "promoted state matches its certified digest");
    const table = ClientTable.decode(parts.clientTableBytes);
    assert(table !== null, "certified client table decodes");
    assert(this.deps.app.restore(parts.appBytes), "certified app state restores");
    assert(this.migration.restoreMiddleware(parts.middlewareBytes), "certified middleware restores");
    const middleware = this.migration.middleware;
    assert(middleware !== null, "a promoted replica has migration settings");
    middleware.recordCheckpointDigest(installed.seq, installed.stateDigest);
    assert(
      middleware.nodeOf(this.config.replicaId) === this.migration.settings!.nodeId,
      "we hold our logical id",
    );
    const appSnapshot = this.deps.app.checkpoint();
    assert(bytesEqual(appSnapshot.digest, parts.appDigest), "the app restored the digest it promised");
    this.clientTable = table;
    this.checkpoints.clear();
    this.checkpoints.set(installed.seq, {
      message: {
        type: "Checkpoint",
        seq: installed.seq,
        stateDigest: installed.stateDigest,
        replicaId: this.config.replicaId,
      },
      clientTableBytes: parts.clientTableBytes,
      appSnapshot,
      middlewareBytes: parts.middlewareBytes,
      stateBytes: installed.stateBytes,
    });
    this.promotedAtStart = true;
    this.viewCurrent = installed.view;
    this.lastExecuted = installed.seq;
    this.stable = installed.seq;
    this.stableDigest = installed.stateDigest;
    this.seqNext = installed.seq + 1;
    this.maxPrePreparedSeq = installed.seq;
    this.emit({ kind: "stateInstalled", seq: installed.seq, stateDigest: installed.stateDigest });
  }

  private checkInvariants(): void {
    assert(this.stable <= this.lastExecuted, "stable checkpoint never ahead of execution");
    assert(this.lastExecuted <= this.stable + this.config.logWindowSeqs, "execution stays inside the window");
    assert(this.log.size <= this.config.logWindowSeqs, "log bounded");
    assert(this.checkpoints.has(this.stable), "we hold the stable checkpoint");
    assert(this.checkpoints.size <= this.ownCheckpointsMax(), "own checkpoints bounded");
    assert(
      this.pending.size <= CLIENT_QUEUE_MAX && this.queue.length <= CLIENT_QUEUE_MAX,
      "request tables bounded",
    );
  }
}
