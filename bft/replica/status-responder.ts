/**
 * The answer to a peer's STATUS (PBFT's status messages; the retransmission note at the top of
 * replica.ts): whatever the sender shows it lacks, resent from our own state. The NEW-VIEW of the
 * view it waits in, if we hold it; the NEW-VIEW, or our VIEW-CHANGE, if it is in an older view;
 * our CHECKPOINTs if it is below our stable checkpoint (so it can fetch the state); for each logged seq above its
 * lastExecuted our PREPARE and COMMIT, then the PRE-PREPARE, which the receiver takes only as a
 * relay (Replica.onRelayedPrePrepare); the same for a seq the peer executed in an earlier view and
 * this view re-proposed, while we lack its COMMIT; and, with migration, the latest migration
 * checkpoint and the CM's membership certificate. Reads the core only through StatusCore (replica-core.ts) and
 * changes nothing of it: every answer is a retransmission.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import type { PrePrepare, Principal, Status } from "../messages.js";
import type { StatusCore } from "./replica-core.js";
import type { Slot } from "./slot.js";
import { isCheckpointSeq } from "./watermarks.js";

/** A slot of the log with its PRE-PREPARE. */
type LoggedSlot = Readonly<Slot> & { readonly prePrepare: PrePrepare };

export class StatusResponder {
  private readonly core: StatusCore;
  /** Each replica's lastExecuted in its latest STATUS (-1 before any): the same twice means stuck. */
  private readonly peerLastExecuted: number[];

  constructor(core: StatusCore) {
    this.core = core;
    this.peerLastExecuted = new Array<number>(core.replicaCount).fill(-1);
  }

  onStatus(message: Status): void {
    const to: Principal = { kind: "replica", id: message.replicaId };
    this.resendAwaitedNewView(to, message);
    this.resendMigrationCheckpoint(to, message);
    // A peer behind the round our CM certificate names may have missed it (the CM sends it once):
    // with it, its wire authenticates the round's targets (authenticateCertifiedMembers).
    const certificate = this.core.membershipCertificate;
    if (certificate !== null && message.lastExecutedSeq < certificate.seq)
      this.core.retransmit(to, certificate);
    if (message.view !== this.core.view || !this.core.viewActive) {
      // CHECKPOINTs name no view: a peer behind us in execution gets them in any view, so it can
      // fetch the state it lacks. A replica that ran alone into a higher view while it lagged
      // otherwise hears nothing it can catch up from until the others reach that view (simulator
      // seed 36 of the migration runs), and by then a migration may have moved the ids it trusts.
      if (message.lastExecutedSeq < this.core.stableSeq) this.resendCheckpoints(to, message.stableSeq);
    }
    if (message.view > this.core.view) {
      // We learn of higher views from VIEW-CHANGEs; the peer may still execute with our COMMITs.
      this.resendCommits(to, message);
      return;
    }
    if (!this.core.viewActive) {
      const own = this.core.ownViewChange;
      if (own !== undefined) this.core.retransmit(to, own);
      this.resendOldViewVotes(to, message);
      this.resendCommits(to, message);
      return;
    }
    if (message.view < this.core.view) {
      if (this.core.newView !== null) this.core.retransmit(to, this.core.newView);
      this.resendOldViewVotes(to, message);
      return;
    }
    // A peer that reports the same lastExecuted twice is stuck on lost messages: resend even
    // if it is level with us, since what it misses may be the in-flight batches or CHECKPOINTs.
    const stuck = this.peerLastExecuted[message.replicaId] === message.lastExecutedSeq;
    this.peerLastExecuted[message.replicaId] = message.lastExecutedSeq;
    if (message.stableSeq < this.core.stableSeq || message.lastExecutedSeq < this.core.stableSeq || stuck)
      this.resendCheckpoints(to, message.stableSeq);
    if (message.lastExecutedSeq < this.core.lastExecutedSeq || stuck)
      this.resendLog(to, message.lastExecutedSeq);
    else if (message.replicaId !== this.core.primary) this.resendUnvoted(to, message);
    this.resendReproposed(to, message);
  }

