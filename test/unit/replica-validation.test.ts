/**
 * Proves that the replica core never trusts a peer: PRE-PREPAREs outside the window, in another
 * view, from a replica that is not the primary, or with a digest that does not match the requests
 * are dropped and counted; a batch with a request the backup cannot authenticate waits until the
 * backup holds that request from its client or a quorum vouches for it; a replica voting twice does
 * not make a quorum; a sender claiming
 * another replica's id, a PREPARE from the primary, and malformed VIEW-CHANGE / NEW-VIEW messages
 * are dropped and counted; bad configuration is rejected with a clear message.
 * How: messages injected into single replicas of the in-memory harness, then metrics and effects
 * are inspected.
 */
import { describe, expect, it } from "vitest";
import type { NewView, PrePrepare, ViewChange } from "../../bft/messages.js";
import {
  batchDigestOfRequests,
  defaultReplicaConfig,
  type Effect,
  validateReplicaConfig,
} from "../../bft/replica/index.js";
import { Cluster, makeDeps, makeRequest } from "./replica-harness.js";

const primary = { kind: "replica", id: 0 } as const;

const harnessDeps = makeDeps({
  execute: () => new Uint8Array(0),
  checkpoint: () => ({ digest: new Uint8Array(32), sizeBytes: 0, bytes: () => new Uint8Array(0) }),
  restore: () => true,
  snapshotDigest: () => undefined,
});

function prePrepare(seq: number, view = 0, clientId = 1): PrePrepare {
  const requests = [makeRequest(clientId, seq)];
  return { type: "PrePrepare", view, seq, digest: batchDigestOfRequests(requests, harnessDeps), requests };
}

const broadcasts = (effects: Effect[], type: string) =>
  effects.filter((e) => e.kind === "broadcast" && e.message.type === type).length;

