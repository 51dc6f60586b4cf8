/**
 * Proves the replica core's check of the INIT-MIGRATION proofs inside a MIGRATION-REQUEST
 * PRE-PREPARE (paper section 3.2: a MIGRATION-REQUEST carries 2f+1 replicas' INIT-MIGRATIONs):
 * a backup that cannot authenticate a proof (its sender or the backup restarted without memory
 * since, so the session keys it was MACed under are gone) does not prepare the entry on the
 * primary's word; it parks it and takes it once it holds that INIT-MIGRATION from its sender, or
 * once 2f PREPAREs or f+1 COMMITs from others vouch for it (a correct replica authenticated the
 * proofs first). Checked at the wire before, such a PRE-PREPARE was dropped for good (migration
 * CI seeds 30, 79 and 107).
 * A replica that built the request and later receives a different vote from one of its proofs'
 * signers (the signer restarted, or switched between a timer and an on-demand round) builds it
 * again from the current votes: its peers hold the new vote and, after a restart, nobody can
 * check the old proof's authenticator, so every primary re-proposed a request its backups parked
 * for good, ahead of all batches, and views timed out in turn (migration soak seed 61109).
 * A MIGRATION-REQUEST that a NEW-VIEW carries is the new primary's barrier, as one it proposed
 * itself would be (migration soak seed 61096).
 * How: the in-memory MigrationCluster; its `initMigrationAuthentic` hook stands for the wire's
 * MAC check, and envelopes are held back to control which votes reach the backup.
 */
import { describe, expect, it } from "vitest";
import type { Message } from "../../bft/messages.js";
import { type Envelope, MigrationCluster } from "./migration-harness.js";
import { makeRequest } from "./replica-harness.js";

const TIMEOUT_MS = 500; // Tw0 = p0 * Toe0 = 10 * 50 ms
const BACKUP = 2;

function load(cluster: MigrationCluster): void {
  for (let timestamp = 1; timestamp <= 2; timestamp++) {
    cluster.request(makeRequest(1, timestamp));
    cluster.deliverAll();
  }
}

/**
 * Replica 2 cannot verify replica 0's authenticator entry, and replica 0's INIT-MIGRATION never
 * reaches it directly; the votes on the MIGRATION-REQUEST's seq sent to replica 2 are held back
 * (`held`) until the test releases them.
 */
function setUp(options: { readonly initReachesBackup: boolean }) {
  const cluster = new MigrationCluster({ f: 1 }).startRegistered();
  load(cluster);
  cluster.initMigrationAuthentic = (nodeId, proof) => !(nodeId === BACKUP && proof.replicaId === 0);
  const held: Envelope[] = [];
  let migrationSeq: number | null = null;
  cluster.filter = (envelope) => {
    const message = envelope.message;
    const toBackup = envelope.to.kind === "replica" && envelope.to.id === BACKUP;
    if (message.type === "PrePrepare" && message.special?.kind === "migration") migrationSeq = message.seq;
    if (!toBackup) return true;
    if (message.type === "InitMigration" && message.replicaId === 0) return options.initReachesBackup;
    if ((message.type === "Prepare" || message.type === "Commit") && message.seq === migrationSeq) {
      held.push(envelope);
      return false;
    }
    return true;
  };
  // Up to the round's execution at the others, well within the view-change timeout.
  cluster.advance(TIMEOUT_MS + 50);
  expect(migrationSeq).not.toBeNull();
  return { cluster, held, migrationSeq: migrationSeq as unknown as number };
}

function preparedBy(cluster: MigrationCluster, replicaId: number, seq: number): boolean {
  return cluster.effects.some(
    (entry) =>
      entry.actor.startsWith(`r${replicaId}@`) &&
      entry.effect.kind === "broadcast" &&
      (entry.effect.message as Message).type === "Prepare" &&
      (entry.effect.message as { seq: number }).seq === seq,
  );
}

describe("INIT-MIGRATION proofs inside a PRE-PREPARE (section 3.2)", () => {
  it("a backup that cannot authenticate a proof does not prepare the MIGRATION-REQUEST on the primary's word", () => {
    const { cluster, migrationSeq } = setUp({ initReachesBackup: false });
    expect(cluster.replica(BACKUP).metrics.dropped.initMigrationUnauthenticated).toBeGreaterThan(0);
    expect(preparedBy(cluster, BACKUP, migrationSeq)).toBe(false);
    expect(cluster.replica(BACKUP).lastExecutedSeq).toBeLessThan(migrationSeq);
  });

  it("takes it once 2f PREPAREs or f+1 COMMITs from others vouch for it, and executes the round", () => {
    const { cluster, held, migrationSeq } = setUp({ initReachesBackup: false });
    expect(held.length).toBeGreaterThanOrEqual(2);
    cluster.filter = () => true;
    cluster.queue.push(...held);
    cluster.deliverAll();
    expect(preparedBy(cluster, BACKUP, migrationSeq)).toBe(true);
    expect(cluster.replica(BACKUP).lastExecutedSeq).toBeGreaterThanOrEqual(migrationSeq);
    const executed = cluster.effectsOf("migrationExecuted").filter((entry) => entry.actor.startsWith("r2@"));
    expect(executed.length).toBe(1);
  });

  it("takes it at once when it holds the unverifiable proof's INIT-MIGRATION from its sender", () => {
    // The wire authenticated that INIT-MIGRATION on arrival: replica 0 did ask for this round.
    const { cluster, migrationSeq } = setUp({ initReachesBackup: true });
    expect(cluster.replica(BACKUP).metrics.dropped.initMigrationUnauthenticated).toBe(0);
    expect(preparedBy(cluster, BACKUP, migrationSeq)).toBe(true);
  });
});

