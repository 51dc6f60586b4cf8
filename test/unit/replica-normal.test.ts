/**
 * Proves the PBFT normal case of the replica core (TOCS 2002 section 4.2): requests are
 * pre-prepared, prepared, committed and executed in the same order on every replica for f = 1, 2
 * and 3; the primary batches under load (adaptive batching, section 6.1); duplicates are
 * suppressed through the last-reply table and a retransmitted request gets the stored reply.
 * How: N Replica instances wired by the in-memory harness (replica-harness.ts), with simulated time.
 */
import { describe, expect, it } from "vitest";
import { Cluster, type Envelope, makeRequest } from "./replica-harness.js";

describe("replica normal case", () => {
  it.each([1, 2, 3])("commits, executes and replies with f=%i", (f) => {
    const cluster = new Cluster({ f }).start();
    for (let t = 1; t <= 5; t++) {
      cluster.request(makeRequest(7, t), 0);
      cluster.deliverAll();
      expect(cluster.replyCount(7, t)).toBe(3 * f + 1);
    }
    for (let id = 0; id < cluster.n; id++) {
      expect(cluster.replica(id).lastExecutedSeq).toBe(5);
      expect(cluster.executedRequests(id)).toEqual(["7/1", "7/2", "7/3", "7/4", "7/5"]);
      expect(cluster.apps[id]!.count).toBe(5);
    }
    cluster.assertAgreement();
    expect(cluster.replica(1).metrics.droppedTotal).toBe(0);
  });

  it("wants votes only for slots that are not yet decided (Replica.wants)", () => {
    const cluster = new Cluster({ f: 1 }).start();
    const backup = cluster.replica(1);
    const digest = new Uint8Array(32).fill(9);
    const vote = (type: "Prepare" | "Commit", seq: number, view = 0) =>
      ({ type, view, seq, digest, replicaId: 2 }) as const;
    const sender = { kind: "replica", id: 2 } as const;
    // Nothing known about seq 1 yet: every vote may matter.
    expect(backup.wants(sender, vote("Prepare", 1))).toBe(true);
    expect(backup.wants(sender, vote("Commit", 1))).toBe(true);
    cluster.request(makeRequest(7, 1), 0);
    // Hold back COMMITs to replica 1 so seq 1 prepares there but does not commit.
    const held: Envelope[] = [];
    cluster.filter = (envelope) => {
      if (envelope.to !== 1 || envelope.message.type !== "Commit") return true;
      held.push(envelope);
      return false;
    };
    cluster.deliverAll();
    expect(backup.wants(sender, vote("Prepare", 1))).toBe(false);
    expect(backup.wants(sender, vote("Commit", 1))).toBe(true);
    // Once committed, neither kind of vote for seq 1 is wanted; other seqs and views still are.
    for (const envelope of held) cluster.inject(envelope.from, 1, envelope.message);
    expect(backup.lastExecutedSeq).toBe(1);
    expect(backup.wants(sender, vote("Commit", 1))).toBe(false);
    expect(backup.wants(sender, vote("Commit", 2))).toBe(true);
    expect(backup.wants(sender, vote("Commit", 1, 1))).toBe(true);
    expect(backup.wants(sender, makeRequest(7, 2))).toBe(true);
  });

  it("a request sent to a backup is relayed to the primary", () => {
    const cluster = new Cluster({ f: 1 }).start();
    cluster.request(makeRequest(3, 1), 2);
    cluster.deliverAll();
    expect(cluster.replyCount(3, 1)).toBe(4);
    // The backup armed its view-change timer for the pending request, then cancelled it.
    const kinds = cluster.effectsOf(2, "setTimer").map((e) => (e.kind === "setTimer" ? e.timer : ""));
    expect(kinds).toContain("viewChange");
    expect(cluster.timers.has("2:viewChange")).toBe(false);
  });

  it("batches requests that arrive while batches are in flight", () => {
    const cluster = new Cluster({ f: 1, config: { batchInflightMax: 1, batchSizeMax: 64 } }).start();
    for (let client = 1; client <= 200; client++) cluster.request(makeRequest(client, 1), 0);
    cluster.deliverAll();
    for (let client = 1; client <= 200; client++) expect(cluster.replyCount(client, 1)).toBe(4);
    const primary = cluster.replica(0);
    expect(primary.metrics.requestsExecuted).toBe(200);
    // The first request goes alone; the rest wait and leave in full batches.
    expect(primary.metrics.batchesProposed).toBeLessThanOrEqual(5);
    expect(cluster.executed[0]!.some((record) => record.requests.length === 64)).toBe(true);
    cluster.assertAgreement();
  });

  it("with proposeAtTurnEnd, requests of one turn leave together at endTurn", () => {
    const cluster = new Cluster({ f: 1, config: { proposeAtTurnEnd: true } }).start();
    const primary = cluster.replica(0);
    for (let client = 1; client <= 5; client++) {
      const effects = cluster.inject({ kind: "client", id: client }, 0, makeRequest(client, 1));
      expect(effects.filter((effect) => effect.kind === "broadcast")).toEqual([]);
    }
    expect(primary.metrics.batchesProposed).toBe(0);
    const proposed = primary.endTurn(cluster.nowMs);
    expect(proposed).toEqual([
      expect.objectContaining({
        kind: "broadcast",
        message: expect.objectContaining({ type: "PrePrepare" }),
      }),
      // The primary now waits on its backups for that batch.
      expect.objectContaining({ kind: "setTimer", timer: "viewChange" }),
    ]);
    const prePrepare = (proposed[0] as Extract<(typeof proposed)[number], { kind: "broadcast" }>).message;
    for (const to of [1, 2, 3])
      cluster.queue.push({ from: { kind: "replica", id: 0 }, to, message: prePrepare });
    cluster.deliverAll();
    for (let client = 1; client <= 5; client++) expect(cluster.replyCount(client, 1)).toBe(4);
    expect(primary.metrics.batchesProposed).toBe(1);
    expect(cluster.executed[3]!.map((record) => record.requests.length)).toEqual([5]);
    // A turn without requests proposes nothing.
    expect(primary.endTurn(cluster.nowMs)).toEqual([]);
  });

  it("suppresses duplicates and resends the stored reply", () => {
    const cluster = new Cluster({ f: 1 }).start();
    cluster.request(makeRequest(5, 10), "all");
    cluster.deliverAll();
    expect(cluster.apps[1]!.count).toBe(1);
    const repliesBefore = cluster.replies.get(5)!.length;
    // Same timestamp again: the reply is resent, nothing re-executes.
    cluster.request(makeRequest(5, 10), "all");
    cluster.deliverAll();
    expect(cluster.replies.get(5)!.length).toBe(repliesBefore + 4);
    expect(cluster.replica(2).metrics.repliesResent).toBe(1);
    // An older timestamp is dropped and counted.
    cluster.request(makeRequest(5, 9), "all");
    cluster.deliverAll();
    expect(cluster.replica(2).metrics.dropped.staleRequest).toBe(1);
    for (let id = 0; id < 4; id++) expect(cluster.apps[id]!.count).toBe(1);
  });

  it("does not queue a request that is already queued or in flight", () => {
    const cluster = new Cluster({ f: 1, config: { batchInflightMax: 1 } }).start();
    const primary = cluster.replica(0);
    cluster.inject({ kind: "client", id: 1 }, 0, makeRequest(1, 1));
    cluster.inject({ kind: "client", id: 2 }, 0, makeRequest(2, 1));
    cluster.inject({ kind: "client", id: 2 }, 0, makeRequest(2, 1));
    cluster.inject({ kind: "client", id: 1 }, 0, makeRequest(1, 1));
    expect(primary.metrics.dropped.duplicateRequest).toBe(2);
    cluster.deliverAll();
    expect(cluster.executedRequests(3)).toEqual(["1/1", "2/1"]);
  });

  it("executes a request in a batch at most once", () => {
    const cluster = new Cluster({ f: 1 }).start();
    // A Byzantine-free but repetitive primary input: client 4 sends t=1 then t=2 back to back.
    cluster.request(makeRequest(4, 1), 0);
    cluster.request(makeRequest(4, 2), 0);
    cluster.deliverAll();
    expect(cluster.executedRequests(2)).toEqual(["4/1", "4/2"]);
    expect(cluster.replyCount(4, 2)).toBe(4);
  });
});