  /**
   * Our COMMITs, in the views we sent them in, for seqs above the peer's lastExecuted, when the
   * peer is in a view change or we are: a replica in a view change still counts COMMITs of the
   * view it left for batches it prepared there (Replica.onCommitWhileViewChanging), and otherwise
   * nobody resends them once all have left that view.
   */
  private resendCommits(to: Principal, status: Status): void {
    this.resendVotes(to, this.loggedSlots("any", status.lastExecutedSeq + 1), { prepares: false });
  }

  /**
   * A retired source's answer (Replica.onInputWhileRetired), in whatever view the peer is: our
   * CHECKPOINTs above its stable checkpoint, and our PREPAREs and COMMITs above its lastExecuted,
   * up to our round, in the views we sent them in.
   */
  onStatusWhileRetired(message: Status): void {
    const to: Principal = { kind: "replica", id: message.replicaId };
    this.resendAwaitedNewView(to, message);
    this.resendMigrationCheckpoint(to, message);
    this.resendCheckpoints(to, message.stableSeq);
    this.resendVotes(to, this.loggedSlots("any", message.lastExecutedSeq + 1), { prepares: true });
  }

  /**
   * The NEW-VIEW of the view the peer is in but not yet active in (PBFT's status-pending), when we
   * hold it, whatever view we are in now. The peer missed it (a partition while the primary sent
   * it), and its view-change timer runs only once it holds 2f+1 VIEW-CHANGEs for that view, which
   * those who entered the view no longer send. Any holder may relay it: the receiver checks the
   * primary's signature and re-runs the decision. Migration soak seed 77043 (f=1, 8 clients): a
   * backup missed view 2's NEW-VIEW; the primary executed a round in view 2 and retired as its
   * source, the other backup moved on to view 3, the fourth replica was Byzantine, and the
   * service stopped for good.
   */
  private resendAwaitedNewView(to: Principal, status: Status): void {
    const newView = this.core.newView;
    if (!status.viewActive && newView !== null && newView.view === status.view)
      this.core.retransmit(to, newView);
  }

  /**
   * Our latest migration checkpoint, when it is off the interval, to a peer (in any view) that
   * has not executed its seq: the announcement at execution may have been lost, and the peer may
   * be unable to execute the round from the log (item 6 of docs/migration-progress.md).
   */
  private resendMigrationCheckpoint(to: Principal, status: Status): void {
    const seq = this.core.migrationCheckpointSeq;
    if (seq <= status.lastExecutedSeq || isCheckpointSeq(seq, this.core.config.checkpointIntervalSeqs))
      return;
    const checkpoint = this.core.checkpoint(seq);
    if (checkpoint !== undefined) this.core.retransmit(to, checkpoint);
  }

  private resendCheckpoints(to: Principal, aboveSeq: number): void {
    for (const checkpoint of this.core.checkpoints()) {
      if (checkpoint.seq > aboveSeq) this.core.retransmit(to, checkpoint);
    }
  }

  /** Resends our part of each logged seq above fromSeq: votes first, then the batch (a relay). */
  private resendLog(to: Principal, fromSeq: number): void {
    for (const slot of this.loggedSlots(this.core.view, fromSeq + 1)) this.resendSlot(to, slot);
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
    for (const slot of this.loggedSlots(this.core.view, status.lastExecutedSeq + 1)) {
      if (slot.committed) continue;
      if (slot.prepareVotes.has(status.replicaId) || slot.commitVotes.has(status.replicaId)) continue;
      this.resendSlot(to, slot);
    }
  }

