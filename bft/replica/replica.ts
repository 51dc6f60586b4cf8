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
import { CLIENT_QUEUE_MAX, REQUEST_BATCH_MAX } from "../limits.js";
import type {
  Checkpoint,
  Commit,
  FetchState,
  Message,
  NewView,
  PrePrepare,
  Prepare,
  Principal,
  ReplicaMessage,
  Request,
  StateChunk,
  Status,
  ViewChange,
} from "../messages.js";
import type { CoreDeps, Effect, ExecutedRequest, ReplicaConfig, ReplicaInput, TimerId } from "./api.js";
import { batchDigestOfRequests } from "./batch-digest.js";
import { bytesEqual } from "./bytes.js";
import { ClientTable } from "./client-table.js";
import { validateReplicaConfig } from "./config.js";
import { type DropReason, newReplicaMetrics, type ReplicaMetrics } from "./metrics.js";
import { type DecidedCheckpoint, decideNewView, type NewViewDecision } from "./new-view.js";
import { primaryOf, quorumOf, replicaCountOf, VoteSet, weakQuorumOf } from "./quorum.js";
import { RequestQueue } from "./request-queue.js";
import { encodeState, stateDigestOf, stateMatchesDigest } from "./state-encoding.js";
import { type FetchRequest, StateFetch, stateChunkOf } from "./state-transfer.js";
import {
  buildViewChangeBody,
  type LoggedBatch,
  type ViewChangeLimits,
  viewChangeProblem,
  withPrePrepared,
} from "./view-change.js";
import { inWindow, isCheckpointSeq } from "./watermarks.js";

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
}

/** One of our own checkpoints, kept until a later one is stable so we can serve state transfer. */
interface OwnCheckpoint {
  readonly message: Checkpoint;
  readonly clientTableBytes: Uint8Array;
  readonly appSnapshot: AppSnapshot;
  /** The encoded state, built on the first FETCH-STATE for it. */
  stateBytes: Uint8Array | null;
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

  private readonly checkpoints = new Map<number, OwnCheckpoint>();
  private readonly checkpointVotes = new Map<number, VoteSet>();
  /** Each replica's highest CHECKPOINT above our window: enough to learn we fell behind. */
  private readonly checkpointsAhead: (Checkpoint | undefined)[];
  private lastExecutedAtStatus = 0;
  private lagSeqAtStatus = 0;
  private readonly peerLastExecuted: number[];

  /** Each replica's latest VIEW-CHANGE (ours included). */
  private readonly viewChanges: (ViewChange | undefined)[];
  private newViewMessage: NewView | null = null;
  private failedViewChanges = 0;
  private viewChangeTimerArmed = false;

  private stateFetch: StateFetch | null = null;

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
    this.viewChanges = new Array<ViewChange | undefined>(this.replicaCount).fill(undefined);
    this.peerLastExecuted = new Array<number>(this.replicaCount).fill(-1);
    this.clientTable = new ClientTable();
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

  /** Arms the initial timers. */
  start(nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    this.setTimer("status", this.config.statusIntervalMs);
    return this.takeEffects();
  }

  step(input: ReplicaInput, nowMs: number): Effect[] {
    this.advanceClock(nowMs);
    assert(this.effects.length === 0, "effects drained between steps");
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
    if (!this.checkReplicaSender(from, message)) return;
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
        this.onNewView(message);
        return;
      case "Status":
        this.onStatus(message);
        return;
      case "FetchState":
        this.onFetchState(message);
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
    if (message.type !== "PrePrepare" && message.replicaId !== from.id) {
      return this.drop("senderMismatch", from, message.type);
    }
    // FETCH-STATE may come from a standby outside 0..3f (migration reuses state transfer).
    const known = from.id >= 0 && from.id < this.replicaCount;
    if (from.id === this.config.replicaId || (!known && message.type !== "FetchState")) {
      return this.drop("unknownReplica", from, message.type);
    }
    return true;
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
    if (!this.viewActive) {
      this.rememberPending(from, request);
      return;
    }
    if (this.isPrimary) this.acceptRequestAsPrimary(from, request);
    else this.acceptRequestAsBackup(from, request);
  }

