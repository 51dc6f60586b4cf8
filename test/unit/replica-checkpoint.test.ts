/**
 * Proves checkpoints and garbage collection (PBFT section 4.3): every K seqs each replica takes a
 * checkpoint, 2f+1 matching CHECKPOINTs make it stable, the low watermark advances and the log,
 * P/Q sets, votes and old snapshots are discarded, so thousands of requests leave every structure
 * bounded; the primary never proposes above the high watermark.
 * How: the in-memory cluster harness with a small checkpoint interval, and direct inspection of
 * the replica's structure sizes.
 */
import { describe, expect, it } from "vitest";
import { Cluster, makeRequest } from "./replica-harness.js";

describe("replica checkpoints", () => {
  it("makes checkpoints stable, advances watermarks and stays bounded", () => {
    const K = 8;
    const cluster = new Cluster({
      f: 1,
      config: { checkpointIntervalSeqs: K, logWindowSeqs: 2 * K, batchSizeMax: 4, batchInflightMax: 2 },
    }).start();
    let timestamp = 0;
    for (let round = 0; round < 300; round++) {
      timestamp++;
      for (let client = 1; client <= 10; client++) cluster.request(makeRequest(client, timestamp), 0);
      cluster.deliverAll();
    }
    const replica = cluster.replica(2);
    expect(replica.metrics.requestsExecuted).toBe(3000);
    expect(replica.lastExecutedSeq).toBeGreaterThan(700);
    expect(replica.stableSeq).toBeGreaterThan(replica.lastExecutedSeq - 2 * K);
    expect(replica.stableSeq % K).toBe(0);
    for (let id = 0; id < cluster.n; id++) {
      const sizes = cluster.replica(id).sizes;
      expect(sizes.log).toBeLessThanOrEqual(2 * K);
      expect(sizes.prePreparedSet).toBeLessThanOrEqual(2 * K);
      expect(sizes.preparedSet).toBeLessThanOrEqual(2 * K);
      expect(sizes.checkpoints).toBeLessThanOrEqual(3);
      expect(sizes.checkpointVotes).toBeLessThanOrEqual(2);
      expect(sizes.pending).toBe(0);
      expect(sizes.clientTable).toBe(10);
    }
    const stable = cluster.effectsOf(1, "stableCheckpoint");
    expect(stable.length).toBe(replica.stableSeq / K);
    // Every replica certified the same state digest at each stable seq.
    const digestsAt = (id: number) =>
      cluster
        .effectsOf(id, "stableCheckpoint")
        .map((e) => (e.kind === "stableCheckpoint" ? Buffer.from(e.stateDigest).toString("hex") : ""));
    expect(digestsAt(0)).toEqual(digestsAt(3));
    cluster.assertAgreement();
  });

  it("stops proposing at the high watermark until a checkpoint is stable", () => {
    const K = 4;
    const cluster = new Cluster({
      f: 1,
      config: { checkpointIntervalSeqs: K, logWindowSeqs: 2 * K, batchSizeMax: 1, batchInflightMax: 8 },
    }).start();
    // Drop every CHECKPOINT so nothing becomes stable.
    cluster.filter = (envelope) => envelope.message.type !== "Checkpoint";
    for (let client = 1; client <= 20; client++) cluster.request(makeRequest(client, 1), 0);
    cluster.deliverAll();
    const primary = cluster.replica(0);
    expect(primary.stableSeq).toBe(0);
    expect(primary.lastExecutedSeq).toBe(2 * K);
    expect(primary.metrics.batchesProposed).toBe(2 * K);
    expect(primary.sizes.queue).toBe(20 - 2 * K);
    // Let checkpoints through again; STATUS retransmits them and the window moves on.
    cluster.filter = () => true;
    cluster.advance(5_000);
    expect(primary.stableSeq).toBeGreaterThanOrEqual(2 * K);
    expect(primary.metrics.requestsExecuted).toBe(20);
    cluster.assertAgreement();
  });
});
