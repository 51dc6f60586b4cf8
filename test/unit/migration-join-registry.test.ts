/**
 * Proves the active replicas' standby registry (paper section 3.1): a JOIN-REQUEST is accepted
 * only with a valid coprocessor signature under the roster's key and an l above any accepted
 * from that node (stale and replayed counters are rejected and counted); a retransmission of an
 * executed request yields the same approval again; ordered joins and leaves applied at execution
 * give the same replicated state at every replica (even when a faulty primary orders a stale
 * request); join times drive target choice; promotion and retirement move nodes in and out;
 * snapshots restore the replicated part.
 * How: real Ed25519 signatures from FakeCoprocessors, table-driven rejection rows, and two
 * registries fed the same ordered log compared by snapshot.
 */
import { describe, expect, it } from "vitest";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import {
  JoinRegistry,
  type JoinRegistryConfig,
  type JoinRequest,
  joinApprovedSignedBytes,
  joinRequestSignedBytes,
  type LeaveRequest,
  leaveRequestSignedBytes,
  makeJoinApproved,
  selectTargets,
} from "../../bft/migration/index.js";

const codeDigest = new Uint8Array(32);
const coprocessors = new Map<number, FakeCoprocessor>();
function coprocessorOf(nodeId: number): FakeCoprocessor {
  let coprocessor = coprocessors.get(nodeId);
  if (coprocessor === undefined) {
    coprocessor = new FakeCoprocessor(createFakeCoprocessorStore({ seed: fakeSeed(7, nodeId), codeDigest }));
    coprocessors.set(nodeId, coprocessor);
  }
  return coprocessor;
}
const cm = new FakeCoprocessor(createFakeCoprocessorStore({ seed: fakeSeed(7, 999), codeDigest }));

// Nodes 0..3 run replicas (f = 1); 10, 11, 12 are standbys.
const config: JoinRegistryConfig = {
  f: 1,
  roster: [0, 1, 2, 3, 10, 11, 12].map((nodeId) => ({
    nodeId,
    publicKey: coprocessorOf(nodeId).publicKey(),
  })),
  activeNodeIds: [0, 1, 2, 3],
  cmPublicKeys: [cm.publicKey()],
};
const deps = { verify: verifySignature };

function joinRequest(nodeId: number, counter: number, signer = coprocessorOf(nodeId)): JoinRequest {
  const fields = {
    counter,
    nodeId,
    publicKey: coprocessorOf(nodeId).publicKey(),
    address: `10.2.0.${nodeId}:7000`,
  };
  return { type: "JoinRequest", ...fields, signature: signer.sign(joinRequestSignedBytes(fields)) };
}

function leaveRequest(nodeId: number, counter: number): LeaveRequest {
  const fields = { nodeId, counter, cmId: 0 };
  return { type: "LeaveRequest", ...fields, signature: cm.sign(leaveRequestSignedBytes(fields)) };
}

describe("JoinRegistry acceptance (before ordering)", () => {
  it.each([
    ["a forged signature", () => joinRequest(10, 1, coprocessorOf(11)), "badSignature"],
    [
      "a key that is not the roster's",
      () => ({ ...joinRequest(10, 1), publicKey: coprocessorOf(11).publicKey() }),
      "keyMismatch",
    ],
    ["a node outside the roster", () => ({ ...joinRequest(10, 1), nodeId: 50 }), "unknownNode"],
    ["counter zero (never produced by a bumped counter)", () => joinRequest(10, 0), "malformed"],
    ["an empty address", () => ({ ...joinRequest(10, 1), address: "" }), "malformed"],
    ["a node running a replica", () => joinRequest(2, 1), "nodeActive"],
  ] as const)("rejects %s", (_name, make, reason) => {
    const registry = new JoinRegistry(config, deps);
    expect(registry.acceptJoinRequest(make())).toEqual({ verdict: "rejected", reason });
    expect(registry.drops[reason]).toBe(1);
  });

  it("accepts only increasing l per node; stale and replayed counters are rejected and counted", () => {
    const registry = new JoinRegistry(config, deps);
    expect(registry.acceptJoinRequest(joinRequest(10, 5))).toEqual({ verdict: "accepted" });
    expect(registry.acceptJoinRequest(joinRequest(10, 5))).toEqual({
      verdict: "rejected",
      reason: "duplicate",
    });
    expect(registry.acceptJoinRequest(joinRequest(10, 4))).toEqual({ verdict: "rejected", reason: "stale" });
    expect(registry.acceptJoinRequest(joinRequest(10, 6))).toEqual({ verdict: "accepted" });
    expect(registry.acceptJoinRequest(joinRequest(11, 1))).toEqual({ verdict: "accepted" });
    expect(registry.drops).toMatchObject({ duplicate: 1, stale: 1 });
  });

  it("answers a retransmitted, already executed request with the same approval", () => {
    const registry = new JoinRegistry(config, deps);
    const request = joinRequest(10, 1);
    registry.acceptJoinRequest(request);
    const executed = registry.executeJoin({ request, seq: 40, joinTimeMs: 1_000 });
    expect(executed.applied).toBe(true);
    expect(registry.acceptJoinRequest(request)).toEqual({
      verdict: "approvedAlready",
      approval: { nodeId: 10, counter: 1, seq: 40, address: "10.2.0.10:7000" },
    });
    if (executed.applied) {
      const signer = coprocessorOf(3);
      const approved = makeJoinApproved(executed.approval, 3, (bytes) => signer.sign(bytes));
      const { type: _type, signature, ...fields } = approved;
      expect(fields).toEqual({ counter: 1, seq: 40, nodeId: 10, replicaId: 3 });
      expect(verifySignature(signer.publicKey(), joinApprovedSignedBytes(fields), signature)).toBe(true);
      // The signature covers n_r: the same approval for another sequence number does not verify.
      expect(
        verifySignature(signer.publicKey(), joinApprovedSignedBytes({ ...fields, seq: 41 }), signature),
      ).toBe(false);
    }
  });
});

