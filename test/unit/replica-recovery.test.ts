/**
 * Proves three rules found by the simulator (seeds 7, 137 and 171 among others):
 * - A replica restarted without memory (start with `recovering: true`) never acts as primary in the
 *   view it restarted into: it cannot know what it proposed there before the crash. It takes part
 *   as a backup until a view change brings it into a view properly, and a NEW-VIEW naming itself
 *   that another replica resends is never entered.
 * - A primary takes no relayed PRE-PREPARE in its own view (a relay could fill a seq it is about to
 *   assign), and a NEW-VIEW resent by a replica that is not its author is accepted when its author
 *   is the view's primary and its content checks out.
 * - A new primary whose stable checkpoint is behind the NEW-VIEW decision's fetches the decided
 *   checkpoint, keeps the decided batches above its window until it has it, and never proposes
 *   above its own high watermark.
 * How: the in-memory cluster harness; a restart replaces a replica's core and application with
 * fresh ones (Cluster.restart); faults are crashes and message filters.
 */
import { describe, expect, it } from "vitest";
import type { NewView, PrePrepare } from "../../bft/messages.js";
import { batchDigestOfRequests } from "../../bft/replica/index.js";
import { Cluster, makeDeps, makeRequest } from "./replica-harness.js";

const TIMEOUT_MS = 1000;

function cluster(config = {}): Cluster {
  return new Cluster({
    f: 1,
    config: { viewChangeTimeoutMs: TIMEOUT_MS, statusIntervalMs: 200, ...config },
  }).start();
}

describe("a replica restarted without memory", () => {
  it("does not propose again in the view it led (seed 7: seqs 1 and 2 reused)", () => {
    const c = cluster();
    c.request(makeRequest(1, 1), "all");
    c.request(makeRequest(2, 1), "all");
    c.deliverAll();
    expect(c.replica(1).lastExecutedSeq).toBeGreaterThanOrEqual(1);
    const restarted = c.restart(0);
    c.request(makeRequest(1, 2), "all");
    c.deliverAll();
    // Still view 0, where it is primary by rotation, but it proposes nothing there.
    expect(restarted.view).toBe(0);
    expect(restarted.metrics.batchesProposed).toBe(0);
    c.advance(10 * TIMEOUT_MS);
    for (const id of [0, 1, 2, 3]) {
      expect(c.replica(id).view).toBe(1);
      expect(c.replica(id).viewChanging).toBe(false);
    }
    expect(restarted.metrics.batchesProposed).toBe(0);
    for (const id of [1, 2, 3])
      expect(c.executedRequests(id)).toEqual(expect.arrayContaining(["1/1", "2/1", "1/2"]));
    expect(c.replyCount(1, 2)).toBeGreaterThanOrEqual(3);
    c.assertAgreement();
  });

  it("without the recovering option it would reuse seq 1 (the option is what protects)", () => {
    const c = cluster();
    c.request(makeRequest(1, 1), "all");
    c.deliverAll();
    const restarted = c.restart(0, { recovering: false });
    c.request(makeRequest(1, 2), "all");
    c.deliverAll();
    expect(restarted.metrics.batchesProposed).toBe(1);
    expect(c.replica(1).metrics.dropped.conflictingPrePrepare).toBe(1);
  });

  it("never enters a NEW-VIEW naming itself that another replica resends", () => {
    const c = cluster();
    c.crashed.add(0);
    c.request(makeRequest(1, 1), "all");
    c.advance(5 * TIMEOUT_MS);
    expect(c.replica(1).view).toBe(1);
    const newView = c
      .effectsOf(1, "broadcast")
      .map((effect) => (effect.kind === "broadcast" ? effect.message : undefined))
      .find((message): message is NewView => message?.type === "NewView");
    expect(newView?.replicaId).toBe(1);
    const restarted = c.restart(1);
    c.crashed.add(1); // deliver by hand only
    c.inject({ kind: "replica", id: 2 }, 1, newView!);
    expect(restarted.metrics.dropped.ownNewView).toBe(1);
    expect(restarted.view).toBe(0);
    expect(restarted.metrics.viewsEntered).toBe(0);
  });
});

