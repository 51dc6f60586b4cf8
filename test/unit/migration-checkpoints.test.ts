/**
 * Proves the lifetime of migration checkpoints (section 3.2, "the migration checkpoint is taken
 * at n ... and retained for the targets") and that back-to-back rounds keep going: many rounds
 * between two stable checkpoints keep each replica's own checkpoints within L/K + 1 +
 * MIGRATION_CHECKPOINTS_MAX (the core asserts it on every step; before, every migration
 * checkpoint above the stable one was kept and the assertion fired after ~128 rounds in the
 * simulator); a target still fetching when the next round executes gets its state; a round whose
 * targets all finished releases its checkpoint; and a JOIN executed between the replicas' timers
 * makes the replicas that already sent INIT-MIGRATION send it again for the new selection (before,
 * the two halves never reached 2f+1 and rounds stopped); and a source whose later seqs committed
 * before its MIGRATION-REQUEST executed stops there (before, it executed on after retiring, which
 * the simulator rejects: seed 2, --faults random, 500 ms timer).
 * How: the in-memory MigrationCluster with a checkpoint interval longer than a round, filters that
 * hold state chunks or INIT-MIGRATIONs, and timers removed to order the replicas' timer expiries.
 */
import { describe, expect, it } from "vitest";
import type { InitMigration } from "../../bft/messages.js";
import { MIGRATION_CHECKPOINTS_MAX } from "../../bft/replica/view-change.js";
import { type Envelope, MigrationCluster } from "./migration-harness.js";
import { makeRequest } from "./replica-harness.js";

/** A checkpoint every 16 seqs: a round (MIGRATION-REQUEST, the retired sources' JOINs) takes f+1. */
const CONFIG = { checkpointIntervalSeqs: 16, logWindowSeqs: 32 };
const OWN_CHECKPOINTS_MAX =
  CONFIG.logWindowSeqs / CONFIG.checkpointIntervalSeqs + 1 + MIGRATION_CHECKPOINTS_MAX;

function migrationNumber(cluster: MigrationCluster): number {
  return Math.min(...[...cluster.hosts.values()].map((host) => host.replica.migrationState!.migrationNumber));
}

function executedSeqs(cluster: MigrationCluster): number[] {
  const seqs = cluster.effectsOf("migrationExecuted").map((entry) => (entry.effect as { seq: number }).seq);
  return [...new Set(seqs)].sort((a, b) => a - b);
}

describe.each([1, 2])("many rounds between stable checkpoints with f=%i", (f) => {
  it("keep each replica's own checkpoints bounded when the same id migrates again and again", () => {
    // On-demand rounds for the last id: the other replicas are never sources, so they take every
    // round's checkpoint for as long as the run lasts (proactive rounds replace each replica every
    // 3f+1 rounds, and a promoted replica starts with one checkpoint).
    const cluster = new MigrationCluster({ f, config: CONFIG, proactive: false }).startRegistered();
    const rounds = 24;
    let checkpointsMax = 0;
    while (cluster.nowMs < 60_000 && migrationNumber(cluster) < rounds) {
      cluster.onDemand([3 * f]);
      cluster.advance(200);
      for (const host of cluster.hosts.values())
        checkpointsMax = Math.max(checkpointsMax, host.replica.sizes.checkpoints!);
    }
    expect(migrationNumber(cluster)).toBe(rounds);
    expect(checkpointsMax).toBeLessThanOrEqual(OWN_CHECKPOINTS_MAX);
    // The rounds did outpace checkpoints (the old rule, keep every one above the stable one, broke).
    const seqs = executedSeqs(cluster);
    const perInterval = new Map<number, number>();
    for (const seq of seqs) {
      const interval = Math.floor(seq / CONFIG.checkpointIntervalSeqs);
      perInterval.set(interval, (perInterval.get(interval) ?? 0) + 1);
    }
    expect(Math.max(...perInterval.values())).toBeGreaterThan(OWN_CHECKPOINTS_MAX);
    expect(new Set(cluster.chains().values()).size).toBe(1);
    expect(cluster.effectsOf("promoted")).toHaveLength(rounds);
  });
});

