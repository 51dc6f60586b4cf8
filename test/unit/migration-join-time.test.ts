/**
 * Proves the join-time rule of section 3.1 (the primary assigns a JOIN-REQUEST's join time when it
 * orders it; backups refuse a time farther than joinTimeSkewMsMax from their clock): a backup that
 * gets the PRE-PREPARE only after the skew has passed, but after its peers' votes for it, accepts
 * it and executes the JOIN (before, it refused it on every retransmission: a stall); so does one
 * with no votes, since it received the JOIN-REQUEST itself about when the primary ordered it; a
 * faulty primary's join time ahead of the backup's clock, or before the request, is refused by
 * every correct backup, also when one faulty backup votes for it.
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
  return new MigrationCluster({ f: 1, proactive: false }).startRegistered();
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

describe("a JOIN PRE-PREPARE that reaches a backup after the skew, with no votes for it", () => {
  it("is accepted: the backup received the JOIN-REQUEST itself about when the primary ordered it", () => {
    const cluster = registered();
    // r3 gets nothing for the JOIN's seq until the skew has passed (its peers' votes are lost
    // too, as when a crashed peer leaves r3 needed for every quorum).
    let joinSeq: number | null = null;
    const held: Envelope[] = [];
    cluster.filter = (envelope) => {
      if (isJoin(envelope)) joinSeq = envelope.message.seq;
      const { message } = envelope;
      const forSeq =
        (message.type === "PrePrepare" || message.type === "Prepare" || message.type === "Commit") &&
        message.seq === joinSeq;
      if (!forSeq || envelope.to.kind !== "replica" || envelope.to.id !== 3) return true;
      if (message.type === "PrePrepare") held.push(envelope);
      return false;
    };
    cluster.stepStandby(NODE, { kind: "sanitized" });
    cluster.advance(SKEW_MS + 500);
    expect(held.length).toBeGreaterThan(0);
    expect(cluster.nowMs - joinTimeOf(cluster, 0, NODE)!).toBeGreaterThan(SKEW_MS);
    cluster.filter = () => true;
    const prepares = cluster.effectsOf("broadcast").length;
    cluster.queue.push(held[0]!);
    cluster.deliverAll();
    expect(cluster.replica(3).metrics.dropped.joinTimeSkew).toBe(0);
    const sent = cluster
      .effectsOf("broadcast")
      .slice(prepares)
      .filter((entry) => entry.actor === "r3@3")
      .map((entry) => (entry.effect as { message: { type: string; seq?: number } }).message);
    expect(sent).toContainEqual(expect.objectContaining({ type: "Prepare", seq: joinSeq }));
  });
});

describe("a faulty primary's join time", () => {
  it("is refused by every correct backup when ahead of its clock or before the request, even with a faulty PREPARE", () => {
    const cluster = registered();
    cluster.advance(3 * SKEW_MS); // so that a time before the JOIN-REQUEST is still positive
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
    // An hour ahead, and two skews before the standby sent the request.
    for (const joinTimeMs of [cluster.nowMs + 3_600_000, special.joinTimeMs - 2 * SKEW_MS]) {
      const body = { ...honest[0]!, special: { ...special, joinTimeMs } };
      forged = { ...body, digest: proposalDigest(body, makeDeps(new ChainApp())) };
      const prepare = {
        type: "Prepare" as const,
        view: 0,
        seq: forged.seq,
        digest: forged.digest,
        replicaId: 1,
      };
      for (const id of [2, 3]) {
        cluster.queue.push({
          from: { kind: "replica", id: 1 },
          to: { kind: "replica", id },
          message: prepare,
        });
        cluster.queue.push({
          from: { kind: "replica", id: 0 },
          to: { kind: "replica", id },
          message: forged,
        });
      }
      cluster.deliverAll();
    }
    for (const id of [2, 3]) {
      expect(cluster.replica(id).metrics.dropped.joinTimeSkew).toBe(2);
      expect(cluster.replica(id).lastExecutedSeq).toBeLessThan(forged!.seq);
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
