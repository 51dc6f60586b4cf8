/**
 * Proves the join-time rule of section 3.1 (the primary assigns a JOIN-REQUEST's join time when it
 * orders it; backups refuse a time farther than joinTimeSkewMsMax from their clock): a backup that
 * gets the PRE-PREPARE only after the skew has passed, but after its peers' votes for it, accepts
 * it and executes the JOIN (before, it refused it on every retransmission: a stall); a faulty
 * primary's absurd join time is refused by every correct backup, also when one faulty backup
 * votes for it, and the next primary orders the JOIN with a sane time.
 * How: the in-memory MigrationCluster (joinTimeSkewMsMax 1000 ms) with filters that hold or
 * rewrite the JOIN PRE-PREPARE; standbys re-register after a fresh sanitization.
 */
import { describe, expect, it } from "vitest";
import type { PrePrepare } from "../../bft/messages.js";
import { proposalDigest } from "../../bft/replica/batch-digest.js";
import { type Envelope, MigrationCluster } from "./migration-harness.js";
import { ChainApp, makeDeps } from "./replica-harness.js";

const SKEW_MS = 1000; // the harness's joinTimeSkewMsMax
const NODE = 100;

function registered(): MigrationCluster {
  const cluster = new MigrationCluster({ f: 1, proactive: false });
  cluster.start();
  cluster.registerStandbys();
  cluster.advance(50);
  return cluster;
}

function isJoin(envelope: Envelope): envelope is Envelope & { message: PrePrepare } {
  return envelope.message.type === "PrePrepare" && envelope.message.special?.kind === "join";
}

function joinTimeOf(cluster: MigrationCluster, replicaId: number, nodeId: number): number | undefined {
  return cluster.replica(replicaId).migrationState!.standbys.find((standby) => standby.nodeId === nodeId)
    ?.joinTimeMs;
}

describe("a JOIN PRE-PREPARE that reaches a backup after the skew", () => {
  it("is accepted once the backup holds its peers' votes for it, and the JOIN executes", () => {
    const cluster = registered();
    const held: Envelope[] = [];
    cluster.filter = (envelope) => {
      if (!isJoin(envelope) || envelope.to.kind !== "replica" || envelope.to.id !== 3) return true;
      held.push(envelope);
      return false;
    };
    const joinsBefore = cluster.replica(3).metrics.joinsExecuted;
    cluster.stepStandby(NODE, { kind: "sanitized" });
    cluster.advance(50);
    const orderedAtMs = joinTimeOf(cluster, 0, NODE)!;
    expect(orderedAtMs).toBeGreaterThanOrEqual(50);
    expect(held.length).toBeGreaterThan(0);
    // r3 reports it is stuck and the primary resends the PRE-PREPARE: still held, for over the skew.
    cluster.advance(SKEW_MS + 500);
    expect(cluster.replica(3).metrics.joinsExecuted).toBe(joinsBefore);
    cluster.filter = () => true;
    cluster.queue.push(...held);
    cluster.deliverAll();
    expect(cluster.nowMs - orderedAtMs).toBeGreaterThan(SKEW_MS);
    expect(cluster.replica(3).metrics.joinsExecuted).toBe(joinsBefore + 1);
    expect(cluster.replica(3).metrics.dropped.joinTimeSkew).toBe(0);
    expect(joinTimeOf(cluster, 3, NODE)).toBe(orderedAtMs);
    expect(cluster.replica(3).lastExecutedSeq).toBe(cluster.replica(0).lastExecutedSeq);
  });
});

describe("a faulty primary's join time", () => {
  it("is refused by every correct backup when far from its clock, even with a faulty PREPARE for it", () => {
    const cluster = registered();
    // r0, the primary of view 0, is faulty: its honest JOIN PRE-PREPARE never leaves it, a forged
    // one with a join time an hour ahead does. r1 is faulty too and votes for the forged one first.
    const honest: PrePrepare[] = [];
    let forged: PrePrepare | null = null;
    cluster.filter = (envelope) => {
      if (!isJoin(envelope) || envelope.from.id !== 0 || envelope.message === forged) return true;
      honest.push(envelope.message);
      return false;
    };
    cluster.stepStandby(NODE, { kind: "sanitized" });
    cluster.advance(20);
    expect(honest.length).toBeGreaterThan(0);
    const special = honest[0]!.special;
    if (special?.kind !== "join") throw new Error("a join PRE-PREPARE");
    const body = { ...honest[0]!, special: { ...special, joinTimeMs: cluster.nowMs + 3_600_000 } };
    forged = { ...body, digest: proposalDigest(body, makeDeps(new ChainApp())) };
    for (const id of [2, 3]) {
      const prepare = {
        type: "Prepare" as const,
        view: 0,
        seq: forged.seq,
        digest: forged.digest,
        replicaId: 1,
      };
      cluster.queue.push({ from: { kind: "replica", id: 1 }, to: { kind: "replica", id }, message: prepare });
      cluster.queue.push({ from: { kind: "replica", id: 0 }, to: { kind: "replica", id }, message: forged });
    }
    cluster.deliverAll();
    for (const id of [2, 3]) {
      expect(cluster.replica(id).metrics.dropped.joinTimeSkew).toBe(1);
      expect(cluster.replica(id).lastExecutedSeq).toBeLessThan(forged.seq);
    }
    // Its own clock's time, from a correct primary, is accepted (the same JOIN, re-proposed).
    cluster.filter = () => true;
    for (const id of [1, 2, 3])
      cluster.queue.push({
        from: { kind: "replica", id: 0 },
        to: { kind: "replica", id },
        message: honest[0]!,
      });
    cluster.advance(50);
    for (const id of [1, 2, 3]) expect(joinTimeOf(cluster, id, NODE)).toBe(special.joinTimeMs);
  });
});