  /**
   * A seq of our view that we have not committed and the peer executed, in an earlier view, whose
   * COMMIT we lack: the NEW-VIEW re-proposed it. The peer voted PREPARE on entering the view but
   * cannot prepare, let alone commit, if the others' PREPAREs came before its NEW-VIEW and it
   * dropped them as for another view; nor can we, if we executed the seq too and dropped theirs.
   * The rules above all start past the peer's lastExecuted, so nothing else brings it our votes,
   * and without its COMMIT the seq may lack a quorum (PBFT soak seed 20037: the primary of view 1
   * waited until its own view-change timer moved everyone on). Links are FIFO, so a COMMIT the
   * peer sent for a seq it executed came before this STATUS: missing, it was lost or never sent.
   * Resending our votes is safe: they are the same votes.
   */
  private resendReproposed(to: Principal, status: Status): void {
    for (const slot of this.loggedSlots(this.core.view, 0, status.lastExecutedSeq)) {
      if (slot.committed || slot.commitVotes.has(status.replicaId)) continue;
      this.resendSlot(to, slot);
    }
  }

  /**
   * Our slots of `view` (of any view, for "any") that hold a PRE-PREPARE, from fromSeq through
   * throughSeq, within what we logged: above our stable checkpoint, up to the highest seq we
   * pre-prepared inside the window.
   */
  private *loggedSlots(
    view: number | "any",
    fromSeq: number,
    throughSeq = Number.MAX_SAFE_INTEGER,
  ): Generator<LoggedSlot> {
    const seqLast = Math.min(
      this.core.maxPrePreparedSeq,
      this.core.stableSeq + this.core.config.logWindowSeqs,
      throughSeq,
    );
    for (let seq = Math.max(fromSeq, this.core.stableSeq + 1); seq <= seqLast; seq++) {
      const slot = this.core.slot(seq);
      if (slot !== undefined && slot.prePrepare !== null && (view === "any" || slot.view === view))
        yield slot as LoggedSlot;
    }
  }

  private resendSlot(to: Principal, slot: Readonly<Slot>): void {
    assert(
      slot.prePrepare !== null && slot.view === this.core.view,
      "resend a pre-prepared slot of our view",
    );
    const prePrepare = this.withLatestCopies(slot.prePrepare);
    const { view, seq, digest } = prePrepare;
    const replicaId = this.core.config.replicaId;
    if (this.core.isPrimary) this.core.retransmit(to, prePrepare);
    if (slot.prepareSent) this.core.retransmit(to, { type: "Prepare", view, seq, digest, replicaId });
    if (slot.commitSent) this.core.retransmit(to, { type: "Commit", view, seq, digest, replicaId });
    if (!this.core.isPrimary && slot.prepared) this.core.retransmit(to, prePrepare);
  }

  /**
   * The PRE-PREPARE with each request replaced by the latest copy its client sent us
   * (refreshPendingCopy). The digest covers the requests' contents, not their authenticators, so
   * the resent message names the same batch; only the receiver's chance to authenticate it grows.
   */
  private withLatestCopies(prePrepare: PrePrepare): PrePrepare {
    let changed = false;
    const requests = prePrepare.requests.map((request) => {
      const known = this.core.pendingRequest(request.clientId);
      if (known === undefined || known === request || known.timestamp !== request.timestamp) return request;
      if (!bytesEqual(this.core.deps.requestDigest(known), this.core.deps.requestDigest(request)))
        return request;
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
    this.resendVotes(to, this.loggedSlots(status.view, status.lastExecutedSeq + 1), { prepares: true });
  }

  /** Our COMMIT (and PREPARE, when `prepares`) for each slot, in the slot's view, where we sent it. */
  private resendVotes(
    to: Principal,
    slots: Iterable<LoggedSlot>,
    options: { readonly prepares: boolean },
  ): void {
    const replicaId = this.core.config.replicaId;
    for (const slot of slots) {
      const { seq, view } = slot;
      const digest = slot.prePrepare.digest;
      if (options.prepares && slot.prepareSent)
        this.core.retransmit(to, { type: "Prepare", view, seq, digest, replicaId });
      if (slot.commitSent) this.core.retransmit(to, { type: "Commit", view, seq, digest, replicaId });
    }
  }
}