describe("replica input validation", () => {
  it("drops PRE-PREPAREs outside the window, in the wrong view, from a non-primary, or with a bad digest", () => {
    const c = new Cluster({ f: 1 }).start();
    const backup = c.replica(1);
    const window = backup.config.logWindowSeqs;
    expect(c.inject(primary, 1, prePrepare(window + 1))).toEqual([]);
    expect(backup.metrics.dropped.outsideWindow).toBe(1);
    expect(c.inject(primary, 1, prePrepare(1, 3))).toEqual([]);
    expect(backup.metrics.dropped.wrongView).toBe(1);
    expect(c.inject({ kind: "replica", id: 2 }, 1, prePrepare(1))).toEqual([]);
    expect(backup.metrics.dropped.relayUncertified).toBe(1);
    const forged = { ...prePrepare(1), digest: new Uint8Array(32) };
    expect(c.inject(primary, 1, forged)).toEqual([]);
    expect(backup.metrics.dropped.badDigest).toBe(1);
    expect(c.inject({ kind: "client", id: 0 }, 1, prePrepare(1))).toEqual([]);
    expect(backup.metrics.dropped.senderKind).toBe(1);
    // The genuine one is accepted and a PREPARE goes out; a different batch for the same seq is not.
    expect(broadcasts(c.inject(primary, 1, prePrepare(1)), "Prepare")).toBe(1);
    expect(c.inject(primary, 1, prePrepare(1, 0, 2))).toEqual([]);
    expect(backup.metrics.dropped.conflictingPrePrepare).toBe(1);
  });

  it("takes a batch with a request it cannot authenticate only once a quorum vouches for it", () => {
    // E.g. a client that authenticated for the node that ran this id before a migration (simulator
    // seeds 36, 53, --migrate): the other replicas can, and their PREPAREs vouch for the batch.
    const c = new Cluster({
      f: 1,
      config: { statusIntervalMs: 100 },
      requestAuthentic: (replicaId, request) => replicaId !== 3 || request.clientId !== 9,
    }).start();
    const backup = c.replica(3);
    // Alone, without votes: dropped, no PREPARE.
    expect(c.inject(primary, 3, prePrepare(1, 0, 9))).toEqual([]);
    expect(backup.metrics.dropped.requestUnauthenticated).toBe(1);
    c.request(makeRequest(9, 1), 0);
    c.deliverAll();
    // The primary's own PRE-PREPARE is dropped too, then taken as soon as the other backups'
    // PREPAREs vouch for its digest (no retransmission needed).
    expect(backup.metrics.dropped.requestUnauthenticated).toBe(2);
    expect(c.replica(0).lastExecutedSeq).toBe(1);
    expect(backup.lastExecutedSeq).toBe(1);
    expect(c.executedRequests(3)).toEqual(c.executedRequests(0));
    c.assertAgreement();
  });

  it("takes a batch it cannot authenticate once it holds the same request from the client", () => {
    // Migration CI seeds 2 and 29: a promoted target cannot check the authenticators the clients
    // made for the source node, and with one replica faulty no certificate can form without the
    // target's own vote. The clients' re-authenticated retransmissions reach the target: a backup
    // that received the request itself knows the client asked for it (PBFT's rule).
    const c = new Cluster({
      f: 1,
      requestAuthentic: (replicaId, request) => replicaId !== 3 || request.clientId !== 9,
    }).start();
    const backup = c.replica(3);
    const pp = prePrepare(1, 0, 9);
    expect(c.inject(primary, 3, pp)).toEqual([]);
    expect(backup.metrics.dropped.requestUnauthenticated).toBe(1);
    // Another request of the same client and timestamp (a different operation) proves nothing.
    const other = makeRequest(9, 1, "another operation");
    expect(broadcasts(c.inject({ kind: "client", id: 9 }, 3, other), "Prepare")).toBe(0);
    expect(broadcasts(c.inject({ kind: "client", id: 9 }, 3, makeRequest(9, 2)), "Prepare")).toBe(0);
    // The request itself, received from the client: the parked PRE-PREPARE is taken.
    const fresh = new Cluster({
      f: 1,
      requestAuthentic: (replicaId, request) => replicaId !== 3 || request.clientId !== 9,
    }).start();
    expect(fresh.inject(primary, 3, pp)).toEqual([]);
    const effects = fresh.inject({ kind: "client", id: 9 }, 3, makeRequest(9, 1));
    expect(broadcasts(effects, "Prepare")).toBe(1);
    // And a later PRE-PREPARE of a request it already holds is taken at once.
    const later = new Cluster({
      f: 1,
      requestAuthentic: (replicaId, request) => replicaId !== 3 || request.clientId !== 9,
    }).start();
    later.inject({ kind: "client", id: 9 }, 3, makeRequest(9, 1));
    expect(broadcasts(later.inject(primary, 3, pp), "Prepare")).toBe(1);
    expect(later.replica(3).metrics.dropped.requestUnauthenticated).toBe(0);
  });

  it("resends a PRE-PREPARE with the client's latest copy of each request", () => {
    // Migration CI seed 102: the clients re-authenticated for the new nodes before the target was
    // promoted; the primary got those copies, the target did not, and with replica 2 down no
    // certificate could form without the target's vote. The primary's resent PRE-PREPARE (same
    // digest: authenticators are not part of it) now carries the copies the target can check.
    const fresh = new Uint8Array([1, 2, 3]);
    const c = new Cluster({
      f: 1,
      config: { statusIntervalMs: 100 },
      requestAuthentic: (replicaId, request) =>
        replicaId !== 3 || Buffer.from(request.auth).equals(Buffer.from(fresh)),
    }).start();
    c.crashed.add(2);
    const stale = makeRequest(9, 1);
    c.request(stale, 0);
    c.deliverAll();
    expect(c.replica(3).metrics.dropped.requestUnauthenticated).toBe(1);
    expect(c.replica(0).lastExecutedSeq).toBe(0);
    // The client's retransmission, re-authenticated, reaches the primary only.
    c.request({ ...stale, auth: fresh }, 0);
    c.deliverAll();
    c.advance(100); // replica 3's STATUS: the primary resends seq 1 (resendUnvoted)
    for (const id of [0, 1, 3]) expect(c.executedRequests(id)).toEqual(["9/1"]);
    c.assertAgreement();
  });

  it("counts each replica once toward a quorum", () => {
    const c = new Cluster({ f: 1 }).start();
    const pp = prePrepare(1);
    c.inject(primary, 1, pp);
    // Replica 3 first votes for another digest, then tries to vote again for the real one.
    const wrong = { type: "Prepare", view: 0, seq: 1, digest: new Uint8Array(32), replicaId: 3 } as const;
    const right = { ...wrong, digest: pp.digest };
    expect(broadcasts(c.inject({ kind: "replica", id: 3 }, 1, wrong), "Commit")).toBe(0);
    expect(broadcasts(c.inject({ kind: "replica", id: 3 }, 1, right), "Commit")).toBe(0);
    expect(c.replica(1).metrics.dropped.conflictingVote).toBe(1);
    expect(broadcasts(c.inject({ kind: "replica", id: 3 }, 1, wrong), "Commit")).toBe(0);
    expect(c.replica(1).metrics.dropped.duplicate).toBe(1);
    // A second distinct backup makes 2f matching PREPAREs: now it commits.
    expect(broadcasts(c.inject({ kind: "replica", id: 2 }, 1, { ...right, replicaId: 2 }), "Commit")).toBe(1);
  });

  it("drops impersonation, PREPAREs from the primary and stray replies", () => {
    const c = new Cluster({ f: 1 }).start();
    const pp = prePrepare(1);
    const backup = c.replica(1);
    c.inject({ kind: "replica", id: 2 }, 1, {
      type: "Prepare",
      view: 0,
      seq: 1,
      digest: pp.digest,
      replicaId: 3,
    });
    expect(backup.metrics.dropped.senderMismatch).toBe(1);
    c.inject(primary, 1, { type: "Prepare", view: 0, seq: 1, digest: pp.digest, replicaId: 0 });
    expect(backup.metrics.dropped.prepareFromPrimary).toBe(1);
    c.inject({ kind: "client", id: 9 }, 1, makeRequest(8, 1));
    expect(backup.metrics.dropped.senderMismatch).toBe(2);
    c.inject({ kind: "replica", id: 2 }, 1, {
      type: "Checkpoint",
      seq: 3,
      stateDigest: new Uint8Array(32),
      replicaId: 2,
    });
    expect(backup.metrics.dropped.badCheckpointSeq).toBe(1);
    c.inject(primary, 1, {
      type: "Reply",
      view: 0,
      timestamp: 1,
      clientId: 1,
      replicaId: 0,
      result: new Uint8Array(0),
    });
    expect(backup.metrics.dropped.unexpectedType).toBe(1);
  });

  it("drops malformed VIEW-CHANGEs and NEW-VIEWs that do not match the decision", () => {
    const c = new Cluster({ f: 1, config: { viewChangeTimeoutMs: 100 } }).start();
    const genesis = c.replica(2).stableStateDigest;
    const base: ViewChange = {
      type: "ViewChange",
      newView: 1,
      stableSeq: 0,
      checkpoints: [{ seq: 0, stateDigest: genesis }],
      prepared: [],
      prePrepared: [],
      batches: [],
      replicaId: 2,
      signature: new Uint8Array(64),
    };
    c.inject({ kind: "replica", id: 2 }, 1, {
      ...base,
      prepared: [{ seq: 1, view: 1, digest: new Uint8Array(32) }],
    });
    expect(c.replica(1).metrics.dropped.badViewChange).toBe(1);
    // A NEW-VIEW for view 1 from replica 2 (not view 1's primary) is rejected.
    const vcs = [0, 2, 3].map((id) => ({ ...base, replicaId: id }));
    const newView: NewView = {
      type: "NewView",
      view: 1,
      viewChanges: vcs,
      prePrepares: [],
      replicaId: 1,
      signature: new Uint8Array(0),
    };
    c.inject({ kind: "replica", id: 2 }, 3, { ...newView, replicaId: 2 });
    expect(c.replica(3).metrics.dropped.wrongPrimary).toBe(1);
    // From the right primary but with an extra PRE-PREPARE the decision does not contain.
    const extra = prePrepare(1, 1);
    c.inject({ kind: "replica", id: 1 }, 3, { ...newView, prePrepares: [extra] });
    expect(c.replica(3).metrics.dropped.badNewView).toBe(1);
    // Only two view-changes: not a quorum.
    c.inject({ kind: "replica", id: 1 }, 3, { ...newView, viewChanges: vcs.slice(0, 2) });
    expect(c.replica(3).metrics.dropped.badNewView).toBe(2);
    // The genuine one is accepted.
    const effects = c.inject({ kind: "replica", id: 1 }, 3, newView);
    expect(effects).toContainEqual({ kind: "viewEntered", view: 1, primary: 1 });
    expect(c.replica(3).view).toBe(1);
  });

  it.each([
    [{ f: 0 }, /f must be an integer in 1\.\.3/],
    [{ f: 4 }, /f must be an integer in 1\.\.3/],
    [{ replicaId: 4 }, /replicaId must be an integer in 0\.\.3/],
    [{ checkpointIntervalSeqs: 48, logWindowSeqs: 120 }, /multiple of checkpointIntervalSeqs/],
    [{ logWindowSeqs: 256 }, /logWindowSeqs must be an integer in 128\.\.128/],
    [{ logWindowSeqs: 64 }, /logWindowSeqs must be an integer/],
    [{ batchSizeMax: 0 }, /batchSizeMax/],
    [{ batchSizeMax: 65 }, /batchSizeMax/],
    [{ batchInflightMax: 0 }, /batchInflightMax/],
    [{ viewChangeTimeoutMs: 0 }, /viewChangeTimeoutMs/],
    [{ statusIntervalMs: 1.5 }, /statusIntervalMs/],
  ])("rejects bad config %o", (override, message) => {
    expect(() => validateReplicaConfig({ ...defaultReplicaConfig(1, 0), ...override })).toThrow(message);
  });

  it("accepts the defaults for f = 1..3", () => {
    for (const f of [1, 2, 3]) expect(validateReplicaConfig(defaultReplicaConfig(f, 3 * f)).f).toBe(f);
  });
});
