/**
 * Proves recovery of a lagging replica: through STATUS retransmission when the missing batches are
 * still in the others' logs (votes and relayed PRE-PREPAREs), and through state transfer when they
 * were garbage-collected (PBFT section 5.3): the replica learns of a certified checkpoint from f+1
 * CHECKPOINTs, fetches and verifies it chunk by chunk, installs it and continues from the log. A
 * Byzantine source serving a corrupted copy is detected and another replica is asked. StateFetch
 * is also tested alone, with several chunks and a wrong source.
 * How: the in-memory cluster harness (partitioning replica 3, mutating a STATE-CHUNK in flight),
 * plus direct calls on StateFetch and stateChunkOf.
 */
import { describe, expect, it } from "vitest";
import type { Message, StateChunk, ViewChange } from "../../bft/messages.js";
import { StateFetch, stateChunkOf } from "../../bft/replica/index.js";
import { Cluster, makeRequest, sha256 } from "./replica-harness.js";

const K = 4;
const config = {
  checkpointIntervalSeqs: K,
  logWindowSeqs: 2 * K,
  batchSizeMax: 2,
  batchInflightMax: 2,
  statusIntervalMs: 100,
};

function loadRounds(c: Cluster, rounds: number, startTimestamp: number): void {
  for (let round = 0; round < rounds; round++) {
    for (let client = 1; client <= 4; client++) c.request(makeRequest(client, startTimestamp + round), 0);
    c.deliverAll();
  }
}

describe("replica catch-up", () => {
  it("catches up through STATUS retransmission when the log still has the batches", () => {
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) => envelope.to !== 3;
    loadRounds(c, 1, 1); // 4 requests in 3 batches: below the first checkpoint, still in every log
    expect(c.replica(3).lastExecutedSeq).toBe(0);
    c.filter = () => true;
    c.advance(1000);
    expect(c.replica(3).lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    expect(c.executedRequests(3)).toEqual(c.executedRequests(0));
    expect(c.replica(3).metrics.stateTransfersStarted).toBe(0);
    expect(c.replica(0).metrics.retransmissions).toBeGreaterThan(0);
    c.assertAgreement();
  });

  it("catches up by state transfer when the batches were garbage-collected", () => {
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) => envelope.to !== 3;
    loadRounds(c, 20, 1); // 80 requests, 40 batches: far beyond replica 3's window
    expect(c.replica(0).stableSeq).toBeGreaterThanOrEqual(36);
    c.filter = () => true;
    c.advance(1000);
    const lagging = c.replica(3);
    expect(lagging.metrics.stateTransfersCompleted).toBe(1);
    expect(c.effectsOf(3, "stateInstalled")).toHaveLength(1);
    expect(lagging.lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    expect(c.apps[3]!.chain).toEqual(c.apps[0]!.chain);
    // It takes part normally afterwards, duplicate suppression included (the client table came along).
    loadRounds(c, 3, 21);
    expect(c.replyCount(1, 23)).toBe(4);
    expect(lagging.lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    c.request(makeRequest(1, 5), 3);
    c.deliverAll();
    expect(lagging.metrics.dropped.staleRequest).toBe(1);
    c.assertAgreement();
  });

  it("re-sends its VIEW-CHANGE for the same view once a state transfer moves its stable checkpoint", () => {
    // A VIEW-CHANGE sent before the fetch names the old checkpoint, so the seqs below the installed
    // one are left to the log, where a lone correct replica's prepared certificate satisfies
    // neither A2 nor the null rule (migration CI seed 79: view 1 never formed).
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) =>
      envelope.to !== 3 && !(envelope.from.kind === "replica" && envelope.from.id === 3);
    loadRounds(c, 20, 1);
    expect(c.replica(0).stableSeq).toBeGreaterThanOrEqual(36);
    c.inject({ kind: "client", id: 9 }, 3, makeRequest(9, 1)); // work for replica 3's timer
    c.advance(2500); // its view-change timer fires: VIEW-CHANGE for view 1, stable checkpoint 0
    const lagging = c.replica(3);
    expect(lagging.view).toBe(1);
    expect(lagging.viewChanging).toBe(true);
    const viewChanges = () =>
      c
        .effectsOf(3, "broadcast")
        .map((effect) => (effect as { message: Message }).message)
        .filter((message): message is ViewChange => message.type === "ViewChange" && message.newView === 1);
    expect(viewChanges().map((message) => message.stableSeq)).toEqual([0]);
    c.filter = () => true;
    c.advance(300); // STATUS brings the CHECKPOINTs; f+1 of them let it fetch in the view change
    expect(lagging.metrics.stateTransfersCompleted).toBe(1);
    expect(lagging.view).toBe(1);
    expect(viewChanges().map((message) => message.stableSeq)).toEqual([0, lagging.stableSeq]);
    expect(lagging.stableSeq).toBeGreaterThanOrEqual(36);
  });

  it("fetches from a replica that did not vouch for the checkpoint when those that did are silent", () => {
    // The f+1 replicas whose CHECKPOINTs certified the digest may be gone (retired by a migration,
    // restarted without memory) while another holds the checkpoint (simulator seed 74, --migrate).
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) => envelope.to !== 3;
    loadRounds(c, 20, 1);
    c.filter = (envelope) => {
      const type = envelope.message.type;
      if (envelope.to === 3 && envelope.from.id === 2 && type === "Checkpoint") return false;
      return type !== "FetchState" || envelope.to === 2;
    };
    c.advance(10_000);
    const lagging = c.replica(3);
    expect(lagging.metrics.stateTransfersCompleted).toBe(1);
    expect(lagging.lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    expect(c.apps[3]!.chain).toEqual(c.apps[0]!.chain);
    c.assertAgreement();
  });

  it("a lagging replica that ran alone into a higher view still gets CHECKPOINTs and catches up", () => {
    // Its peers ignore a STATUS from a higher view for everything view-bound, but CHECKPOINTs name
    // no view (simulator seed 36, --migrate: the replica otherwise stayed behind and missed the
    // next migration, after which it could no longer authenticate the new nodes).
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) => envelope.to !== 3;
    loadRounds(c, 20, 1);
    // A request only replica 3 knows of: its view-change timer expires and it moves to view 1 alone.
    c.filter = (envelope) => envelope.to === 3 && envelope.message.type === "Request";
    c.request(makeRequest(9, 1), 3);
    c.advance(5000);
    const lagging = c.replica(3);
    expect(lagging.view).toBeGreaterThan(0);
    expect(lagging.viewChanging).toBe(true);
    expect(c.replica(0).view).toBe(0);
    c.filter = (envelope) => envelope.message.type !== "ViewChange";
    c.advance(2000);
    expect(lagging.metrics.stateTransfersCompleted).toBe(1);
    expect(lagging.lastExecutedSeq).toBeGreaterThanOrEqual(c.replica(0).stableSeq);
    c.assertAgreement();
  });

  it("rejects a corrupted copy from a Byzantine source and fetches from another replica", () => {
    const c = new Cluster({ f: 1, config }).start();
    c.filter = (envelope) => envelope.to !== 3;
    loadRounds(c, 20, 1);
    c.filter = () => true;
    let corruptedFrom = -1;
    c.mutate = (envelope) => {
      if (envelope.message.type !== "StateChunk" || corruptedFrom !== -1) return envelope;
      corruptedFrom = envelope.from.id;
      const chunk = envelope.message;
      const bytes = chunk.bytes.slice();
      bytes[bytes.length - 1]! ^= 0xff; // inside the application's bytes
      return { ...envelope, message: { ...chunk, bytes } };
    };
    c.advance(3000);
    const lagging = c.replica(3);
    expect(corruptedFrom).toBeGreaterThanOrEqual(0);
    expect(lagging.metrics.stateTransferBadCopies).toBe(1);
    expect(lagging.metrics.stateTransfersCompleted).toBe(1);
    expect(c.apps[3]!.chain).toEqual(c.apps[0]!.chain);
    expect(lagging.lastExecutedSeq).toBe(c.replica(0).lastExecutedSeq);
    c.assertAgreement();
  });
});