describe("a restarted primary and the views it may have led", () => {
  it("does not lead again a view a peer's STATUS shows was reached before it (seed 1410)", () => {
    const c = cluster();
    c.crashed.add(0);
    c.request(makeRequest(1, 1), "all");
    c.advance(5 * TIMEOUT_MS);
    expect(c.replica(1).view).toBe(1);
    const viewChanges = [2, 3].map((id) =>
      c
        .effectsOf(id, "broadcast")
        .map((effect) => (effect.kind === "broadcast" ? effect.message : undefined))
        .find((message) => message?.type === "ViewChange"),
    );
    // Replica 1 led view 1 and proposed in it; it restarts without memory into view 0.
    const restarted = c.restart(1);
    c.crashed.add(1); // deliver by hand only
    c.inject({ kind: "replica", id: 2 }, 1, {
      type: "Status",
      view: 1,
      viewActive: true,
      lastExecutedSeq: 1,
      stableSeq: 0,
      replicaId: 2,
    });
    // Stale VIEW-CHANGEs for view 1 (retransmitted) make it join view 1, where it is primary.
    for (const [index, id] of [2, 3].entries()) c.inject({ kind: "replica", id }, 1, viewChanges[index]!);
    expect(restarted.view).toBe(1);
    const newViews = c
      .effectsOf(1, "broadcast")
      .filter((effect) => effect.kind === "broadcast" && effect.message.type === "NewView");
    expect(newViews).toHaveLength(1); // the first incarnation's only
  });
});

describe("forwarded protocol messages", () => {
  it("the primary drops a relayed PRE-PREPARE in its own view, even a certified one", () => {
    const c = cluster();
    const requests = [makeRequest(1, 1)];
    const digest = batchDigestOfRequests(requests, makeDeps(c.apps[0]!));
    const prePrepare: PrePrepare = { type: "PrePrepare", view: 0, seq: 1, digest, requests };
    // f+1 COMMITs certify (0, 1, digest) at replica 0, so a backup's relay would be accepted.
    for (const id of [1, 2])
      c.inject({ kind: "replica", id }, 0, { type: "Commit", view: 0, seq: 1, digest, replicaId: id });
    c.inject({ kind: "replica", id: 1 }, 0, prePrepare);
    expect(c.replica(0).metrics.dropped.relayToPrimary).toBe(1);
    // Seq 1 is still free: proposing it must not trip "a fresh seq has no pre-prepare".
    c.request(makeRequest(2, 1), 0);
    c.deliverAll();
    expect(c.replica(0).metrics.batchesProposed).toBe(1);
  });

  it("a lagging replica enters a view through a NEW-VIEW resent by a non-primary", () => {
    const c = cluster();
    c.crashed.add(0);
    // Replica 3 never gets the NEW-VIEW from the new primary (1): only a resend by replica 2 can
    // bring it in (replica 2 answers replica 3's retransmitted VIEW-CHANGE with it).
    c.filter = (envelope) =>
      !(envelope.message.type === "NewView" && envelope.from.id === 1 && envelope.to === 3);
    c.request(makeRequest(1, 1), "all");
    c.advance(10 * TIMEOUT_MS);
    expect(c.replica(3).view).toBe(1);
    expect(c.replica(3).viewChanging).toBe(false);
    expect(c.replica(3).metrics.dropped.senderMismatch).toBe(0);
    expect(c.effectsOf(3, "viewEntered")).toEqual([{ kind: "viewEntered", view: 1, primary: 1 }]);
    expect(c.executedRequests(3)).toEqual(["1/1"]);
  });

  it("a resent NEW-VIEW whose author is not the view's primary is dropped", () => {
    const c = cluster();
    c.crashed.add(0);
    c.filter = (envelope) => envelope.message.type !== "NewView" || envelope.to !== 3;
    c.request(makeRequest(1, 1), "all");
    c.advance(1.5 * TIMEOUT_MS); // the others are in view 1; replica 3 still waits for its NEW-VIEW
    const newView = c
      .effectsOf(1, "broadcast")
      .map((effect) => (effect.kind === "broadcast" ? effect.message : undefined))
      .find((message): message is NewView => message?.type === "NewView");
    expect(newView).toBeDefined();
    expect(c.replica(3).viewChanging).toBe(true);
    c.inject({ kind: "replica", id: 2 }, 3, { ...newView!, replicaId: 2 });
    expect(c.replica(3).metrics.dropped.wrongPrimary).toBe(1);
    expect(c.replica(3).viewChanging).toBe(true);
    c.inject({ kind: "replica", id: 2 }, 3, newView!);
    expect(c.replica(3).viewChanging).toBe(false);
  });
});

