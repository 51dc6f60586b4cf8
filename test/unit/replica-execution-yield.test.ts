/**
 * Proves that a batch whose execution stops part way (CoreDeps.executionYield) behaves like one
 * executed whole: every request runs exactly once and in order, replies leave as requests run,
 * the batch's `executed` record and checkpoint come once it is complete, the primary proposes
 * nothing while its own batch is partly executed, a view change in between resumes the same
 * batch, and a state transfer past it replaces it.
 * How: the in-memory cluster harness with an executionYield that stops after every request; the
 * harness continues a replica (Replica.continueExecution) only once the network is quiet and only
 * when `continues` allows it.
 */
import { describe, expect, it } from "vitest";
import type { Reply } from "../../bft/messages.js";
import { Cluster, makeRequest } from "./replica-harness.js";

const always = () => true;

/** A cluster whose primary has already executed seq 1, so the next requests queue into one batch. */
function clusterWithQueuedBatch(config: Record<string, number>, yieldAt: (id: number) => boolean) {
  const c = new Cluster({
    f: 1,
    config: { batchInflightMax: 1, batchSizeMax: 8, ...config },
    executionYield: yieldAt,
  }).start();
  c.request(makeRequest(1, 1), 0);
  // Requests 2..4 reach the primary while seq 1 is in flight: they leave together as seq 2.
  for (let client = 2; client <= 4; client++) c.request(makeRequest(client, 1), 0);
  return c;
}

describe("execution stopped part way through a batch", () => {
  it("runs every request once and in order, replies as it goes, and records the batch once", () => {
    const c = clusterWithQueuedBatch({}, always);
    c.deliverAll();
    for (let id = 0; id < 4; id++) {
      expect(c.executed[id]!.map((record) => record.requests)).toEqual([["1/1"], ["2/1", "3/1", "4/1"]]);
      // Seq 2's three requests: one per call, so two continues on every replica.
      expect(c.continueCalls[id]).toBe(2);
      expect(c.replica(id).wantsContinue).toBe(false);
      expect(c.apps[id]!.count).toBe(4);
    }
    for (let client = 1; client <= 4; client++) expect(c.replyCount(client, 1)).toBe(4);
    c.assertAgreement();
  });

  it("sends each reply when its request runs, before the batch is complete", () => {
    const c = clusterWithQueuedBatch({}, always);
    c.continues = () => false;
    c.deliverAll();
    for (let id = 0; id < 4; id++) {
      expect(c.replica(id).wantsContinue).toBe(true);
      expect(c.replica(id).lastExecutedSeq).toBe(1); // seq 2 is not complete
    }
    expect(c.replyCount(2, 1)).toBe(4);
    expect(c.replyCount(3, 1)).toBe(0);
    expect(c.executed[0]!.map((record) => record.seq)).toEqual([1]);
    c.continues = () => true;
    c.deliverAll();
    expect(c.replyCount(4, 1)).toBe(4);
    expect(c.executed[0]!.map((record) => record.seq)).toEqual([1, 2]);
  });

  it("the primary proposes nothing while its own batch is partly executed, then all that queued", () => {
    const c = new Cluster({
      f: 1,
      config: { batchInflightMax: 2, batchSizeMax: 8 },
      executionYield: always,
    }).start();
    // Seqs 1 and 2 hold one request each; 3 and 4 queue behind them and leave together as seq 3.
    for (let client = 1; client <= 4; client++) c.request(makeRequest(client, 1), 0);
    c.continues = () => false;
    c.deliverAll();
    expect(c.replica(0).wantsContinue).toBe(true);
    const proposals = () =>
      c
        .effectsOf(0, "broadcast")
        .filter((effect) => effect.kind === "broadcast" && effect.message.type === "PrePrepare");
    expect(proposals()).toHaveLength(3);
    for (let client = 5; client <= 7; client++) c.request(makeRequest(client, 1), 0);
    c.deliverAll();
    // Room for another batch in flight, but seq 3 is partly executed at the primary.
    expect(proposals()).toHaveLength(3);
    c.continues = () => true;
    c.deliverAll();
    expect(proposals()).toHaveLength(4);
    expect(c.executed[1]!.map((record) => record.requests)).toEqual([
      ["1/1"],
      ["2/1"],
      ["3/1", "4/1"],
      ["5/1", "6/1", "7/1"],
    ]);
    c.assertAgreement();
  });

  it("a batch stopped part way before a view change goes on after it, each request once", () => {
    const c = clusterWithQueuedBatch({ viewChangeTimeoutMs: 500, statusIntervalMs: 100 }, always);
    c.continues = () => false;
    c.deliverAll();
    // The primary falls silent with seq 2 committed everywhere and one request of it run.
    c.crashed.add(0);
    for (let client = 5; client <= 6; client++) c.request(makeRequest(client, 1), "all");
    c.advance(2000);
    for (const id of [1, 2, 3]) expect(c.replica(id).view).toBeGreaterThanOrEqual(1);
    c.continues = () => true;
    c.advance(2000);
    for (const id of [1, 2, 3]) {
      expect(c.executedRequests(id).slice(0, 4)).toEqual(["1/1", "2/1", "3/1", "4/1"]);
      expect(c.executedRequests(id)).toContain("5/1");
      expect(c.executedRequests(id)).toContain("6/1");
      expect(new Set(c.executedRequests(id)).size).toBe(c.executedRequests(id).length);
      expect(c.apps[id]!.count).toBe(c.executedRequests(id).length);
    }
    expect(c.apps[1]!.chain).toEqual(c.apps[2]!.chain);
    c.assertAgreement();
  });

  it("a state transfer past a partly executed batch replaces it", () => {
    const K = 4;
    const c = new Cluster({
      f: 1,
      config: {
        checkpointIntervalSeqs: K,
        logWindowSeqs: 2 * K,
        batchSizeMax: 2,
        batchInflightMax: 2,
        statusIntervalMs: 100,
      },
      executionYield: (id) => id === 3,
    }).start();
    // Replica 3 runs one request of each batch and is never continued: it falls behind.
    c.continues = (id) => id !== 3;
    for (let round = 0; round < 20; round++) {
      for (let client = 1; client <= 4; client++) c.request(makeRequest(client, round + 1), 0);
      c.deliverAll();
    }
    expect(c.replica(3).wantsContinue).toBe(true);
    c.advance(1000);
    const lagging = c.replica(3);
    expect(lagging.metrics.stateTransfersCompleted).toBeGreaterThanOrEqual(1);
    c.continues = () => true;
    c.advance(1000);
    expect(lagging.lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    expect(c.apps[3]!.chain).toEqual(c.apps[0]!.chain);
    expect(lagging.wantsContinue).toBe(false);
    c.assertAgreement();
  });

  it("replies from a partly executed batch carry the results a whole execution gives", () => {
    const whole = clusterWithQueuedBatch({}, () => false);
    whole.deliverAll();
    const stopped = clusterWithQueuedBatch({}, always);
    stopped.deliverAll();
    const results = (c: Cluster) =>
      [...c.replies.values()]
        .flat()
        .map((reply: Reply) => `${reply.replicaId}:${reply.clientId}:${Buffer.from(reply.result).toString()}`)
        .sort();
    expect(results(stopped)).toEqual(results(whole));
    expect(stopped.apps[0]!.chain).toEqual(whole.apps[0]!.chain);
  });
});