describe("StateFetch", () => {
  const stateBytes = new Uint8Array(2500).map((_, index) => index % 251);
  const stateDigest = sha256(stateBytes);
  const chunk = (replicaId: number, chunkIndex: number): StateChunk =>
    stateChunkOf({ stateBytes, seq: 8, stateDigest, chunkIndex, replicaId, chunkBytes: 1000 })!;

  it("reassembles several chunks from one source", () => {
    const fetch = new StateFetch({ seq: 8, stateDigest, sources: [1, 2], requesterId: 0 });
    expect(fetch.request()).toMatchObject({ to: 1, message: { chunkIndex: 0, seq: 8 } });
    expect(fetch.onChunk(1, chunk(1, 0))).toMatchObject({
      kind: "next",
      request: { to: 1, message: { chunkIndex: 1 } },
    });
    expect(fetch.onChunk(1, chunk(1, 1)).kind).toBe("next");
    const done = fetch.onChunk(1, chunk(1, 2));
    expect(done.kind).toBe("complete");
    expect(done.kind === "complete" && Buffer.from(done.bytes).equals(Buffer.from(stateBytes))).toBe(true);
  });

  it("ignores other sources, wrong checkpoints, out-of-order and mis-sized chunks; rotates on request", () => {
    const fetch = new StateFetch({ seq: 8, stateDigest, sources: [1, 2], requesterId: 0 });
    expect(fetch.onChunk(2, chunk(2, 0))).toEqual({ kind: "ignored", reason: "wrongSource" });
    expect(fetch.onChunk(1, { ...chunk(1, 0), seq: 12 })).toEqual({
      kind: "ignored",
      reason: "wrongCheckpoint",
    });
    expect(fetch.onChunk(1, chunk(1, 1))).toEqual({ kind: "ignored", reason: "badChunk" });
    expect(fetch.onChunk(1, { ...chunk(1, 0), chunkCount: 7 })).toEqual({
      kind: "ignored",
      reason: "badChunk",
    });
    expect(fetch.onChunk(1, chunk(1, 0)).kind).toBe("next");
    expect(fetch.onChunk(1, { ...chunk(1, 1), bytes: new Uint8Array(10) })).toEqual({
      kind: "ignored",
      reason: "badChunk",
    });
    expect(fetch.rejectCopy()).toMatchObject({ to: 2, message: { chunkIndex: 0 } });
    expect(fetch.badCopies).toBe(1);
    expect(fetch.rotate().to).toBe(1);
  });

  it("serves no chunk beyond the end", () => {
    expect(
      stateChunkOf({ stateBytes, seq: 8, stateDigest, chunkIndex: 3, replicaId: 1, chunkBytes: 1000 }),
    ).toBeNull();
  });
});
