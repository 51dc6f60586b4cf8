/**
 * The PBFT replica core (Castro & Liskov, TOCS 2002, MAC variant with signed VIEW-CHANGEs).
 *
 * A deterministic state machine: `step(input, nowMs)` takes one authenticated message or one timer
 * and returns effects in the order the host must carry them out. No clocks, randomness or I/O.
 * Senders are authenticated by the wire but may be Byzantine, so every message is checked against
 * our view, watermarks and quorum rules and dropped (and counted) when it does not fit; asserts
 * guard only our own invariants.
 *
 * Retransmission (section 5.2 of the paper uses STATUS messages): every statusIntervalMs a replica
 * broadcasts STATUS(view, lastExecuted, stable). A receiver resends what the sender lacks: the
 * NEW-VIEW (or its own VIEW-CHANGE) if the sender is in an older view, its CHECKPOINTs if the
 * sender is below its stable checkpoint (so it can state-transfer), and for each logged seq above
 * the sender's lastExecuted its own PREPARE and COMMIT, then the PRE-PREPARE. The wire
 * authenticates the forwarder, not the primary, so a PRE-PREPARE from a backup is a *relay*: the
 * receiver accepts its body for (v, n, d) only when it already holds f+1 matching COMMITs (at least
 * one correct replica prepared d) or 2f matching PREPAREs (a prepared certificate) for (v, n, d),
 * and the body hashes to d. Both certificates are unique per (v, n), so a relay can never make a
 * replica pre-prepare anything but what the primary proposed and a quorum accepted.
 */