describe("JoinRegistry execution (replicated state)", () => {
  /** One ordered log, as a faulty primary might produce it, including a stale replay. */
  const log = [
    { kind: "join", request: joinRequest(10, 1), seq: 1, joinTimeMs: 100 },
    { kind: "join", request: joinRequest(11, 1), seq: 2, joinTimeMs: 200 },
    { kind: "join", request: joinRequest(12, 3), seq: 3, joinTimeMs: 300 },
    { kind: "join", request: joinRequest(10, 1), seq: 4, joinTimeMs: 400 }, // replay: stale
    { kind: "join", request: joinRequest(10, 2), seq: 5, joinTimeMs: 500 }, // re-registration
    { kind: "leave", request: leaveRequest(11, 1), seq: 6 },
    { kind: "join", request: joinRequest(11, 1), seq: 7, joinTimeMs: 700 }, // revoked l: stale
  ] as const;

  function replay(registry: JoinRegistry): boolean[] {
    return log.map((entry) =>
      entry.kind === "join"
        ? registry.executeJoin({ request: entry.request, seq: entry.seq, joinTimeMs: entry.joinTimeMs })
            .applied
        : registry.executeLeave({ request: entry.request, seq: entry.seq }).applied,
    );
  }

  it("applies joins and leaves in order and skips stale ones deterministically", () => {
    const a = new JoinRegistry(config, deps);
    const b = new JoinRegistry(config, deps);
    // Replica b accepted some requests locally before ordering; that must not change execution.
    b.acceptJoinRequest(joinRequest(10, 2));
    expect(replay(a)).toEqual([true, true, true, false, true, true, false]);
    expect(replay(b)).toEqual([true, true, true, false, true, true, false]);
    expect(a.snapshot()).toEqual(b.snapshot());
    expect(a.standbys()).toEqual([
      { nodeId: 10, joinTimeMs: 500 },
      { nodeId: 12, joinTimeMs: 300 },
    ]);
    expect(a.drops.stale).toBe(2);
  });

  it("feeds selectTargets: the most recently sanitized standby wins", () => {
    const registry = new JoinRegistry(config, deps);
    replay(registry);
    expect(selectTargets({ standbys: registry.standbys(), f: 1 })).toEqual({ ok: true, targets: [10] });
  });

  it.each([
    ["a leave for an older registration is superseded", leaveRequest(10, 1), false, "superseded"],
    ["a leave signed by an unknown CM", { ...leaveRequest(10, 2), cmId: 3 }, false, "unknownCm"],
    ["a leave with a forged signature", { ...leaveRequest(10, 2), counter: 3 }, false, "badSignature"],
    ["a leave for the current registration", leaveRequest(10, 2), true, null],
  ] as const)("%s", (_name, request, applied, reason) => {
    const registry = new JoinRegistry(config, deps);
    registry.executeJoin({ request: joinRequest(10, 2), seq: 1, joinTimeMs: 10 });
    const result = registry.executeLeave({ request, seq: 2 });
    expect(result.applied).toBe(applied);
    if (!result.applied) expect(result.reason).toBe(reason);
    expect(registry.standbys().length).toBe(applied ? 0 : 1);
  });

  it("rejects a join time that is not a finite non-negative number", () => {
    const registry = new JoinRegistry(config, deps);
    const result = registry.executeJoin({ request: joinRequest(10, 1), seq: 1, joinTimeMs: Number.NaN });
    expect(result).toEqual({ applied: false, reason: "badJoinTime" });
  });

  it("moves promoted targets to the active set and lets retired sources rejoin with a higher l", () => {
    const registry = new JoinRegistry(config, deps);
    registry.executeJoin({ request: joinRequest(10, 1), seq: 1, joinTimeMs: 10 });
    registry.executePromotion([10]);
    registry.executeRetirement([3]);
    expect(registry.standbys()).toEqual([]);
    expect(registry.isActive(10)).toBe(true);
    expect(registry.isActive(3)).toBe(false);
    expect(registry.executeJoin({ request: joinRequest(10, 2), seq: 2, joinTimeMs: 20 })).toEqual({
      applied: false,
      reason: "nodeActive",
    });
    expect(registry.executeJoin({ request: joinRequest(3, 1), seq: 3, joinTimeMs: 30 }).applied).toBe(true);
    expect(registry.standbys()).toEqual([{ nodeId: 3, joinTimeMs: 30 }]);
  });

  it("restores the replicated part from a snapshot, including the counters that block replays", () => {
    const original = new JoinRegistry(config, deps);
    replay(original);
    const restored = JoinRegistry.restore(config, deps, original.snapshot());
    expect(restored.snapshot()).toEqual(original.snapshot());
    expect(restored.acceptJoinRequest(joinRequest(10, 1))).toEqual({ verdict: "rejected", reason: "stale" });
  });

  it.each([
    ["too few active nodes", { ...config, activeNodeIds: [0, 1, 2] }, /3f\+1/],
    ["an active node outside the roster", { ...config, activeNodeIds: [0, 1, 2, 40] }, /roster/],
    [
      "a short roster key",
      { ...config, roster: [...config.roster, { nodeId: 30, publicKey: new Uint8Array(3) }] },
      /32 bytes/,
    ],
  ])("refuses a configuration with %s", (_name, badConfig, message) => {
    expect(() => new JoinRegistry(badConfig, deps)).toThrow(message);
  });
});
