/**
 * The migration rounds a replica executed (or vouched for after state transfer) whose targets
 * have not all started, part of the migration role (migration-role.ts): our signed MIGRATE-NOW
 * (paper section 3.2, "State Transfer") to each round's targets and to the CM, resent each status
 * interval with the copies our peers signed; their checkpoints kept for the targets
 * (Replica.checkpointNeeded asks `has`); MIGRATION-DONE, or a STATUS from the promoted target, ends
 * the wait and measures Ts. At most MIGRATION_CHECKPOINTS_MAX rounds, CM notices and peer copies
 * per replica are kept.
 *
 * Without migration settings nothing reaches it: no round executes.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import type { MigrateNow, MigrationDone, MigrationPair, Principal } from "../messages.js";
import { migrateNowSignedBytes, rosterPublicKey } from "../migration/index.js";
import type { MigrationSettings } from "./api.js";
import type { Middleware } from "./middleware.js";
import type { ReplicaCore } from "./replica-core.js";
import { MIGRATION_CHECKPOINTS_MAX } from "./view-change.js";

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

export class RoundsInFlight {
  private readonly core: ReplicaCore;
  private readonly settings: MigrationSettings | null;
  private readonly middleware: Middleware | null;
  /** Ts of a round whose targets all started, for the interval controller (equation 2). */
  private readonly recordMigrationLatency: (latencyMs: number) => void;
  /**
   * Rounds we executed whose targets have not all sent MIGRATION-DONE, oldest first, at most
   * MIGRATION_CHECKPOINTS_MAX: their checkpoints stay for the targets past garbage collection and
   * their MIGRATE-NOWs are retransmitted. A new round gives up the oldest beyond the bound.
   */
  private readonly rounds: RoundInFlight[] = [];
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
   * when they match the round (retransmit). A source sends its MIGRATE-NOW once and
   * retires; when the target missed it, a peer's copy is the only one left. One copy per round,
   * not per peer: with two rounds in flight, a peer's copy of the later round must not replace
   * the one of the earlier round (migration CI seed 79: r0 signed both rounds and then lost its
   * memory; its copy of the first was gone at r1, whose relay was that target's third signer).
   */
  private readonly peerMigrateNows: MigrateNow[][];

  constructor(
    core: ReplicaCore,
    migration: {
      readonly settings: MigrationSettings | null;
      readonly middleware: Middleware | null;
      readonly recordMigrationLatency: (latencyMs: number) => void;
    },
  ) {
    this.core = core;
    this.settings = migration.settings;
    this.middleware = migration.middleware;
    this.recordMigrationLatency = migration.recordMigrationLatency;
    this.peerMigrateNows = Array.from({ length: core.replicaCount }, () => []);
  }

  /** A round executed at seq still has targets that may fetch its checkpoint. */
  has(seq: number): boolean {
    return this.rounds.some((round) => round.seq === seq);
  }

  /** No round has a pending target (Replica.onMessage skips noteTargetRunning then). */
  get isEmpty(): boolean {
    return this.rounds.length === 0;
  }

  /**
   * MIGRATE-NOW names the view we are in, not the MIGRATION-REQUEST's: the target starts as a
   * backup in that view (Replica.promoted). A view change between the request and its execution
   * would otherwise leave the target in an older view whose successors' NEW-VIEWs it can never
   * verify: their VIEW-CHANGEs were signed by the nodes that ran the ids then, among them the
   * source it replaces, whose key it no longer holds for that id (simulator seeds 7, 17, 21, 26,
   * 28, 52 of the migration runs: the target stayed out of the view and the quorum was lost).
   */
  makeMigrateNow(seq: number, checkpointDigest: Uint8Array, pairs: readonly MigrationPair[]): MigrateNow {
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

  /** Section 3.2: our MIGRATE-NOW to the round's targets and to every CM replica. */
  sendMigrateNow(migrateNow: MigrateNow): void {
    for (const pair of migrateNow.pairs)
      this.core.emit({ kind: "send", to: { kind: "node", id: pair.targetNodeId }, message: migrateNow });
    const cmCount = this.settings!.cmPublicKeys.length;
    for (let cmId = 0; cmId < cmCount; cmId++)
      this.core.emit({ kind: "send", to: { kind: "cm", id: cmId }, message: migrateNow });
  }

  /**
   * A round we executed or vouched for, kept while its targets are pending (MIGRATE-NOW resends,
   * relays, the target wait) and noticed to the CM; the oldest one in flight is given up to keep
   * MIGRATION_CHECKPOINTS_MAX. `startMs`: when its MIGRATION-REQUEST was accepted, null if we
   * passed the round by state transfer (no migration latency to measure).
   */
  trackRound(migrateNow: MigrateNow, startMs: number | null): void {
    this.makeRoomForRound();
    this.rounds.push({
      seq: migrateNow.seq,
      startMs,
      migrateNow,
      pending: new Set(migrateNow.pairs.map((pair) => pair.targetNodeId)),
      retransmits: 0,
      executedAtMs: this.core.nowMs,
    });
    assert(this.rounds.length <= MIGRATION_CHECKPOINTS_MAX, "rounds in flight bounded");
    this.noticeCm(migrateNow);
  }

  makeRoomForRound(): void {
    while (this.rounds.length >= MIGRATION_CHECKPOINTS_MAX) this.rounds.shift();
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
  onPeerMigrateNow(from: Principal, message: MigrateNow): void {
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
      ...this.rounds.map((round) => round.migrateNow),
      ...this.cmNotices.map((n) => n.migrateNow),
    ].find((copy) => copy.seq === message.seq);
    const source = ownCopy?.pairs.find((pair) => pair.replicaId === message.replicaId);
    const signer = source?.sourceNodeId ?? this.middleware!.nodeOf(message.replicaId);
    const key = rosterPublicKey(settings.roster, signer);
    const { type: _type, signature, ...fields } = message;
    if (key === undefined || !this.core.deps.migration!.verify(key, migrateNowSignedBytes(fields), signature))
      return void this.core.drop("badSignature", from, message.type);
    known.push(message);
    known.sort((a, b) => a.seq - b.seq);
    while (known.length > MIGRATION_CHECKPOINTS_MAX) known.shift();
    assert(known.length <= MIGRATION_CHECKPOINTS_MAX, "peer MIGRATE-NOWs are bounded");
  }

  /** Ts: from our PRE-PREPARE of the MIGRATION-REQUEST to the last target's MIGRATION-DONE (3.2). */
  onMigrationDone(from: Principal, message: MigrationDone): void {
    const index = this.rounds.findIndex((round) => round.seq === message.seq);
    const inFlight = this.rounds[index];
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
    for (const inFlight of [...this.rounds])
      if (
        inFlight.pending.has(nodeId) &&
        inFlight.migrateNow.pairs.some((pair) => pair.replicaId === replicaId && pair.targetNodeId === nodeId)
      )
        this.targetDone(inFlight, nodeId);
  }

  private targetDone(inFlight: RoundInFlight, nodeId: number): void {
    inFlight.pending.delete(nodeId);
    if (inFlight.pending.size > 0) return;
    const index = this.rounds.indexOf(inFlight);
    assert(index >= 0, "a round in flight is listed");
    this.rounds.splice(index, 1);
    this.core.collectCheckpoints(); // every target has the state: only the latest may still be needed
    if (inFlight.startMs === null) return; // a round we vouched for after state transfer: no Ts
    const latencyMs = Math.max(0, this.core.nowMs - inFlight.startMs);
    this.core.emit({ kind: "migrationCompleted", seq: inFlight.seq, latencyMs });
    this.recordMigrationLatency(latencyMs);
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
  targetWaitMs(): number {
    const waitMsMax = this.settings!.targetWaitMsMax;
    let waitMs = 0;
    if (waitMsMax === 0) return waitMs;
    for (const inFlight of this.rounds)
      for (const nodeId of inFlight.pending)
        if (this.stillTarget(inFlight.migrateNow, nodeId))
          waitMs = Math.max(waitMs, inFlight.executedAtMs + waitMsMax - this.core.nowMs);
    return waitMs;
  }

  /**
   * Each status tick: our MIGRATE-NOW, with the peers' copies of the same round, to the targets
   * that have not started (a crashed target retries), and to the CM.
   */
  retransmit(): void {
    for (const inFlight of this.rounds) {
      if (inFlight.retransmits >= this.settings!.migrateNowRetransmitsMax) continue;
      inFlight.retransmits++;
      // A view change since: the target must start in the view we are in now (makeMigrateNow).
      if (this.core.viewActive && inFlight.migrateNow.view !== this.core.view) {
        const { seq, checkpointDigest, pairs } = inFlight.migrateNow;
        inFlight.migrateNow = this.makeMigrateNow(seq, checkpointDigest, pairs);
      }
      const relayed = this.peerCopiesOf(inFlight.migrateNow);
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
      const relayed = this.peerCopiesOf(cmNotice.migrateNow);
      const cmCount = this.settings!.cmPublicKeys.length;
      for (let cmId = 0; cmId < cmCount; cmId++)
        for (const copy of [cmNotice.migrateNow, ...relayed])
          this.core.retransmit({ kind: "cm", id: cmId }, copy);
    }
  }

  /** The peers' signed MIGRATE-NOWs of the same round that we keep for relaying. */
  private peerCopiesOf(migrateNow: MigrateNow): MigrateNow[] {
    return this.peerMigrateNows.flatMap((copies) => copies.filter((copy) => sameRound(copy, migrateNow)));
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