import type { AppSnapshot } from "../apps/app.js";
import { assert, unreachable } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { CLIENT_QUEUE_MAX, CLIENTS_MAX, REQUEST_BATCH_MAX } from "../limits.js";
import type {
  Checkpoint,
  Commit,
  Evidence,
  FetchState,
  InitMigration,
  JoinApproved,
  JoinRequest,
  LeaveRequest,
  MemberAddress,
  MembershipCertificate,
  Message,
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
  Prepare,
  Principal,
  ReplicaMessage,
  Request,
  StateChunk,
  Status,
  ViewChange,
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
import type {
  CoreDeps,
  Effect,
  ExecutedRequest,
  MigrationSettings,
  ReplicaConfig,
  ReplicaInput,
  TimerId,
} from "./api.js";
import { proposalDigest } from "./batch-digest.js";
import { ClientTable } from "./client-table.js";
import { validateReplicaConfig } from "./config.js";
import { verifyEvidence } from "./evidence.js";
import { type DropReason, newReplicaMetrics, type ReplicaMetrics } from "./metrics.js";
import { initMatches, Middleware, proofsProblem } from "./middleware.js";
import {
  type DecidedBatch,
  type DecidedCheckpoint,
  decideNewView,
  type NewViewDecision,
} from "./new-view.js";
import { Offenders } from "./offenders.js";
import { primaryOf, quorumOf, replicaCountOf, VoteSet, weakQuorumOf } from "./quorum.js";
import { RequestQueue } from "./request-queue.js";
import { encodeState, stateDigestOf, stateMatchesDigest } from "./state-encoding.js";
import { type FetchRequest, StateFetch, stateChunkOf } from "./state-transfer.js";
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

/** Special entries a primary queues at most (a migration, and joins and leaves of the pool). */
const SPECIAL_QUEUE_MAX = 256;

interface AppliedMigration {
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

/** Protocol state for one (view, seq) in the window (PBFT section 4.2). */
interface Slot {
  readonly seq: number;
  readonly view: number;
  prePrepare: PrePrepare | null;
  readonly prepareVotes: VoteSet;
  readonly commitVotes: VoteSet;
  prepareSent: boolean;
  commitSent: boolean;
  prepared: boolean;
  committed: boolean;
  /** When we accepted (or, as primary, sent) the PRE-PREPARE: Toe runs from here (section 3.2). */
  acceptedAtMs: number;
  /**
   * The primary's PRE-PREPARE (digest checked) that we could not yet take because a request in it
   * was not authenticated for us: taken once we hold each such request from its client, or once
   * a quorum vouches for the digest (takeParkedPrePrepare).
   */
  parked: PrePrepare | null;
}

/** One of our own checkpoints, kept until a later one is stable so we can serve state transfer. */
interface OwnCheckpoint {
  readonly message: Checkpoint;
  readonly clientTableBytes: Uint8Array;
  readonly appSnapshot: AppSnapshot;
  readonly middlewareBytes: Uint8Array;
  /** The encoded state, built on the first FETCH-STATE for it. */
  stateBytes: Uint8Array | null;
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
  /**
   * The committed batch at lastExecuted + 1 when deps.executionYield stopped its execution part
   * way: its first `next` requests have run (application, client table, replies), the rest wait
   * for continueExecution. lastExecuted moves only once the whole batch has run; an installed
   * state (fetch or promotion) replaces a partly executed batch.
   */
  private partialExecution: {
    readonly seq: number;
    readonly digest: Uint8Array;
    readonly next: number;
    readonly results: ExecutedRequest[];
    readonly orderExecuteMs: number;
  } | null = null;
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

  private readonly checkpoints = new Map<number, OwnCheckpoint>();
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
  private readonly peerLastExecuted: number[];

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

  // Migration (paper section 3; null/empty when the config has no migration settings).
  private readonly migrationSettings: MigrationSettings | null;
  private readonly middleware: Middleware | null;
  private readonly interval: IntervalController | null;
  /** A retired source: it ignores all input (section 3.2, "stops accepting new request messages"). */
  private retired = false;
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
  private migrationBarrierSeq = 0;
  /** Seq of the latest migration checkpoint we took (-1 before any): see checkpointNeeded. */
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
  /** Made by Replica.promoted and not yet started: start() sends STATUS at once. */
  private promotedAtStart = false;
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
    this.peerMigrateNows = Array.from({ length: this.replicaCount }, () => []);
    this.viewChanges = new Array<ViewChange | undefined>(this.replicaCount).fill(undefined);
    this.peerLastExecuted = new Array<number>(this.replicaCount).fill(-1);
    this.clientTable = new ClientTable();
    this.initVotes = new Array<InitMigration | undefined>(this.replicaCount).fill(undefined);
    this.offenders = new Offenders(this.replicaCount);
    const settings = config.migration ?? null;
    this.migrationSettings = settings;
    if (settings !== null) {
      assert(deps.migration !== undefined, "migration settings come with migration deps");
      const migrationDeps = deps.migration;
      this.middleware = new Middleware(
        {
          f: config.f,
          roster: settings.roster,
          activeNodeIds: settings.members.map((member) => member.nodeId),
          cmPublicKeys: settings.cmPublicKeys,
        },
        { verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature) },
        settings.members,
      );
      // A promoted target does not run its id in the initial membership: its checkpoint says so
      // (asserted in installPromotedState).
      this.interval = new IntervalController(settings.interval);
      const setup = migrationDeps.keyExchange;
      if (setup !== undefined) {
        this.keyExchange = new KeyExchangeTable(
          {
            nodeId: settings.nodeId,
            counter: setup.counter,
            roster: settings.roster,
            replicaCount: this.replicaCount,
          },
          {
            sign: (bytes) => migrationDeps.sign(bytes),
            verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature),
            keyAgreement: setup.keyAgreement,
          },
        );
      }
    } else {
      this.middleware = null;
      this.interval = null;
    }
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
    this.armMigrationTimer();
    this.maintainKeys();
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
    if (table != null && replica.keyExchange !== null) {
      assert(table.config.nodeId === config.migration?.nodeId, "the standby's table is this node's");
      replica.keyExchange = table;
    }
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

  get isRetired(): boolean {
    return this.retired;
  }

  /** The MIGRATION-REQUEST waiting to be ordered, if any. */
  get pendingMigration(): MigrationRequest | null {
    return this.migrationPending;
  }

  /** Interval controller's plan (Tw, Toe, Ts), or null without migration. */
  get intervalPlan(): ReturnType<IntervalController["plan"]> | null {
    return this.interval?.plan() ?? null;
  }

  /**
   * True after a call whose execution deps.executionYield stopped part way: the host should call
   * continueExecution once its event loop has read the input waiting meanwhile.
   */
  get wantsContinue(): boolean {
    return this.partialExecution !== null && !this.retired;
  }

  /** Executes on where deps.executionYield stopped (wantsContinue); nothing to do is not an error. */
  continueExecution(nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    assert(this.effects.length === 0, "effects drained between steps");
    if (this.retired) return [];
    this.executeReady();
    this.checkInvariants();
    return this.takeEffects();
  }

  step(input: ReplicaInput, nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    assert(this.effects.length === 0, "effects drained between steps");
    if (this.retired) {
      this.metrics.dropped.retired++;
      this.metrics.droppedTotal++;
      return [];
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
        this.onMigrationTimer();
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
      this.onMigrationMessage(from, message);
      return;
    }
    if (from.kind === "node" && message.type === "FetchState") {
      // A migration target fetching the checkpoint for the logical id it now holds (section 3.2).
      if (this.middleware === null || this.middleware.nodeOf(message.replicaId) !== from.id)
        return void this.drop("notMember", from, message.type);
      this.onFetchState(from, message);
      return;
    }
    if (!this.checkReplicaSender(from, message)) return;
    if (this.recovering) this.noteViewWhileRecovering(message);
    if (message.type === "Status" && this.roundsInFlight.length > 0) this.noteTargetRunning(from.id);
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
        this.onStatus(message);
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
    if (from.kind === "client") {
      this.renotifyClient(request.clientId);
      if (this.certificateHeard.size < CLIENTS_MAX) this.certificateHeard.add(request.clientId);
    }
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
      this.lastExecuted >= this.migrationBarrierSeq &&
      // While a batch is partly executed the requests that its early replies bring in wait for
      // the rest of it, so they leave as one batch, not one each (docs/protocol.md, fifth round).
      this.partialExecution === null
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
  }

  // ---------------------------------------------------------------------------------------------
  // Normal case: PRE-PREPARE, PREPARE, COMMIT (PBFT section 4.2)

  private onPrePrepare(fromId: number, message: PrePrepare): void {
    const from: Principal = { kind: "replica", id: fromId };
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    if (message.requests.length > REQUEST_BATCH_MAX)
      return void this.drop("batchTooLarge", from, message.type);
    if (message.special !== undefined && !this.specialAcceptable(from, message)) return;
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
    return message.special?.kind !== "migration" || this.proofsAuthentic(message.special.request);
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
  private proofsAuthentic(request: MigrationRequest): boolean {
    const migration = this.deps.migration!;
    return request.proofs.every((proof) => {
      if (migration.initMigrationAuthentic(proof)) return true;
      const known = this.initVotes[proof.replicaId];
      return known !== undefined && known.replicaId === proof.replicaId && initMatches(known, proof);
    });
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
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    const slot = this.slotFor(message.seq);
    const added = slot.commitVotes.add(message.replicaId, message.digest);
    if (added !== "added")
      return void this.drop(added === "duplicate" ? "duplicate" : "conflictingVote", from, message.type);
    this.takeParkedPrePrepare(slot);
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
      if (!this.executeSlot(slot)) break; // stopped part way: continueExecution goes on
      progressed = true;
    }
    if (!progressed || this.retired) return;
    if (this.stateFetch !== null && this.lastExecuted >= this.stateFetch.seq) this.abandonStateTransfer();
    this.tryPropose();
    this.refreshViewChangeTimer(true);
  }

  /**
   * Executes the batch, or its rest if it was stopped part way. False when deps.executionYield
   * stops it again: at least one request runs per call, so execution always progresses.
   */
  private executeSlot(slot: Slot): boolean {
    const prePrepare = slot.prePrepare;
    assert(prePrepare !== null && slot.committed, "execute committed batches only");
    assert(slot.seq === this.lastExecuted + 1, "execute in seq order");
    const resumed = this.partialExecution;
    this.partialExecution = null;
    // A committed seq holds the same batch in every later view (a view change re-proposes it), so
    // a batch stopped part way before a view change goes on in the new view's slot.
    if (resumed !== null)
      assert(resumed.seq === slot.seq && bytesEqual(resumed.digest, prePrepare.digest), "resume that batch");
    const results: ExecutedRequest[] = resumed?.results ?? [];
    const orderExecuteMs = resumed?.orderExecuteMs ?? this.nowMsLast - slot.acceptedAtMs;
    // A special entry is ordered alone (tryPropose) and runs whole, before any request.
    const migration =
      resumed !== null || prePrepare.special === undefined
        ? null
        : this.executeSpecial(slot.seq, prePrepare.special);
    const requests = prePrepare.requests;
    const first = resumed?.next ?? 0;
    for (let index = first; index < requests.length; index++) {
      if (index > first && this.deps.executionYield?.() === true) {
        this.partialExecution = {
          seq: slot.seq,
          digest: prePrepare.digest,
          next: index,
          results,
          orderExecuteMs,
        };
        this.metrics.executionsStopped++;
        return false;
      }
      const request = requests[index]!;
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
    return true;
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
    const middlewareBytes = this.middleware?.encode() ?? new Uint8Array(0);
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
    if (seq > this.stable && seq === this.migrationCheckpointSeq) return true;
    return this.roundsInFlight.some((round) => round.seq === seq);
  }

  private collectCheckpoints(): void {
    for (const seq of this.checkpoints.keys()) if (!this.checkpointNeeded(seq)) this.checkpoints.delete(seq);
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
      if (this.middleware === null) return void this.drop("badCheckpointSeq", from, message.type);
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
    const certificate = this.certificate;
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
  // State transfer (PBFT section 5.3): fetching side in StateFetch, serving side here

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
    const own = this.checkpoints.get(message.seq);
    if (own === undefined || !bytesEqual(own.message.stateDigest, message.stateDigest)) {
      return void this.drop("unknownCheckpoint", from, message.type);
    }
    own.stateBytes ??= encodeState({
      clientTableBytes: own.clientTableBytes,
      appDigest: own.appSnapshot.digest,
      middlewareBytes: own.middlewareBytes,
      appBytes: own.appSnapshot.bytes(),
    });
    const chunk = stateChunkOf({
      stateBytes: own.stateBytes,
      seq: message.seq,
      stateDigest: own.message.stateDigest,
      chunkIndex: message.chunkIndex,
      replicaId: this.config.replicaId,
    });
    if (chunk === null) return void this.drop("badChunk", from, message.type);
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
    if (!this.deps.app.restore(parts.appBytes) || !this.restoreMiddleware(parts.middlewareBytes)) {
      this.rejectFetchedCopy();
      return;
    }
    const appSnapshot = this.deps.app.checkpoint();
    assert(bytesEqual(appSnapshot.digest, parts.appDigest), "the app restored the digest it promised");
    this.middleware?.recordCheckpointDigest(fetch.seq, fetch.stateDigest);
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
    // The installed state is past a batch left partly executed (fetch.seq > lastExecuted).
    this.partialExecution = null;
    this.lastExecuted = fetch.seq;
    if (this.seqNext <= fetch.seq) this.seqNext = fetch.seq + 1;
    for (const [clientId, request] of this.pending) {
      const entry = table.get(clientId);
      if (entry !== undefined && entry.timestamp >= request.timestamp) this.pending.delete(clientId);
    }
    this.metrics.stateTransfersCompleted++;
    this.emit({ kind: "stateInstalled", seq: fetch.seq, stateDigest: fetch.stateDigest });
    this.authenticateCertifiedMembers();
    // The certified state is at least as good as a stable checkpoint for our own GC: we hold it.
    this.advanceStable(fetch.seq, fetch.stateDigest);
    if (this.vouchSkippedRound(executedBefore)) return; // we were its source: retired
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
    const hasWork =
      this.pending.size > 0 || this.maxPrePreparedSeq > this.lastExecuted || this.migrationPending !== null;
    if (this.actingPrimary || !hasWork) {
      if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
      this.viewChangeTimerArmed = false;
      return;
    }
    if (this.viewChangeTimerArmed && !progress) return;
    this.setTimer("viewChange", this.viewChangeTimeoutMs());
    this.viewChangeTimerArmed = true;
  }

  private onViewChangeTimer(): void {
    this.viewChangeTimerArmed = false;
    if (
      this.viewActive &&
      (this.actingPrimary ||
        (this.pending.size === 0 &&
          this.maxPrePreparedSeq <= this.lastExecuted &&
          this.migrationPending === null))
    ) {
      return; // nothing is waiting any more: a late expiry
    }
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
    this.specialQueue.length = 0;
    this.proposedSpecials.clear();
    this.migrationBarrierSeq = 0;
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
    const newView: NewView = { ...body, signature: this.signNewView(body) };
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
      this.accuseNewView(message);
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
      if (batch.special !== undefined) this.proposedSpecials.add(specialKey(batch.special));
    }
    this.requeueSpecials();
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
  // STATUS and retransmission (see the note at the top of this file)

  private broadcastStatus(): void {
    const status: Status = {
      type: "Status",
      view: this.viewCurrent,
      lastExecutedSeq: this.lastExecuted,
      stableSeq: this.stable,
      replicaId: this.config.replicaId,
    };
    this.emit({ kind: "broadcast", message: status });
  }

  private onStatusTimer(): void {
    this.broadcastStatus();
    this.setTimer("status", this.config.statusIntervalMs);
    if (this.certificate !== null) {
      this.certificateTicks += 1;
      if ((this.certificateTicks & (this.certificateTicks - 1)) === 0) this.pushCertificate();
    }
    // Stalled: no execution over a whole interval while a certified checkpoint ahead was already
    // known at the previous tick, so retransmission had one interval to bring the log.
    const target = this.certifiedCheckpointAhead();
    const stalled =
      this.lastExecuted === this.lastExecutedAtStatus && target !== null && target.seq <= this.lagSeqAtStatus;
    this.lastExecutedAtStatus = this.lastExecuted;
    this.lagSeqAtStatus = target?.seq ?? 0;
    this.maybeFetchLaggingState(stalled);
    this.retransmitMigration();
    this.maintainKeys();
  }

  private onStatus(message: Status): void {
    const to: Principal = { kind: "replica", id: message.replicaId };
    this.resendMigrationCheckpoint(to, message);
    // A peer behind the round our CM certificate names may have missed it (the CM sends it once):
    // with it, its wire authenticates the round's targets (authenticateCertifiedMembers).
    if (this.certificate !== null && message.lastExecutedSeq < this.certificate.seq)
      this.retransmit(to, this.certificate);
    if (message.view !== this.viewCurrent || !this.viewActive) {
      // CHECKPOINTs name no view: a peer behind us in execution gets them in any view, so it can
      // fetch the state it lacks. A replica that ran alone into a higher view while it lagged
      // otherwise hears nothing it can catch up from until the others reach that view (simulator
      // seed 36 of the migration runs), and by then a migration may have moved the ids it trusts.
      if (message.lastExecutedSeq < this.stable) this.resendCheckpoints(to, message.stableSeq);
    }
    if (message.view > this.viewCurrent) return; // we learn of higher views from VIEW-CHANGEs
    if (!this.viewActive) {
      const own = this.viewChanges[this.config.replicaId];
      if (own !== undefined) this.retransmit(to, own);
      this.resendOldViewVotes(to, message);
      return;
    }
    if (message.view < this.viewCurrent) {
      if (this.newViewMessage !== null) this.retransmit(to, this.newViewMessage);
      this.resendOldViewVotes(to, message);
      return;
    }
    // A peer that reports the same lastExecuted twice is stuck on lost messages: resend even
    // if it is level with us, since what it misses may be the in-flight batches or CHECKPOINTs.
    const stuck = this.peerLastExecuted[message.replicaId] === message.lastExecutedSeq;
    this.peerLastExecuted[message.replicaId] = message.lastExecutedSeq;
    if (message.stableSeq < this.stable || message.lastExecutedSeq < this.stable || stuck)
      this.resendCheckpoints(to, message.stableSeq);
    if (message.lastExecutedSeq < this.lastExecuted || stuck) this.resendLog(to, message.lastExecutedSeq);
    else if (message.replicaId !== this.primary) this.resendUnvoted(to, message);
  }

  /**
   * Our latest migration checkpoint, when it is off the interval, to a peer (in any view) that
   * has not executed its seq: the announcement at execution may have been lost, and the peer may
   * be unable to execute the round from the log (item 6 of docs/migration-progress.md).
   */
  private resendMigrationCheckpoint(to: Principal, status: Status): void {
    const seq = this.migrationCheckpointSeq;
    if (seq <= status.lastExecutedSeq || isCheckpointSeq(seq, this.config.checkpointIntervalSeqs)) return;
    const own = this.checkpoints.get(seq);
    if (own !== undefined) this.retransmit(to, own.message);
  }

  private resendCheckpoints(to: Principal, aboveSeq: number): void {
    for (const own of this.checkpoints.values()) {
      if (own.message.seq > aboveSeq) this.retransmit(to, own.message);
    }
  }

  /** Resends our part of each logged seq above fromSeq: votes first, then the batch (a relay). */
  private resendLog(to: Principal, fromSeq: number): void {
    const seqLast = Math.min(this.maxPrePreparedSeq, this.stable + this.config.logWindowSeqs);
    for (let seq = Math.max(fromSeq, this.stable) + 1; seq <= seqLast; seq++) {
      const slot = this.log.get(seq);
      if (slot === undefined || slot.prePrepare === null || slot.view !== this.viewCurrent) continue;
      this.resendSlot(to, slot);
    }
  }

  /**
   * A backup level with us in execution and in our view, whose vote we lack for a seq we hold
   * pre-prepared and not yet committed, most likely lacks that seq's PRE-PREPARE: it was not
   * running when the primary sent it (a target promoted after the batch went out) or not yet in
   * the view (it entered through the NEW-VIEW after the new primary's first proposals, which it
   * dropped as for another view). Links are FIFO, so its vote would have arrived before its
   * STATUS. Waiting for the "stuck" rule (the same lastExecuted in two STATUS messages) cost a
   * whole view-change timeout whenever that backup's vote was needed for a quorum (migration CI
   * seed 134). Only uncommitted slots: votes for a committed slot are not even MAC-checked (wants).
   */
  private resendUnvoted(to: Principal, status: Status): void {
    assert(to.kind === "replica" && to.id === status.replicaId, "resend to the STATUS sender");
    const seqLast = Math.min(this.maxPrePreparedSeq, this.stable + this.config.logWindowSeqs);
    for (let seq = Math.max(status.lastExecutedSeq, this.stable) + 1; seq <= seqLast; seq++) {
      const slot = this.log.get(seq);
      if (slot === undefined || slot.prePrepare === null || slot.view !== this.viewCurrent) continue;
      if (slot.committed) continue;
      if (slot.prepareVotes.has(status.replicaId) || slot.commitVotes.has(status.replicaId)) continue;
      this.resendSlot(to, slot);
    }
  }

  private resendSlot(to: Principal, slot: Slot): void {
    assert(
      slot.prePrepare !== null && slot.view === this.viewCurrent,
      "resend a pre-prepared slot of our view",
    );
    const prePrepare = this.withLatestCopies(slot.prePrepare);
    const { view, seq, digest } = prePrepare;
    const replicaId = this.config.replicaId;
    if (this.isPrimary) this.retransmit(to, prePrepare);
    if (slot.prepareSent) this.retransmit(to, { type: "Prepare", view, seq, digest, replicaId });
    if (slot.commitSent) this.retransmit(to, { type: "Commit", view, seq, digest, replicaId });
    if (!this.isPrimary && slot.prepared) this.retransmit(to, prePrepare);
  }

  /**
   * The PRE-PREPARE with each request replaced by the latest copy its client sent us
   * (refreshPendingCopy). The digest covers the requests' contents, not their authenticators, so
   * the resent message names the same batch; only the receiver's chance to authenticate it grows.
   */
  private withLatestCopies(prePrepare: PrePrepare): PrePrepare {
    let changed = false;
    const requests = prePrepare.requests.map((request) => {
      const known = this.pending.get(request.clientId);
      if (known === undefined || known === request || known.timestamp !== request.timestamp) return request;
      if (!bytesEqual(this.deps.requestDigest(known), this.deps.requestDigest(request))) return request;
      changed = true;
      return known;
    });
    return changed ? { ...prePrepare, requests } : prePrepare;
  }

  /**
   * A peer still in an older view may lack our votes from that view: we moved on (alone, or
   * ahead of it) before it gathered its commit quorum, and without them it can neither execute
   * nor see a pending request to time out on (seed 1014: the primary of view 2 waited forever for
   * a COMMIT from the one replica that had moved to view 3). Resending the PREPAREs and COMMITs we
   * sent in the peer's view is safe: they are the same votes, for the same digests.
   */
  private resendOldViewVotes(to: Principal, status: Status): void {
    const seqLast = Math.min(this.maxPrePreparedSeq, this.stable + this.config.logWindowSeqs);
    const replicaId = this.config.replicaId;
    for (let seq = Math.max(status.lastExecutedSeq, this.stable) + 1; seq <= seqLast; seq++) {
      const slot = this.log.get(seq);
      if (slot === undefined || slot.prePrepare === null || slot.view !== status.view) continue;
      const { view, digest } = slot.prePrepare;
      if (slot.prepareSent) this.retransmit(to, { type: "Prepare", view, seq, digest, replicaId });
      if (slot.commitSent) this.retransmit(to, { type: "Commit", view, seq, digest, replicaId });
    }
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

  // ---------------------------------------------------------------------------------------------
  // Migration (paper section 3; docs/migration.md). Only reached with migration settings.

  private onMigrationMessage(from: Principal, message: MigrationMessage): void {
    if (this.middleware === null) return void this.drop("unexpectedType", from, message.type);
    switch (message.type) {
      case "JoinRequest":
        if (from.kind !== "node" || from.id !== message.nodeId)
          return void this.drop("senderMismatch", from, message.type);
        this.onJoinRequest(from, message);
        return;
      case "LeaveRequest":
        if (from.kind !== "cm" || from.id !== message.cmId)
          return void this.drop("senderMismatch", from, message.type);
        this.onLeaveRequest(from, message);
        return;
      case "InitMigration":
        if (!this.checkReplicaSender(from, message)) return;
        this.onInitMigration(message);
        return;
      case "MigrationDone":
        if (from.kind !== "node" || from.id !== message.nodeId)
          return void this.drop("senderMismatch", from, message.type);
        this.onMigrationDone(from, message);
        return;
      case "OnDemandMigration":
        if (from.kind !== "cm" || from.id !== message.cmId)
          return void this.drop("senderMismatch", from, message.type);
        this.onOnDemandMigration(from, message);
        return;
      case "KeyExchange":
        // Signed: the table checks it against the roster key of the node it names.
        if (this.keyExchange === null) return void this.drop("unexpectedType", from, message.type);
        this.applyKeyEffects(this.keyExchange.onMessage(from, message, this.config.replicaId));
        return;
      case "Evidence":
        if (!this.checkReplicaSender(from, message)) return;
        this.considerEvidence(from, message);
        return;
      case "MembershipCertificate":
        this.onMembershipCertificate(from, message);
        return;
      case "MigrateNow":
        if (from.kind !== "replica" || from.id !== message.replicaId)
          return void this.drop("senderMismatch", from, message.type);
        if (from.id === this.config.replicaId || from.id >= this.replicaCount)
          return void this.drop("unknownReplica", from, message.type);
        this.onPeerMigrateNow(from, message);
        return;
      case "JoinApproved":
      case "NewMembership":
        this.drop("unexpectedType", from, message.type);
        return;
      default:
        unreachable(message, "migration message type");
    }
  }

  /** Section 3.1: our JOIN-APPROVED for an executed join, signed by our node's coprocessor. */
  private joinApproved(approval: JoinApprovalInfo): JoinApproved {
    return makeJoinApproved(approval, this.config.replicaId, (bytes) => this.deps.migration!.sign(bytes));
  }

  /** Section 3.1: accept locally (signature, roster key, fresh l), then the primary orders it. */
  private onJoinRequest(from: Principal, message: JoinRequest): void {
    const middleware = this.middleware!;
    const verdict = middleware.registry.acceptJoinRequest(message);
    if (verdict.verdict === "approvedAlready") {
      // Our JOIN-APPROVED may have been lost: send it again.
      this.emit({
        kind: "send",
        to: from,
        message: this.joinApproved(verdict.approval),
      });
      return;
    }
    if (verdict.verdict === "rejected")
      return void this.drop("badJoin", from, `${message.type}: ${verdict.reason}`);
    // A fresh l: the node was sanitized, and whatever held its old session key may be an attacker.
    if (this.keyExchange !== null) this.applyKeyEffects(this.keyExchange.forget(message.nodeId));
    this.pendingJoins.set(message.nodeId, message);
    if (this.joinSeenAtMs.get(message.nodeId)?.counter !== message.counter)
      this.joinSeenAtMs.set(message.nodeId, { counter: message.counter, atMs: this.nowMsLast });
    if (this.isPrimary && this.viewActive)
      this.enqueueSpecial({ kind: "join", request: message, joinTimeMs: 0 });
  }

  private onLeaveRequest(from: Principal, message: LeaveRequest): void {
    const verdict = this.middleware!.registry.acceptLeaveRequest(message);
    if (verdict.verdict === "rejected")
      return void this.drop("badLeave", from, `${message.type}: ${verdict.reason}`);
    this.pendingLeaves.set(message.nodeId, message);
    if (this.isPrimary && this.viewActive) this.enqueueSpecial({ kind: "leave", request: message });
  }

  private enqueueSpecial(special: OrderedSpecial): void {
    assert(this.isPrimary && this.viewActive, "only an active primary orders special entries");
    const key = specialKey(special);
    if (this.proposedSpecials.has(key)) return;
    if (this.specialQueue.some((queued) => specialKey(queued) === key)) return;
    if (this.specialQueue.length >= SPECIAL_QUEUE_MAX)
      return void this.drop("queueFull", { kind: "replica", id: this.config.replicaId }, key);
    if (special.kind === "migration") this.specialQueue.unshift(special);
    else this.specialQueue.push(special);
    this.tryPropose();
  }

  /** The next special entry still worth ordering; a JOIN-REQUEST gets its join time now (3.1). */
  private takeSpecial(): OrderedSpecial | null {
    const middleware = this.middleware;
    while (this.specialQueue.length > 0) {
      const special = this.specialQueue.shift()!;
      if (middleware === null) continue;
      if (special.kind === "migration" && special.request.migrationNumber < middleware.migrationNumber)
        continue;
      if (special.kind === "join" && !this.pendingJoins.has(special.request.nodeId)) continue;
      if (special.kind === "leave" && !this.pendingLeaves.has(special.request.nodeId)) continue;
      this.proposedSpecials.add(specialKey(special));
      if (special.kind === "join") return { ...special, joinTimeMs: Math.floor(this.nowMsLast) };
      return special;
    }
    return null;
  }

  /** A new primary continues what the old one left: the migration round first (3.2), then joins and leaves. */
  private requeueSpecials(): void {
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
  private specialAcceptable(from: Principal, message: PrePrepare): boolean {
    const special = message.special;
    assert(special !== undefined, "a special PRE-PREPARE");
    const middleware = this.middleware;
    if (middleware === null) return this.drop("unexpectedType", from, "special");
    if (message.requests.length > 0) return this.drop("badSpecial", from, "special with requests");
    switch (special.kind) {
      case "migration": {
        const problem = proofsProblem(special.request, this.config.f);
        if (problem !== null) return this.drop("badSpecial", from, `migration: ${problem}`);
        if (special.request.migrationNumber < middleware.migrationNumber)
          return this.drop("badSpecial", from, "migration: stale");
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
   * judged again, nor are the batches a NEW-VIEW decides.
   */
  private joinTimeAcceptable(from: Principal, slot: Slot, message: PrePrepare): boolean {
    const special = message.special;
    if (special?.kind !== "join" || this.certifiedInSlot(slot, message.digest)) return true;
    const skewMs = this.migrationSettings!.joinTimeSkewMsMax;
    const seen = this.joinSeenAtMs.get(special.request.nodeId);
    const sinceMs = seen?.counter === special.request.counter ? seen.atMs : Number.NEGATIVE_INFINITY;
    if (special.joinTimeMs <= this.nowMsLast + skewMs && special.joinTimeMs >= sinceMs - skewMs) return true;
    return this.drop("joinTimeSkew", from, "join");
  }

  /**
   * Runs an ordered special entry (sections 3.1, 3.2). Registry changes apply at once; a valid
   * MIGRATION-REQUEST's middleware change is returned so the migration checkpoint, taken right
   * after this seq executes, already holds the new membership and the next l.
   */
  private executeSpecial(seq: number, special: OrderedSpecial): AppliedMigration | null {
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
          this.metrics.joinsExecuted++;
          const message = this.joinApproved(result.approval);
          this.emit({ kind: "send", to: { kind: "node", id: special.request.nodeId }, message });
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
          this.metrics.leavesExecuted++;
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
      this.metrics.migrationsRejected++;
      this.deps.log?.info({ replicaId: this.config.replicaId, seq, problem }, "migration request rejected");
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
    this.metrics.migrationsExecuted++;
    this.initVotes.fill(undefined);
    this.migrationPending = null;
    this.onDemandSources = null;
    if (this.migrationBarrierSeq <= seq) this.migrationBarrierSeq = 0;
    return { request, pairs };
  }

  /**
   * Section 3.2 "State Transfer", after the MIGRATION-REQUEST executed at slot.seq: the migration
   * checkpoint (kept for the targets), MIGRATE-NOW to every target and CM replica, then either
   * retirement (we were a source) or the membership change and the next round's timer.
   */
  private afterMigration(slot: Slot, applied: AppliedMigration): void {
    const seq = slot.seq;
    // This round's checkpoint replaces the previous latest one; the oldest round still in flight
    // is given up if needed, so the bound holds while the new checkpoint is taken.
    this.migrationCheckpointSeq = seq;
    this.makeRoomForRound();
    this.collectCheckpoints();
    let own = this.checkpoints.get(seq);
    if (own === undefined) {
      // Off the checkpoint interval: announced like one, so a replica that misses the round can
      // fetch this state (onMigrationCheckpoint); the interval checkpoint was announced already.
      own = this.makeCheckpoint(seq);
      this.emit({ kind: "broadcast", message: own.message });
    }
    this.middleware!.recordCheckpointDigest(seq, own.message.stateDigest);
    const sources = applied.pairs.map((pair) => pair.replicaId);
    const stateSender = designatedStateSender(sources, this.replicaCount);
    const migrateNow = this.makeMigrateNow(seq, own.message.stateDigest, applied.pairs);
    this.sendMigrateNow(migrateNow);
    // To the peers too, which relay it while a target is pending (onPeerMigrateNow). Peers that
    // applied the round before it arrives refuse a source's copy (its id maps to the target's
    // node now); those still before it, the ones a partition kept away, take it.
    for (let id = 0; id < this.replicaCount; id++)
      if (id !== this.config.replicaId)
        this.emit({ kind: "send", to: { kind: "replica", id }, message: migrateNow });
    this.emit({
      kind: "migrationExecuted",
      view: applied.request.view,
      seq,
      migrationNumber: applied.request.migrationNumber,
      trigger: applied.request.trigger,
      pairs: applied.pairs,
      stateDigest: own.message.stateDigest,
      stateSender,
    });
    if (sources.includes(this.config.replicaId)) {
      this.retire(seq);
      return;
    }
    const middleware = this.middleware!;
    this.emit({
      kind: "membershipChanged",
      members: middleware.members.map((m) => ({ ...m })),
      pairs: applied.pairs,
    });
    this.authenticateCertifiedMembers();
    // A retired source keeps no key with us; a new member without one gets an exchange now.
    if (this.keyExchange !== null)
      for (const pair of applied.pairs) this.applyKeyEffects(this.keyExchange.forget(pair.sourceNodeId));
    this.maintainKeys();
    this.trackRound(migrateNow, slot.acceptedAtMs);
    this.announceMembership(applied, seq);
    this.armMigrationTimer();
    this.afterEvidenceRound(applied.pairs);
  }

  /**
   * Keys with every other member's node and every registered standby: initiate where we hold
   * none, re-send pending initiations. Standbys too because a standby initiates only when it
   * registers or learns of a new member, and this replica may have lost its key in a restart.
   */
  private maintainKeys(): void {
    const table = this.keyExchange;
    const middleware = this.middleware;
    if (table === null || middleware === null) return;
    const peers: KeyPeer[] = middleware.members.map((member) => ({
      nodeId: member.nodeId,
      to: { kind: "replica", id: member.replicaId },
    }));
    for (const standby of middleware.registry.standbys())
      peers.push({ nodeId: standby.nodeId, to: { kind: "node", id: standby.nodeId } });
    this.applyKeyEffects(table.maintain(peers, this.config.replicaId));
  }

  private applyKeyEffects(effects: readonly KeyExchangeEffect[]): void {
    for (const effect of effects) {
      if (effect.kind === "send") this.emit({ kind: "send", to: effect.to, message: effect.message });
      else this.emit({ kind: "peerKey", nodeId: effect.nodeId, key: effect.key });
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
    const body = { view: this.viewCurrent, seq, checkpointDigest, pairs, replicaId: this.config.replicaId };
    return { type: "MigrateNow", ...body, signature: this.deps.migration!.sign(migrateNowSignedBytes(body)) };
  }

  /** Section 3.3: lazily to clients, at once when a new replica is primary; always to standbys. */
  private announceMembership(applied: AppliedMigration, seq: number): void {
    const middleware = this.middleware!;
    const body = {
      view: applied.request.view,
      seq,
      pairs: applied.pairs,
      members: middleware.members.map((m) => ({ ...m })),
      replicaId: this.config.replicaId,
    };
    this.membershipNotice = {
      type: "NewMembership",
      ...body,
      signature: this.deps.migration!.sign(newMembershipSignedBytes(body)),
    };
    this.notifiedClients.clear();
    this.noticeResentAtMs.clear();
    for (const standby of middleware.registry.standbys())
      this.emit({ kind: "send", to: { kind: "node", id: standby.nodeId }, message: this.membershipNotice });
    // Every known client at once, not only when the primary moved: MAC keys are per node, so a
    // client's requests fail authentication at each new target until it learns the membership,
    // and a target that rejects every PRE-PREPARE holding such requests cannot execute (it
    // lags until the next checkpoint). Found by the whole-system simulator (seed 3, --migrate).
    for (const clientId of this.clientTable.clientIds()) this.maybeNotifyClient(clientId, seq + 1);
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
    if (lastMs !== undefined && this.nowMsLast - lastMs < this.config.statusIntervalMs) return;
    if (lastMs === undefined && this.noticeResentAtMs.size >= CLIENTS_MAX) return;
    this.noticeResentAtMs.set(clientId, this.nowMsLast);
    // The certificate too: a client that missed several rounds cannot authenticate f+1 of our
    // notices for the latest one (its keys for the ids moved earlier are stale).
    const to = { kind: "client", id: clientId } as const;
    if (notice !== null) this.emit({ kind: "send", to, message: notice });
    if (certificate !== null) this.emit({ kind: "send", to, message: certificate });
  }

  /**
   * A MEMBERSHIP-CERTIFICATE from the CM or relayed by a peer: kept if the CM signed it and it is
   * newer than ours, then pushed to the clients and standbys (pushCertificate). The sender is not
   * authenticated (the wire skips the frame MAC for this type) and is trusted for nothing.
   */
  private onMembershipCertificate(from: Principal, message: MembershipCertificate): void {
    const settings = this.migrationSettings!;
    if (
      !membershipCertificateValid(
        message,
        this.replicaCount,
        settings.cmPublicKeys,
        this.deps.migration!.verify,
      )
    )
      return void this.drop("badSignature", from, message.type);
    if (this.certificate !== null && message.seq <= this.certificate.seq)
      return void this.drop("staleCertificate", from, message.type);
    this.certificate = message;
    this.certificateHeard.clear();
    this.certificateTicks = 0;
    this.pushCertificate();
    this.authenticateCertifiedMembers();
    this.maybeFetchLaggingState(false);
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
  private authenticateCertifiedMembers(): void {
    const certificate = this.certificate;
    const middleware = this.middleware;
    if (certificate === null || middleware === null || certificate.seq <= this.lastExecuted) return;
    if (certificate.seq <= (middleware.lastMigration?.seq ?? 0)) return;
    const moved = certificate.members.some((member) => middleware.nodeOf(member.replicaId) !== member.nodeId);
    if (!moved) return;
    this.emit({
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
    for (const clientId of this.clientTable.clientIds()) {
      if (!this.certificateHeard.has(clientId))
        this.emit({ kind: "send", to: { kind: "client", id: clientId }, message: certificate });
    }
    for (const standby of this.middleware!.registry.standbys())
      this.emit({ kind: "send", to: { kind: "node", id: standby.nodeId }, message: certificate });
  }

  /** Lazy notification (3.3): a client whose request executed after the MIGRATION-REQUEST. */
  private maybeNotifyClient(clientId: number, seq: number): void {
    const notice = this.membershipNotice;
    if (notice === null || seq <= notice.seq || this.notifiedClients.has(clientId)) return;
    if (this.notifiedClients.size >= CLIENTS_MAX) return;
    this.notifiedClients.add(clientId);
    this.emit({ kind: "send", to: { kind: "client", id: clientId }, message: notice });
  }

  private retire(seq: number): void {
    const settings = this.migrationSettings!;
    for (const timer of ["status", "viewChange", "stateTransfer", "migration"] as const)
      this.emit({ kind: "cancelTimer", timer });
    this.emit({ kind: "retire", replicaId: this.config.replicaId, nodeId: settings.nodeId, seq });
    this.retired = true;
    this.deps.log?.info({ replicaId: this.config.replicaId, seq }, "retired as a migration source");
  }

  /** Section 3.2: our MIGRATE-NOW to the round's targets and to every CM replica. */
  private sendMigrateNow(migrateNow: MigrateNow): void {
    for (const pair of migrateNow.pairs)
      this.emit({ kind: "send", to: { kind: "node", id: pair.targetNodeId }, message: migrateNow });
    const cmCount = this.migrationSettings!.cmPublicKeys.length;
    for (let cmId = 0; cmId < cmCount; cmId++)
      this.emit({ kind: "send", to: { kind: "cm", id: cmId }, message: migrateNow });
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
  private vouchSkippedRound(executedBefore: number): boolean {
    const last = this.middleware?.lastMigration ?? null;
    if (last === null || last.checkpointDigest === null || last.seq <= executedBefore) return false;
    if (this.roundsInFlight.some((round) => round.seq === last.seq)) return false;
    const nodeId = this.migrationSettings!.nodeId;
    const ours = last.pairs.find((pair) => pair.replicaId === this.config.replicaId);
    // Only the node that ran our id at n vouches: a source of an earlier round we skipped is no
    // longer an active replica, and its word must not count towards a target's 2f+1.
    if (
      ours !== undefined
        ? ours.sourceNodeId !== nodeId
        : this.middleware!.nodeOf(this.config.replicaId) !== nodeId
    )
      return false;
    this.metrics.skippedRoundsVouched++;
    const migrateNow = this.makeMigrateNow(last.seq, last.checkpointDigest, last.pairs);
    this.sendMigrateNow(migrateNow);
    if (ours !== undefined) {
      this.retire(last.seq);
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
      executedAtMs: this.nowMsLast,
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
    const settings = this.migrationSettings!;
    const known = this.peerMigrateNows[message.replicaId]!;
    // A round we hold a copy of, or one older than every round kept while the bound is reached.
    if (
      known.some((copy) => copy.seq === message.seq) ||
      (known.length >= MIGRATION_CHECKPOINTS_MAX && message.seq < known[0]!.seq)
    )
      return void this.drop("duplicate", from, message.type);
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
    if (key === undefined || !this.deps.migration!.verify(key, migrateNowSignedBytes(fields), signature))
      return void this.drop("badSignature", from, message.type);
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
      return void this.drop("staleMigrationDone", from, message.type);
    const expected = inFlight.migrateNow.pairs.find((pair) => pair.targetNodeId === from.id);
    if (expected === undefined || expected.replicaId !== message.replicaId)
      return void this.drop("senderMismatch", from, message.type);
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
  private noteTargetRunning(replicaId: number): void {
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
    this.collectCheckpoints(); // every target has the state: only the latest may still be needed
    if (inFlight.startMs === null) return; // a round we vouched for after state transfer: no Ts
    const latencyMs = Math.max(0, this.nowMsLast - inFlight.startMs);
    this.emit({ kind: "migrationCompleted", seq: inFlight.seq, latencyMs });
    this.emitAdmin(this.interval!.recordMigrationLatency(latencyMs));
  }

  private recordOrderExecute(durationMs: number): void {
    if (this.interval === null) return;
    this.emitAdmin(this.interval.recordOrderExecute(Math.max(0, durationMs)));
  }

  private emitAdmin(notifications: readonly AdminNotification[]): void {
    for (const notification of notifications) this.emit({ kind: "adminNotification", notification });
  }

  private armMigrationTimer(): void {
    const settings = this.migrationSettings;
    if (settings === null || !settings.proactive || this.retired) return;
    this.setTimer("migration", Math.max(settings.migrationTimeoutMsMin, this.interval!.nextTimeoutMs()));
  }

  private onMigrationTimer(): void {
    if (this.middleware === null) return;
    const waitMs = this.targetWaitMs();
    if (waitMs > 0) {
      this.metrics.migrationTimerHolds++;
      this.setTimer("migration", Math.min(waitMs, this.config.statusIntervalMs));
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
    const waitMsMax = this.migrationSettings!.targetWaitMsMax;
    let waitMs = 0;
    if (waitMsMax === 0) return waitMs;
    for (const inFlight of this.roundsInFlight)
      for (const nodeId of inFlight.pending)
        if (this.stillTarget(inFlight.migrateNow, nodeId))
          waitMs = Math.max(waitMs, inFlight.executedAtMs + waitMsMax - this.nowMsLast);
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
    const own = this.initVotes[this.config.replicaId];
    if (own === undefined || own.migrationNumber !== middleware.migrationNumber) return;
    const faulty = own.trigger === "onDemand" ? this.onDemandSources : null;
    const selection = middleware.expectedSelection(own.trigger, faulty);
    if (
      selection.ok &&
      initMatches(own, { ...selection, migrationNumber: own.migrationNumber, trigger: own.trigger })
    )
      return;
    this.initVotes[this.config.replicaId] = undefined;
    if (this.migrationPending?.migrationNumber === own.migrationNumber) {
      this.migrationPending = null;
      this.refreshViewChangeTimer(false);
    }
    this.startRound(own.trigger, faulty);
  }

  /** Section 3.4: the CM's signed request names the replicas to migrate at once. */
  private onOnDemandMigration(from: Principal, message: OnDemandMigration): void {
    const key = this.migrationSettings!.cmPublicKeys[message.cmId];
    const { signature, type: _type, ...fields } = message;
    if (
      key === undefined ||
      !this.deps.migration!.verify(key, onDemandMigrationSignedBytes(fields), signature)
    )
      return void this.drop("badSignature", from, message.type);
    const last = this.onDemandCounters.get(message.cmId);
    if (last !== undefined && message.counter <= last)
      return void this.drop("staleOnDemand", from, message.type);
    this.onDemandCounters.set(message.cmId, message.counter);
    this.onDemandSources = [...message.replicaIds];
    this.startRound("onDemand", this.onDemandSources);
  }

  /** Our INIT-MIGRATION for the current l (section 3.2, "How to Initiate"). */
  private startRound(trigger: InitMigration["trigger"], faulty: readonly number[] | null): void {
    const middleware = this.middleware!;
    const l = middleware.migrationNumber;
    const own = this.initVotes[this.config.replicaId];
    if (own !== undefined && own.migrationNumber === l && own.trigger === trigger) return;
    const selection = middleware.expectedSelection(trigger, faulty);
    if (!selection.ok) {
      this.emit({ kind: "migrationPostponed", reason: selection.reason });
      if (trigger === "timer") this.armMigrationTimer();
      return;
    }
    const body = {
      type: "InitMigration" as const,
      view: this.viewCurrent,
      migrationNumber: l,
      sources: [...selection.sources],
      targets: [...selection.targets],
      trigger,
      replicaId: this.config.replicaId,
    };
    const init: InitMigration = { ...body, auth: this.deps.migration!.authenticateInitMigration(body) };
    this.initVotes[this.config.replicaId] = init;
    this.metrics.initMigrationsSent++;
    this.emit({ kind: "broadcast", message: init });
    this.checkInitQuorum();
  }

  private onInitMigration(message: InitMigration): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    const middleware = this.middleware!;
    if (message.migrationNumber !== middleware.migrationNumber)
      return void this.drop("staleInit", from, message.type);
    const previous = this.initVotes[message.replicaId];
    if (
      previous !== undefined &&
      previous.migrationNumber === message.migrationNumber &&
      initMatches(previous, message)
    )
      return void this.drop("duplicate", from, message.type);
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
        return void this.drop("initMismatch", from, message.type);
    }
    // An on-demand INIT-MIGRATION before the CM's request reached us is kept (one slot per
    // replica) and counts only once our own, built from the CM's request, matches it.
    this.initVotes[message.replicaId] = message;
    this.takeParkedWithInit(message);
    const own = this.initVotes[this.config.replicaId];
    const ownCurrent = own !== undefined && own.migrationNumber === middleware.migrationNumber;
    if (!ownCurrent && expected.ok && this.countInitVotes(message) >= weakQuorumOf(this.config.f)) {
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
    const own = this.initVotes[this.config.replicaId];
    if (own === undefined || own.migrationNumber !== middleware.migrationNumber) return;
    if (this.migrationPending !== null && this.migrationPending.migrationNumber === own.migrationNumber)
      return;
    const proofs = this.initVotes
      .filter((vote): vote is InitMigration => vote !== undefined && initMatches(vote, own))
      .sort((a, b) => a.replicaId - b.replicaId)
      .slice(0, quorumOf(this.config.f));
    if (proofs.length < quorumOf(this.config.f)) return;
    const { migrationNumber, sources, targets, trigger } = own;
    this.migrationPending = {
      type: "MigrationRequest",
      view: this.viewCurrent,
      migrationNumber,
      sources,
      targets,
      trigger,
      proofs,
    };
    assert(
      proofsProblem(this.migrationPending, this.config.f) === null,
      "we build well-formed migration requests",
    );
    if (this.isPrimary && this.viewActive)
      this.enqueueSpecial({ kind: "migration", request: this.migrationPending });
    else this.refreshViewChangeTimer(false);
  }

  /** Each status tick: MIGRATE-NOW to silent targets (a crashed target retries), and our INIT-MIGRATION. */
  private retransmitMigration(): void {
    this.retryEvidenceRound();
    for (const inFlight of this.roundsInFlight) {
      if (inFlight.retransmits >= this.migrationSettings!.migrateNowRetransmitsMax) continue;
      inFlight.retransmits++;
      // A view change since: the target must start in the view we are in now (makeMigrateNow).
      if (this.viewActive && inFlight.migrateNow.view !== this.viewCurrent) {
        const { seq, checkpointDigest, pairs } = inFlight.migrateNow;
        inFlight.migrateNow = this.makeMigrateNow(seq, checkpointDigest, pairs);
      }
      const relayed = this.peerMigrateNows.flatMap((copies) =>
        copies.filter((copy) => sameRound(copy, inFlight.migrateNow)),
      );
      for (const nodeId of inFlight.pending)
        if (this.stillTarget(inFlight.migrateNow, nodeId))
          for (const copy of [inFlight.migrateNow, ...relayed])
            this.retransmit({ kind: "node", id: nodeId }, copy);
    }
    // Oldest round first: the CM applies rounds in seq order and drops a copy of one below the
    // latest it applied.
    for (const cmNotice of this.cmNotices) {
      if (cmNotice.retransmits >= this.migrationSettings!.migrateNowRetransmitsMax) continue;
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
      const cmCount = this.migrationSettings!.cmPublicKeys.length;
      for (let cmId = 0; cmId < cmCount; cmId++)
        for (const copy of [cmNotice.migrateNow, ...relayed]) this.retransmit({ kind: "cm", id: cmId }, copy);
    }
    const own = this.initVotes[this.config.replicaId];
    if (
      this.middleware !== null &&
      own !== undefined &&
      own.migrationNumber === this.middleware.migrationNumber
    ) {
      // Authenticated afresh: a peer that restarted, or a node that took an id over, keys us with
      // a new session key since we built it, and would drop the old authenticator every time.
      const { auth: _stale, ...body } = own;
      const fresh: InitMigration = { ...body, auth: this.deps.migration!.authenticateInitMigration(body) };
      this.initVotes[this.config.replicaId] = fresh;
      this.metrics.retransmissions++;
      this.emit({ kind: "broadcast", message: fresh });
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
  private signNewView(body: Omit<NewView, "signature">): Uint8Array {
    const migrationDeps = this.deps.migration;
    if (this.middleware === null || migrationDeps === undefined) return new Uint8Array(0);
    const { type: _type, ...fields } = body;
    return migrationDeps.sign(newViewSignedBytes(fields));
  }

  /** A NEW-VIEW from its view's primary failed verifyNewView; signed, it may be proof of a lie. */
  private accuseNewView(message: NewView): void {
    const middleware = this.middleware;
    if (middleware === null || message.signature.length === 0) return;
    const evidence: Evidence = {
      type: "Evidence",
      newView: message,
      offenderNodeId: middleware.nodeOf(message.replicaId),
      replicaId: this.config.replicaId,
    };
    this.considerEvidence({ kind: "replica", id: this.config.replicaId }, evidence);
  }

  /** A proof we found or a peer forwarded: verified from scratch, never on the sender's word. */
  private considerEvidence(from: Principal, evidence: Evidence): void {
    const middleware = this.middleware!;
    const staleness = this.offenders.staleness(evidence);
    if (staleness === "duplicate") return void this.drop("duplicate", from, evidence.type);
    if (staleness === "stale") return void this.drop("staleEvidence", from, evidence.type);
    const settings = this.migrationSettings!;
    const migrationDeps = this.deps.migration!;
    const verdict = verifyEvidence(evidence, {
      f: this.config.f,
      limits: this.limits,
      batchDigest: (body) => proposalDigest(body, this.deps),
      nodeOf: (replicaId) => middleware.nodeOf(replicaId),
      publicKeyOf: (nodeId) => settings.roster.find((entry) => entry.nodeId === nodeId)?.publicKey,
      verify: (key, bytes, signature) => migrationDeps.verify(key, bytes, signature),
    });
    if (!verdict.ok) {
      const reason = verdict.reason === "offenderMoved" ? "staleEvidence" : "badEvidence";
      return void this.drop(reason, from, `${evidence.type}: ${verdict.reason}`);
    }
    const record = this.offenders.record(evidence, verdict);
    this.metrics.evidenceAccepted++;
    this.emit({
      kind: "evidenceAccepted",
      offenderId: record.offenderId,
      offenderNodeId: record.nodeId,
      view: record.view,
      fault: verdict.fault,
    });
    this.deps.log?.info(
      { replicaId: this.config.replicaId, offenderId: record.offenderId, fault: verdict.fault },
      "evidence accepted",
    );
    // Peers that did not see the lie need the proof to check our INIT-MIGRATION's S.
    this.forwardEvidence(evidence);
    // The view we are changing to is led by a proven liar: its NEW-VIEW will never do, so move
    // on now rather than when the (backed-off) new-view timer expires. Starting a view change
    // early is always safe in PBFT; it only costs the liar its view.
    if (!this.viewActive && record.view === this.viewCurrent && record.offenderId === this.primary)
      this.startViewChange(this.viewCurrent + 1);
    this.startEvidenceRound();
  }

  private forwardEvidence(evidence: Evidence): void {
    const forwarded: Evidence = { ...evidence, replicaId: this.config.replicaId };
    if (!this.deps.migration!.fitsInFrame(forwarded)) return;
    this.emit({ kind: "broadcast", message: forwarded });
  }

  /**
   * Starts the on-demand round for the proven ids whose offending node still runs them, unless an
   * on-demand round (ours or the CM's) is under way: later offenders wait for the next one.
   */
  private startEvidenceRound(): void {
    const middleware = this.middleware!;
    if (this.retired) return;
    const live = this.offenders.liveIds((replicaId) => middleware.nodeOf(replicaId), this.config.f);
    if (live.length === 0) return;
    const own = this.initVotes[this.config.replicaId];
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
    this.offenders.migrated(pairs, this.viewCurrent);
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
    if (sources === null || this.evidenceRetransmits >= this.migrationSettings!.migrateNowRetransmitsMax)
      return;
    this.evidenceRetransmits++;
    for (const offenderId of sources) {
      const record = this.offenders.get(offenderId);
      if (record === undefined) continue;
      this.metrics.retransmissions++;
      this.forwardEvidence(record.evidence);
    }
  }

  private restoreMiddleware(bytes: Uint8Array): boolean {
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
    assert(this.restoreMiddleware(parts.middlewareBytes), "certified middleware restores");
    const middleware = this.middleware;
    assert(middleware !== null, "a promoted replica has migration settings");
    middleware.recordCheckpointDigest(installed.seq, installed.stateDigest);
    assert(
      middleware.nodeOf(this.config.replicaId) === this.migrationSettings!.nodeId,
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
    assert(
      this.partialExecution === null || this.partialExecution.seq === this.lastExecuted + 1,
      "only the next batch is ever partly executed",
    );
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