describe("a new primary behind the decided checkpoint (seed 171)", () => {
  const K = 4;
  const config = { checkpointIntervalSeqs: K, logWindowSeqs: 2 * K, batchSizeMax: 2, batchInflightMax: 2 };

  it("fetches the decided checkpoint, takes the decided batches after it and proposes inside its window", () => {
    const c = cluster(config);
    // Phase 1: replica 1 (the next primary) hears nothing while the others run far past its window.
    c.filter = (envelope) =>
      envelope.to !== 1 && !(envelope.from.kind === "replica" && envelope.from.id === 1);
    let timestamp = 1;
    for (let round = 0; round < 20; round++, timestamp++) {
      for (let client = 1; client <= 4; client++) c.request(makeRequest(client, timestamp), 0);
      c.deliverAll();
    }
    // One more round prepares everywhere but commits nowhere: the decision will re-propose it.
    const blockCommits = c.filter;
    c.filter = (envelope) => blockCommits(envelope) && envelope.message.type !== "Commit";
    for (let client = 1; client <= 4; client++) c.request(makeRequest(client, timestamp), 0);
    c.deliverAll();
    const stableBefore = c.replica(2).stableSeq;
    expect(stableBefore).toBeGreaterThanOrEqual(36);
    expect(c.replica(1).stableSeq).toBe(0);
    // Phase 2: the primary crashes. Replica 1 gets no CHECKPOINT, STATUS or view-0 traffic, so it
    // cannot catch up before the view change: it enters view 1 as primary with stable checkpoint 0.
    c.crashed.add(0);
    const catchUp = new Set(["Checkpoint", "Status", "PrePrepare", "Prepare", "Commit"]);
    c.filter = (envelope) =>
      envelope.to !== 1 ||
      !catchUp.has(envelope.message.type) ||
      ("view" in envelope.message && envelope.message.view > 0);
    timestamp++;
    c.request(makeRequest(1, timestamp), "all");
    c.advance(5 * TIMEOUT_MS);
    const primary = c.replica(1);
    expect(primary.view).toBe(1);
    expect(primary.viewChanging).toBe(false);
    expect(primary.metrics.stateTransfersCompleted).toBe(1);
    expect(primary.stableSeq).toBeGreaterThanOrEqual(stableBefore);
    // Phase 3: everything flows again; the decided batches and new requests execute everywhere.
    c.filter = () => true;
    c.advance(2 * TIMEOUT_MS);
    for (let client = 1; client <= 4; client++) c.request(makeRequest(client, timestamp + 1), "all");
    c.advance(2 * TIMEOUT_MS);
    for (const id of [1, 2, 3]) {
      expect(c.replica(id).lastExecutedSeq).toBe(c.replica(2).lastExecutedSeq);
      expect(c.apps[id]!.chain).toEqual(c.apps[2]!.chain);
    }
    for (let client = 1; client <= 4; client++) expect(c.replyCount(client, timestamp + 1)).toBe(3);
    c.assertAgreement();
  });
});