describe("proactive rounds at the minimum interval", () => {
  it("run back to back with f=1, every round completes, checkpoints stay bounded", () => {
    const cluster = new MigrationCluster({ f: 1, config: CONFIG }).startRegistered();
    const rounds = 24;
    let checkpointsMax = 0;
    let timestamp = 1;
    while (cluster.nowMs < 60_000 && migrationNumber(cluster) < rounds) {
      if (timestamp < 10) cluster.request(makeRequest(1, timestamp++));
      cluster.advance(100);
      for (const host of cluster.hosts.values())
        checkpointsMax = Math.max(checkpointsMax, host.replica.sizes.checkpoints!);
    }
    expect(migrationNumber(cluster)).toBeGreaterThanOrEqual(rounds);
    expect(checkpointsMax).toBeLessThanOrEqual(OWN_CHECKPOINTS_MAX);
    expect(new Set(cluster.chains().values()).size).toBe(1);
    expect(cluster.effectsOf("migrationCompleted").length).toBeGreaterThanOrEqual(rounds);
  });
});

describe("a migration checkpoint's lifetime", () => {
  it("outlives the next round while its target still fetches it, and ends when every target has it", () => {
    const cluster = new MigrationCluster({ f: 1, config: CONFIG }).startRegistered();
    // Hold every state chunk to the first round's target until the second round has executed.
    let firstTarget: number | null = null;
    const held: Envelope[] = [];
    cluster.filter = (envelope) => {
      if (envelope.message.type === "MigrateNow" && envelope.to.kind === "node" && firstTarget === null)
        firstTarget = envelope.to.id;
      if (
        envelope.message.type !== "StateChunk" ||
        envelope.to.id !== firstTarget ||
        envelope.to.kind !== "node"
      )
        return true;
      held.push(envelope);
      return false;
    };
    cluster.advance(550);
    const [firstSeq] = executedSeqs(cluster);
    expect(firstSeq).toBeDefined();
    expect(firstTarget).not.toBeNull();
    expect(held.length).toBeGreaterThan(0);
    expect(cluster.effectsOf("promoted")).toHaveLength(0);
    // The second round needs a target too: the first target is still a standby, the other one serves.
    const standbys = cluster.replica(0).migrationState!.standbys.length;
    expect(standbys).toBeGreaterThanOrEqual(1);
    // The first round's target is still fetching: the next round runs in the meantime.
    cluster.advance(600);
    expect(executedSeqs(cluster).length).toBeGreaterThanOrEqual(2);
    expect(cluster.effectsOf("promoted")).toHaveLength(1); // the second round's target only
    // Releasing the chunks is not enough: the target asks again (its fetch timer) and must be served.
    cluster.filter = () => true;
    held.length = 0;
    cluster.advance(1000);
    const promotedNodes = cluster.effectsOf("promoted").map((entry) => Number(entry.actor.slice(1)));
    expect(promotedNodes).toContain(firstTarget);
    expect(new Set(cluster.chains().values()).size).toBe(1);
    // Every target of the first round reported MIGRATION-DONE: no replica keeps its checkpoint
    // unless it is a stable or interval checkpoint anyway.
    for (const host of cluster.hosts.values()) {
      const replica = host.replica;
      if (firstSeq! % CONFIG.checkpointIntervalSeqs !== 0 && replica.stableSeq !== firstSeq)
        expect(replica.checkpointSeqs).not.toContain(firstSeq);
    }
  });
});