  private acceptRequestAsPrimary(from: Principal, request: Request): void {
    assert(this.isPrimary && this.viewActive, "primary in an active view");
    const proposed = this.proposedTimestamps.get(request.clientId);
    if (proposed !== undefined && proposed >= request.timestamp) {
      return void this.drop("duplicateRequest", from, "Request");
    }
    if (this.queue.full()) return void this.drop("queueFull", from, "Request");
    if (!this.rememberPending(from, request)) return;
    this.queue.push(request);
    this.proposedTimestamps.set(request.clientId, request.timestamp);
    this.tryPropose();
  }

  private acceptRequestAsBackup(from: Principal, request: Request): void {
    assert(!this.isPrimary && this.viewActive, "backup in an active view");
    const known = this.pending.get(request.clientId);
    const isNew = known === undefined || known.timestamp < request.timestamp;
    if (!this.rememberPending(from, request)) return;
    if (from.kind === "replica") return; // a relay meant for a primary we do not know yet
    // Relay to the primary even when already known: a client retransmits when the primary
    // missed its request (PBFT section 4.1), and the view-change timer watches the outcome.
    this.emit({ kind: "send", to: { kind: "replica", id: this.primary }, message: request });
    if (isNew) this.refreshViewChangeTimer(false);
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
    if (!this.viewActive || !this.isPrimary) return;
    const highSeq = this.stable + this.config.logWindowSeqs;
    while (
      this.queue.length > 0 &&
      this.seqNext - 1 - this.lastExecuted < this.config.batchInflightMax &&
      this.seqNext <= highSeq
    ) {
      const requests = this.takeBatch();
      if (requests.length === 0) break;
      this.propose(requests);
    }
    assert(this.seqNext - 1 <= highSeq, "never propose above the high watermark");
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

  private propose(requests: readonly Request[]): void {
    assert(this.isPrimary && this.viewActive, "only an active primary proposes");
    assert(requests.length > 0 && requests.length <= this.config.batchSizeMax, "batch size in range");
    const seq = this.seqNext++;
    const prePrepare: PrePrepare = {
      type: "PrePrepare",
      view: this.viewCurrent,
      seq,
      digest: batchDigestOfRequests(requests, this.deps),
      requests,
    };
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
    if (fromId !== this.primary) {
      this.onRelayedPrePrepare(from, message);
      return;
    }
    const slot = this.slotFor(message.seq);
    if (slot.prePrepare !== null) {
      const same = bytesEqual(slot.prePrepare.digest, message.digest);
      return void this.drop(same ? "duplicate" : "conflictingPrePrepare", from, message.type);
    }
    if (!bytesEqual(batchDigestOfRequests(message.requests, this.deps), message.digest)) {
      return void this.drop("badDigest", from, message.type);
    }
    this.acceptPrePrepare(slot, message);
  }

  /** A PRE-PREPARE resent by a backup: see the retransmission note at the top of this file. */
  private onRelayedPrePrepare(from: Principal, message: PrePrepare): void {
    const slot = this.log.get(message.seq);
    if (slot === undefined || slot.view !== this.viewCurrent)
      return void this.drop("relayUncertified", from, "relay");
    if (slot.prePrepare !== null) return void this.drop("duplicate", from, "relay");
    const f = this.config.f;
    const certified =
      slot.commitVotes.countMatching(message.digest) >= weakQuorumOf(f) ||
      slot.prepareVotes.countMatching(message.digest) >= 2 * f;
    if (!certified) return void this.drop("relayUncertified", from, "relay");
    if (!bytesEqual(batchDigestOfRequests(message.requests, this.deps), message.digest)) {
      return void this.drop("badDigest", from, "relay");
    }
    this.acceptPrePrepare(slot, message);
  }

  private acceptPrePrepare(slot: Slot, message: PrePrepare): void {
    assert(slot.prePrepare === null && slot.view === message.view, "accept once per (view, seq)");
    assert(slot.seq === message.seq, "slot matches seq");
    slot.prePrepare = message;
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
    this.checkPrepared(slot);
  }

  private onCommit(message: Commit): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (!this.checkNormalCase(from, message.type, message.view, message.seq)) return;
    const slot = this.slotFor(message.seq);
    const added = slot.commitVotes.add(message.replicaId, message.digest);
    if (added !== "added")
      return void this.drop(added === "duplicate" ? "duplicate" : "conflictingVote", from, message.type);
    this.checkCommitted(slot);
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
    this.preparedSet.set(slot.seq, { view: slot.view, digest, requests: slot.prePrepare.requests });
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
      };
      this.log.set(seq, slot);
    }
    assert(this.log.size <= this.config.logWindowSeqs, "log bounded by the window");
    return slot;
  }

  private recordPrePrepared(message: PrePrepare): void {
    const batch: LoggedBatch = { view: message.view, digest: message.digest, requests: message.requests };
    this.prePreparedSet.set(message.seq, withPrePrepared(this.prePreparedSet.get(message.seq), batch));
    if (message.seq > this.maxPrePreparedSeq) this.maxPrePreparedSeq = message.seq;
    assert(this.prePreparedSet.size <= this.config.logWindowSeqs, "Q set bounded by the window");
  }

  // ---------------------------------------------------------------------------------------------
  // Execution and replies (PBFT section 4.2, last paragraph)

  private executeReady(): void {
    let progressed = false;
    for (;;) {
      const slot = this.log.get(this.lastExecuted + 1);
      if (slot === undefined || !slot.committed) break;
      this.executeSlot(slot);
      progressed = true;
    }
    if (!progressed) return;
    if (this.stateFetch !== null && this.lastExecuted >= this.stateFetch.seq) this.abandonStateTransfer();
    this.tryPropose();
    this.refreshViewChangeTimer(true);
  }

  private executeSlot(slot: Slot): void {
    const prePrepare = slot.prePrepare;
    assert(prePrepare !== null && slot.committed, "execute committed batches only");
    assert(slot.seq === this.lastExecuted + 1, "execute in seq order");
    const results: ExecutedRequest[] = [];
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
    }
    this.lastExecuted = slot.seq;
    this.metrics.batchesExecuted++;
    this.metrics.requestsExecuted += results.length;
    if (results.length > 0) this.failedViewChanges = 0;
    this.emit({ kind: "executed", view: slot.view, seq: slot.seq, digest: prePrepare.digest, results });
    if (isCheckpointSeq(slot.seq, this.config.checkpointIntervalSeqs)) this.takeCheckpoint(slot.seq);
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
    const stateDigest = stateDigestOf(clientTableBytes, appSnapshot.digest, this.deps);
    const message: Checkpoint = { type: "Checkpoint", seq, stateDigest, replicaId: this.config.replicaId };
    const own: OwnCheckpoint = { message, clientTableBytes, appSnapshot, stateBytes: null };
    this.checkpoints.set(seq, own);
    assert(
      this.checkpoints.size <= this.config.logWindowSeqs / this.config.checkpointIntervalSeqs + 2,
      "own checkpoints bounded",
    );
    return own;
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
    if (message.seq === 0 || !isCheckpointSeq(message.seq, this.config.checkpointIntervalSeqs)) {
      return void this.drop("badCheckpointSeq", from, message.type);
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
    for (const logged of this.checkpoints.keys()) if (logged < seq) this.checkpoints.delete(logged);
    for (const logged of this.checkpointVotes.keys()) if (logged <= seq) this.checkpointVotes.delete(logged);
    this.admitCheckpointsAhead();
    this.metrics.checkpointsStable++;
    this.emit({ kind: "stableCheckpoint", seq, stateDigest });
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
    for (const message of this.checkpointsAhead) {
      if (message === undefined) continue;
      const holders = this.checkpointsAhead
        .filter((other) => other?.seq === message.seq && bytesEqual(other.stateDigest, message.stateDigest))
        .map((other) => other!.replicaId);
      consider(message.seq, message.stateDigest, holders);
    }
    return best;
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

  private onFetchState(message: FetchState): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    const own = this.checkpoints.get(message.seq);
    if (own === undefined || !bytesEqual(own.message.stateDigest, message.stateDigest)) {
      return void this.drop("unknownCheckpoint", from, message.type);
    }
    own.stateBytes ??= encodeState({
      clientTableBytes: own.clientTableBytes,
      appDigest: own.appSnapshot.digest,
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
    if (!this.deps.app.restore(parts.appBytes)) {
      this.rejectFetchedCopy();
      return;
    }
    const appSnapshot = this.deps.app.checkpoint();
    assert(bytesEqual(appSnapshot.digest, parts.appDigest), "the app restored the digest it promised");
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
    // The certified state is at least as good as a stable checkpoint for our own GC: we hold it.
    this.advanceStable(fetch.seq, fetch.stateDigest);
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
    const hasWork = this.pending.size > 0 || this.maxPrePreparedSeq > this.lastExecuted;
    if (this.isPrimary || !hasWork) {
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
      (this.isPrimary || (this.pending.size === 0 && this.maxPrePreparedSeq <= this.lastExecuted))
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
    const viewChange: ViewChange = { ...body, signature: this.deps.signViewChange(body) };
    this.viewChanges[this.config.replicaId] = viewChange;
    this.emit({ kind: "broadcast", message: viewChange });
    if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
    this.viewChangeTimerArmed = false;
    this.armNewViewTimer();
    this.deps.log?.info({ replicaId: this.config.replicaId, view: newView }, "view change started");
    if (this.primary === this.config.replicaId) this.tryNewView();
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
    if (previous !== undefined && previous.newView >= message.newView)
      return void this.drop("duplicate", from, message.type);
    this.viewChanges[message.replicaId] = message;
    if (message.newView > this.viewCurrent) this.maybeJoinViewChange();
    else this.armNewViewTimer();
    if (!this.viewActive && this.primary === this.config.replicaId) this.tryNewView();
  }

  /**
   * Waiting for NEW-VIEW is bounded, but the timer starts only once 2f+1 replicas (us included)
   * asked for this view, so a replica cannot race ahead alone (PBFT section 4.5.2, liveness rule
   * 1). Each failed attempt doubles the wait.
   */
  private armNewViewTimer(): void {
    if (this.viewActive || this.viewChangeTimerArmed) return;
    if (this.collectedViewChanges(this.viewCurrent).length < quorumOf(this.config.f)) return;
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
      batchDigest: (requests) => batchDigestOfRequests(requests, this.deps),
    });
  }

  /** New primary: with 2f+1 VIEW-CHANGEs (all we have, to make the decision likelier), decide. */
  private tryNewView(): void {
    assert(!this.viewActive && this.primary === this.config.replicaId, "only the new primary decides");
    const viewChanges = this.collectedViewChanges(this.viewCurrent);
    if (viewChanges.length < quorumOf(this.config.f)) return;
    const decision = this.decide(this.viewCurrent, viewChanges);
    if (decision === null) return; // wait for more VIEW-CHANGEs
    const newView: NewView = {
      type: "NewView",
      view: this.viewCurrent,
      viewChanges,
      prePrepares: decision.batches.map((batch) => ({
        type: "PrePrepare",
        view: this.viewCurrent,
        seq: batch.seq,
        digest: batch.digest,
        requests: batch.requests,
      })),
      replicaId: this.config.replicaId,
    };
    this.emit({ kind: "broadcast", message: newView });
    this.enterView(newView, decision);
  }

  private onNewView(message: NewView): void {
    const from: Principal = { kind: "replica", id: message.replicaId };
    if (message.view < this.viewCurrent || (message.view === this.viewCurrent && this.viewActive)) {
      return void this.drop("staleNewView", from, message.type);
    }
    if (message.replicaId !== primaryOf(message.view, this.replicaCount)) {
      return void this.drop("wrongPrimary", from, message.type);
    }
    const decision = this.verifyNewView(message);
    if (decision === null) return void this.drop("badNewView", from, message.type);
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
    this.newViewMessage = message;
    this.log.clear();
    this.viewChanges.forEach((viewChange, replicaId) => {
      if (viewChange !== undefined && viewChange.newView <= message.view)
        this.viewChanges[replicaId] = undefined;
    });
    if (this.viewChangeTimerArmed) this.emit({ kind: "cancelTimer", timer: "viewChange" });
    this.viewChangeTimerArmed = false;
    this.metrics.viewsEntered++;
    this.emit({ kind: "viewEntered", view: message.view, primary: message.replicaId });
    this.adoptDecidedCheckpoint(decision.checkpoint);
    this.maxPrePreparedSeq = Math.min(this.maxPrePreparedSeq, this.lastExecuted);
    for (const batch of decision.batches) {
      if (!inWindow(batch.seq, this.stable, this.config.logWindowSeqs)) continue;
      const prePrepare: PrePrepare = {
        type: "PrePrepare",
        view: message.view,
        seq: batch.seq,
        digest: batch.digest,
        requests: batch.requests,
      };
      this.acceptPrePrepare(this.slotFor(batch.seq), prePrepare);
    }
    const decidedSeqMax = decision.batches.at(-1)?.seq ?? decision.checkpoint.seq;
    if (this.isPrimary) this.becomePrimary(decidedSeqMax, decision);
    else this.becomeBackup();
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
    }
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

  private onStatusTimer(): void {
    const status: Status = {
      type: "Status",
      view: this.viewCurrent,
      lastExecutedSeq: this.lastExecuted,
      stableSeq: this.stable,
      replicaId: this.config.replicaId,
    };
    this.emit({ kind: "broadcast", message: status });
    this.setTimer("status", this.config.statusIntervalMs);
    // Stalled: no execution over a whole interval while a certified checkpoint ahead was already
    // known at the previous tick, so retransmission had one interval to bring the log.
    const target = this.certifiedCheckpointAhead();
    const stalled =
      this.lastExecuted === this.lastExecutedAtStatus && target !== null && target.seq <= this.lagSeqAtStatus;
    this.lastExecutedAtStatus = this.lastExecuted;
    this.lagSeqAtStatus = target?.seq ?? 0;
    this.maybeFetchLaggingState(stalled);
  }

  private onStatus(message: Status): void {
    const to: Principal = { kind: "replica", id: message.replicaId };
    if (message.view > this.viewCurrent) return; // we learn of higher views from VIEW-CHANGEs
    if (!this.viewActive) {
      const own = this.viewChanges[this.config.replicaId];
      if (own !== undefined) this.retransmit(to, own);
      return;
    }
    if (message.view < this.viewCurrent) {
      if (this.newViewMessage !== null) this.retransmit(to, this.newViewMessage);
      return;
    }
    // A peer that reports the same lastExecuted twice is stuck on lost messages: resend even
    // if it is level with us, since what it misses may be the in-flight batches or CHECKPOINTs.
    const stuck = this.peerLastExecuted[message.replicaId] === message.lastExecutedSeq;
    this.peerLastExecuted[message.replicaId] = message.lastExecutedSeq;
    if (message.stableSeq < this.stable || message.lastExecutedSeq < this.stable || stuck) {
      for (const own of this.checkpoints.values()) {
        if (own.message.seq > message.stableSeq) this.retransmit(to, own.message);
      }
    }
    if (message.lastExecutedSeq < this.lastExecuted || stuck) this.resendLog(to, message.lastExecutedSeq);
  }

  /** Resends our part of each logged seq above fromSeq: votes first, then the batch (a relay). */
  private resendLog(to: Principal, fromSeq: number): void {
    const seqLast = Math.min(this.maxPrePreparedSeq, this.stable + this.config.logWindowSeqs);
    for (let seq = Math.max(fromSeq, this.stable) + 1; seq <= seqLast; seq++) {
      const slot = this.log.get(seq);
      if (slot === undefined || slot.prePrepare === null || slot.view !== this.viewCurrent) continue;
      const { view, digest } = slot.prePrepare;
      const replicaId = this.config.replicaId;
      if (this.isPrimary) this.retransmit(to, slot.prePrepare);
      if (slot.prepareSent) this.retransmit(to, { type: "Prepare", view, seq, digest, replicaId });
      if (slot.commitSent) this.retransmit(to, { type: "Commit", view, seq, digest, replicaId });
      if (!this.isPrimary && slot.prepared) this.retransmit(to, slot.prePrepare);
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

  private checkInvariants(): void {
    assert(this.stable <= this.lastExecuted, "stable checkpoint never ahead of execution");
    assert(this.lastExecuted <= this.stable + this.config.logWindowSeqs, "execution stays inside the window");
    assert(this.log.size <= this.config.logWindowSeqs, "log bounded");
    assert(this.checkpoints.has(this.stable), "we hold the stable checkpoint");
    assert(
      this.pending.size <= CLIENT_QUEUE_MAX && this.queue.length <= CLIENT_QUEUE_MAX,
      "request tables bounded",
    );
  }
}