describe("a MIGRATION-REQUEST whose proof its signer has replaced", () => {
  /**
   * The timer round's INIT-MIGRATIONs all arrive (r1 builds the request from r0, r1 and r2), but
   * the view-0 primary's PRE-PREPARE of it is lost. Then r2 alone gets the CM's on-demand request
   * and votes for that round instead; r2's timer vote can no longer be authenticated (as after a
   * restart, which renews its session keys).
   */
  function replacedVote() {
    const cluster = new MigrationCluster({ f: 1 }).startRegistered();
    load(cluster);
    cluster.filter = (envelope) =>
      !(
        envelope.message.type === "PrePrepare" &&
        envelope.message.special?.kind === "migration" &&
        envelope.message.view === 0
      );
    cluster.advance(TIMEOUT_MS + 50);
    const built = cluster.replica(1).pendingMigration;
    expect(built?.trigger).toBe("timer");
    expect(built?.proofs.map((proof) => proof.replicaId)).toEqual([0, 1, 2]);
    cluster.initMigrationAuthentic = (_nodeId, proof) =>
      proof.replicaId !== 2 || proof.trigger === "onDemand";
    cluster.onDemand([3]);
    const viewZeroRequestLost = cluster.filter;
    cluster.filter = (envelope) =>
      viewZeroRequestLost(envelope) &&
      (envelope.message.type !== "OnDemandMigration" ||
        (envelope.to.kind === "replica" && envelope.to.id === 2));
    cluster.deliverAll();
    return cluster;
  }

  it("is built again from the current votes", () => {
    const cluster = replacedVote();
    const rebuilt = cluster.replica(1).pendingMigration;
    expect(rebuilt?.trigger).toBe("timer");
    expect(rebuilt?.proofs.map((proof) => proof.replicaId)).toEqual([0, 1, 3]);
  });

  it("the next primary proposes it rebuilt, and the round executes in that view", () => {
    const cluster = replacedVote();
    cluster.advance(3000);
    const rounds = cluster.effectsOf("migrationExecuted");
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    for (const replicaId of [0, 1, 3]) expect(cluster.replica(replicaId).view).toBe(1);
  });
});

describe("a MIGRATION-REQUEST that a NEW-VIEW carries", () => {
  /**
   * The view-0 primary's MIGRATION-REQUEST prepares everywhere, but its COMMITs are lost until
   * `release`, so the backups' timers move them to view 1, whose NEW-VIEW carries it.
   */
  function carriedIntoViewOne() {
    const cluster = new MigrationCluster({ f: 1 }).startRegistered();
    load(cluster);
    let migrationSeq: number | null = null;
    let commitsLost = true;
    cluster.filter = (envelope) => {
      const message = envelope.message;
      if (message.type === "PrePrepare" && message.special?.kind === "migration") migrationSeq = message.seq;
      return !(commitsLost && message.type === "Commit" && message.seq === migrationSeq);
    };
    cluster.advance(TIMEOUT_MS + 1500);
    expect(cluster.replica(1).view).toBe(1);
    expect(migrationSeq).not.toBeNull();
    return {
      cluster,
      migrationSeq: migrationSeq as unknown as number,
      release: () => {
        commitsLost = false;
      },
    };
  }

  function proposedAbove(cluster: MigrationCluster, seq: number): number[] {
    return cluster.effects
      .filter(
        (entry) =>
          entry.actor.startsWith("r1@") &&
          entry.effect.kind === "broadcast" &&
          (entry.effect.message as Message).type === "PrePrepare",
      )
      .map((entry) => (entry.effect as { message: { seq: number } }).message.seq)
      .filter((proposed) => proposed > seq);
  }

  it("is a barrier for the new primary: it proposes nothing above it until it executes", () => {
    const { cluster, migrationSeq, release } = carriedIntoViewOne();
    expect(cluster.replica(1).lastExecutedSeq).toBeLessThan(migrationSeq);
    cluster.request(makeRequest(2, 1));
    cluster.deliverAll();
    expect(proposedAbove(cluster, migrationSeq)).toEqual([]);
    release();
    cluster.advance(300);
    expect(cluster.replica(1).lastExecutedSeq).toBeGreaterThan(migrationSeq);
    expect(proposedAbove(cluster, migrationSeq).length).toBeGreaterThan(0);
  });
});