describe("a JOIN executed between the replicas' migration timers", () => {
  it("makes the replicas that already sent INIT-MIGRATION send it again for the new targets", () => {
    const cluster = new MigrationCluster({ f: 1, config: CONFIG }).startRegistered();
    // r0 and r1 expire later; r2 and r3 send INIT-MIGRATION first, and it stays among them.
    const late = [0, 1].map((id) => `r${id}@${id}:migration`);
    const lateTimers = late.map((key) => cluster.timers.get(key)!);
    for (const key of late) cluster.timers.delete(key);
    const early: InitMigration[] = [];
    cluster.filter = (envelope) => {
      if (envelope.message.type !== "InitMigration") return true;
      if (envelope.to.kind === "replica" && envelope.to.id <= 1) {
        early.push(envelope.message);
        return false;
      }
      return true;
    };
    cluster.advance(600);
    expect(early.length).toBeGreaterThan(0);
    const before = early[0]!.targets;
    expect(migrationNumber(cluster)).toBe(0);
    // The standby not chosen re-registers: its JOIN is ordered with a later join time, so the
    // selection now names it.
    const other = cluster.standbyIds.find((nodeId) => !before.includes(nodeId))!;
    cluster.stepStandby(other, { kind: "sanitized" });
    cluster.filter = () => true;
    for (const [index, key] of late.entries())
      cluster.timers.set(key, Math.max(lateTimers[index]!, cluster.nowMs));
    cluster.advance(2000);
    expect(migrationNumber(cluster)).toBeGreaterThanOrEqual(1);
    const first = cluster.effectsOf("migrationExecuted")[0]!.effect as unknown as {
      pairs: { targetNodeId: number }[];
    };
    expect(first.pairs.map((pair) => pair.targetNodeId)).toEqual([other]);
    // r2 and r3 replaced their INIT-MIGRATION for l=0 once the JOIN executed.
    for (const actor of ["r2@2", "r3@3"]) {
      const sent = cluster
        .effectsOf("broadcast")
        .filter((entry) => entry.actor === actor)
        .map((entry) => (entry.effect as { message: InitMigration }).message)
        .filter((message) => message.type === "InitMigration" && message.migrationNumber === 0);
      expect(sent.map((message) => message.targets[0])).toEqual(expect.arrayContaining([...before, other]));
    }
  });
});

describe("a source with later seqs committed when its MIGRATION-REQUEST executes", () => {
  it("stops at the MIGRATION-REQUEST: nothing executes after it retires", () => {
    const cluster = new MigrationCluster({ f: 1, config: CONFIG }).startRegistered();
    // r3 is round 0's source. Its COMMITs for the MIGRATION-REQUEST's seq and the target's state
    // are held, so r3 still runs id 3 and commits the next seq before the migration.
    let migrationSeq: number | null = null;
    const held: Envelope[] = [];
    cluster.filter = (envelope) => {
      const { message } = envelope;
      if (message.type === "PrePrepare" && message.special?.kind === "migration") migrationSeq = message.seq;
      const toSource =
        envelope.to.kind === "replica" &&
        envelope.to.id === 3 &&
        message.type === "Commit" &&
        message.seq === migrationSeq;
      if (!toSource && !(message.type === "StateChunk" && envelope.to.kind === "node")) return true;
      held.push(envelope);
      return false;
    };
    cluster.advance(550);
    expect(migrationSeq).not.toBeNull();
    expect(cluster.replica(0).lastExecutedSeq).toBe(migrationSeq);
    expect(cluster.replica(3).lastExecutedSeq).toBe(migrationSeq! - 1);
    cluster.request(makeRequest(1, 1));
    cluster.deliverAll();
    expect(cluster.replica(0).lastExecutedSeq).toBe(migrationSeq! + 1);
    const source = cluster.host(3).replica;
    cluster.filter = () => true;
    cluster.queue.push(...held.filter((envelope) => envelope.message.type === "Commit"));
    cluster.deliverAll();
    expect(source.isRetired).toBe(true);
    expect(source.lastExecutedSeq).toBe(migrationSeq);
    const ofSource = cluster.effects
      .filter((entry) => entry.actor === "r3@3")
      .map((entry) => entry.effect.kind);
    expect(ofSource.slice(ofSource.indexOf("retire"))).not.toContain("executed");
  });
});
