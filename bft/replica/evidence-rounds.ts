/**
 * Evidence of faulty replicas (paper section 3.4: "solid evidence that one or more replicas are
 * faulty, such as a lying primary"; evidence.ts says what counts), part of the migration role
 * (migration-role.ts). A proof we found or a peer forwarded is verified from scratch, recorded
 * (offenders.ts) and forwarded; it leads to exactly what a CM's on-demand request leads to: an
 * INIT-MIGRATION with trigger onDemand naming the offenders, which the role starts for us. Our
 * NEW-VIEWs are signed here so that a lying one can serve as such a proof against us.
 */
import type { Evidence, MigrationPair, NewView, Principal } from "../messages.js";
import { newViewSignedBytes, rosterPublicKey } from "../migration/index.js";
import type { MigrationSettings } from "./api.js";
import { proposalDigest } from "./batch-digest.js";
import { verifyEvidence } from "./evidence.js";
import type { Middleware } from "./middleware.js";
import { Offenders } from "./offenders.js";
import type { ReplicaCore } from "./replica-core.js";

export class EvidenceRounds {
  private readonly core: ReplicaCore;
  private readonly settings: MigrationSettings | null;
  private readonly middleware: Middleware | null;
  /** Our INIT-MIGRATION for the current l is an on-demand one (ours or the CM's round). */
  private readonly onDemandUnderWay: () => boolean;
  /** Starts the on-demand round that migrates `sources` (MigrationRole.startRound). */
  private readonly startOnDemandRound: (sources: readonly number[]) => void;
  /** Replicas proven faulty by evidence, and the round that migrates them. */
  private readonly offenders: Offenders;
  private evidenceSources: readonly number[] | null = null;
  private evidenceRetransmits = 0;

  constructor(
    core: ReplicaCore,
    migration: {
      readonly settings: MigrationSettings | null;
      readonly middleware: Middleware | null;
      readonly onDemandUnderWay: () => boolean;
      readonly startOnDemandRound: (sources: readonly number[]) => void;
    },
  ) {
    this.core = core;
    this.settings = migration.settings;
    this.middleware = migration.middleware;
    this.onDemandUnderWay = migration.onDemandUnderWay;
    this.startOnDemandRound = migration.startOnDemandRound;
    this.offenders = new Offenders(core.replicaCount);
  }

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
    this.consider({ kind: "replica", id: this.core.config.replicaId }, evidence);
  }

  /** A proof we found or a peer forwarded: verified from scratch, never on the sender's word. */
  consider(from: Principal, evidence: Evidence): void {
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
      publicKeyOf: (nodeId) => rosterPublicKey(settings.roster, nodeId),
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
    if (this.onDemandUnderWay()) return;
    this.evidenceSources = live;
    this.evidenceRetransmits = 0;
    this.startOnDemandRound(live);
  }

  /**
   * An executed round moved ids: proofs against their old nodes are spent. A proof still pending
   * starts its round on the next status tick (retry), not here: our INIT-MIGRATION's
   * authenticator is computed when we build it, and the host applies this round's membershipChanged
   * only after this step, so one built now would carry the retired nodes' MACs for the moved ids
   * and the targets would refuse it (found by the simulator, seed 58 with lyingNewPrimary).
   */
  afterRound(pairs: readonly MigrationPair[]): void {
    this.offenders.migrated(pairs, this.core.view);
    this.evidenceSources = null;
  }

  /**
   * Each status tick while an evidence round is pending: start it if it could not start (too few
   * standbys, or a CM round went first) and resend the proofs it rests on, a bounded number of times.
   */
  retry(): void {
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
}
